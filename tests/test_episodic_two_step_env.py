"""Episodic two-step task: context and cue bookkeeping exact against a plain-Python replay,
and the observation layout the episodic agent reads its memory keys from."""

import jax
import jax.numpy as jnp
import numpy as np

from metarl.envs.episodic_two_step import EpisodicTwoStep
from tests.test_two_step_env import reference_trial


def test_contexts_cues_and_recalled_rewards_follow_the_rules():
  env = EpisodicTwoStep(trials_per_episode=100, context_size=10)
  layout = env.layout
  params = env.default_params()
  num_envs, steps = 4, 230  # two whole episodes and a part
  state, ts = jax.vmap(env.reset, in_axes=(0, None))(
      jax.random.split(jax.random.PRNGKey(0), num_envs), params)
  step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
  memory = [dict() for _ in range(num_envs)]  # trial -> (context, stage2, reward)
  previous = [None] * num_envs
  recalled_trials = 0
  for t in range(steps):
    s = jax.device_get(state)
    obs = np.asarray(ts.observation)
    action = np.asarray(jax.random.randint(jax.random.PRNGKey(t), (num_envs,), 0, 2))
    state, ts = step(jax.random.split(jax.random.PRNGKey(10_000 + t), num_envs), state,
                     jnp.asarray(action), params)
    for b in range(num_envs):
      trial = int(s.trial[b])
      if trial == 0:
        memory[b], previous[b] = {}, None
      context = s.context[b]
      np.testing.assert_array_equal(obs[b, layout.read_key], context)
      if previous[b] is None:
        assert not obs[b, layout.write_key].any() and obs[b, layout.write] == 0
      else:
        np.testing.assert_array_equal(obs[b, layout.write_key], previous[b][0])
        assert obs[b, layout.write] == float(previous[b][1])
      good, stage2, common, reward = reference_trial(
          s.good[b], s.u_swap[b], s.u_transition[b], s.u_reward[b], action[b])
      if trial < 50:
        assert s.cue_index[b] == -1 and obs[b, layout.cued] == 0
        memory[b][trial] = (context.copy(), stage2, reward)
      else:
        index = int(s.cue_index[b])
        assert (0 <= index < 25) if trial < 75 else (25 <= index < 50)
        assert obs[b, layout.cued] == 1
        stored_context, stored_stage2, stored_reward = memory[b][index]
        np.testing.assert_array_equal(context, stored_context)
        if stage2 == stored_stage2:
          reward = stored_reward
          recalled_trials += 1
      assert float(ts.reward[b]) == reward, (t, b)
      previous[b] = (context.copy(), trial < 50)
  assert recalled_trials > 50


def test_fresh_contexts_are_random_bits():
  env = EpisodicTwoStep()
  states, _ = jax.vmap(env.reset, in_axes=(0, None))(
      jax.random.split(jax.random.PRNGKey(3), 2000), env.default_params())
  bits = np.asarray(states.context)
  assert set(np.unique(bits)) == {0.0, 1.0}
  assert abs(bits.mean() - 0.5) < 0.02


def test_stay_tables_on_a_hand_built_episode():
  from metarl.analysis.episodic_two_step import stay_tables
  # 4 uncued trials (0-3), then 4 cued trials recalling trials 0, 1, 2, 3.
  action = np.array([[0, 0, 1, 1, 0, 1, 1, 0]])
  reward = np.array([[1, 0, 1, 0, 1, 1, 0, 0]])
  common = np.array([[1, 1, 0, 1, 1, 1, 1, 0]], bool)
  cue_index = np.array([[-1, -1, -1, -1, 0, 1, 2, 3]])
  rows = {(r['analysis'], r['condition']): (r['stay_probability'], r['count'])
          for r in stay_tables(action, reward, common, cue_index)}
  # uncued pairs: 0->1 (rew, com) stay; 1->2 (unrew, com) switch; 2->3 (rew, unc) stay.
  assert rows[('uncued', 'rewarded_common')] == (1.0, 1)
  assert rows[('uncued', 'unrewarded_common')] == (0.0, 1)
  assert rows[('uncued', 'rewarded_uncommon')] == (1.0, 1)
  # cued pairs: 4->5 (rew, com) switch; 5->6 (rew, com) stay; 6->7 (unrew, com) switch.
  assert rows[('cued', 'rewarded_common')] == (0.5, 2)
  assert rows[('cued', 'unrewarded_common')] == (0.0, 1)
  # episodic: trial 4 repeats trial 0 (rew, com): stay; 5 vs 1 (unrew, com): switch;
  # 6 vs 2 (rew, unc): stay; 7 vs 3 (unrew, com): switch.
  assert rows[('episodic', 'rewarded_common')] == (1.0, 1)
  assert rows[('episodic', 'unrewarded_common')] == (0.0, 2)
  assert rows[('episodic', 'rewarded_uncommon')] == (1.0, 1)
