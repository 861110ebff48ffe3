"""The rollout: learner replays equal actor outputs, across chunk boundaries and resets."""

import jax
import numpy as np

from metarl.agents.a3c import make_actor
from metarl.envs.bandit import Bandit
from metarl.networks import make_policy_value_networks
from metarl.rollout import make_rollout


def test_replaying_chunks_from_their_core_state_reproduces_the_actor():
  env = Bandit(2, 'independent', trials_per_episode=7)  # episodes straddle chunks of 5
  nets = make_policy_value_networks(2, env.spec.observation_shape, 'lstm', 8)
  params = nets.init(jax.random.PRNGKey(0))
  rollout = make_rollout(env, make_actor(nets, record=True), num_envs=3, unroll_length=5)
  unroll = jax.jit(rollout.unroll)
  state = rollout.init(jax.random.PRNGKey(1))
  for _ in range(4):
    state, traj = unroll(params, state)
    out, _ = nets.unroll(params, traj.observation, traj.first, traj.core_state)
    np.testing.assert_allclose(out.logits[:-1], traj.extras['logits'], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.value[:-1], traj.extras['value'], rtol=1e-5, atol=1e-6)
    # Observation t+1 is the action/reward of step t, except where an episode starts.
    obs, first = np.asarray(traj.observation), np.asarray(traj.first)
    for t in range(5):
      for b in range(3):
        if first[t + 1, b]:
          assert traj.last[t, b] and not obs[t + 1, b].any()
        else:
          assert obs[t + 1, b, traj.action[t, b]] == 1.0
          assert obs[t + 1, b, -1] == traj.reward[t, b]


def test_task_groups_start_each_episode_on_one_task_with_rewards_of_their_own():
  env = Bandit(2, 'independent', trials_per_episode=5)
  nets = make_policy_value_networks(2, env.spec.observation_shape, 'lstm', 8)
  params = nets.init(jax.random.PRNGKey(0))
  actor = make_actor(nets, record=True)
  rollout = make_rollout(env, actor, num_envs=12, unroll_length=15, record_env_state=True,
                         task_group_size=4)
  _, trajectory = jax.jit(rollout.unroll)(params, rollout.init(jax.random.PRNGKey(1)))
  probs = np.asarray(trajectory.env_state.probs).reshape(15, 3, 4, 2)  # [T, group, K, arm]
  np.testing.assert_array_equal(probs, np.broadcast_to(probs[:, :, :1], probs.shape))
  episodes = probs[::5, :, 0]  # [episode, group, arm]: 3 episodes of 5 trials
  for a, b in [(0, 1), (0, 2), (1, 2)]:  # every group and episode a task of its own
    assert not np.isclose(episodes[:, a], episodes[:, b]).all(-1).any()
    assert not np.isclose(episodes[a], episodes[b]).all(-1).any()
  rewards = np.asarray(trajectory.reward).reshape(15, 3, 4)
  assert (rewards != rewards[:, :, :1]).any(-1).mean() > 0.3  # drawn per copy
  with np.testing.assert_raises(ValueError):
    make_rollout(env, actor, num_envs=12, unroll_length=15, task_group_size=5)
