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
