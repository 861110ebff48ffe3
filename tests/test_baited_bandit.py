"""The baited bandit (Wang et al. 2018, simulation 1) against a numpy version of its rules,
under jit and vmap: the bait that builds up on an arm left alone, the p0 sets, the episode
lengths, and the first-episode mask of an evaluation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from metarl.envs import make
from metarl.envs.baited_bandit import P0_SETS, BaitedBandit, BaitedState, first_episode


def numpy_step(p0, since, trial, length, action, u):
  """One trial by the rules: the chosen arm pays with 1 - (1 - p0)^(n + 1), n the trials
  since it was last chosen; that count restarts for it and grows for the other arm."""
  reward = float(u < 1.0 - (1.0 - p0[action]) ** (since[action] + 1))
  since = np.where(np.arange(2) == action, 0, since + 1)
  trial += 1
  last = trial >= length
  obs = np.zeros(3, np.float32)
  if not last:
    obs[action], obs[2] = 1.0, reward
  return reward, since, trial, obs, last


def numpy_reset(key, lows, min_trials, max_trials):
  """The reset's documented draws, read from the same keys."""
  range_key, p0_key, length_key = jax.random.split(key, 3)
  low = lows[int(jax.random.randint(range_key, (), 0, len(lows)))]
  p0_right = low + 0.1 * float(jax.random.uniform(p0_key))
  length = int(jax.random.randint(length_key, (), min_trials, max_trials + 1))
  return np.array([0.5 - p0_right, p0_right], np.float32), length


def test_matches_numpy_reference_under_jit_and_vmap():
  env = BaitedBandit('train', min_trials=3, max_trials=6)
  batch, steps = 5, 30
  params = jax.tree_util.tree_map(lambda x: jnp.stack([x] * batch), env.default_params())
  reset_keys = jax.random.split(jax.random.PRNGKey(0), batch)
  state, ts = jax.jit(jax.vmap(env.reset))(reset_keys, params)
  np.testing.assert_array_equal(ts.observation, 0.0)
  step = jax.jit(jax.vmap(env.step))
  lows = P0_SETS['train']
  ref = [dict(zip(('p0', 'length'), numpy_reset(k, lows, 3, 6), strict=True),
              since=np.zeros(2, int), trial=0) for k in reset_keys]
  rng = np.random.default_rng(0)
  episodes_ended = 0
  for t in range(steps):
    keys = jax.random.split(jax.random.PRNGKey(100 + t), batch)
    actions = rng.integers(0, 2, batch)
    u = [float(jax.random.uniform(jax.random.split(k)[0])) for k in keys]
    state, ts = step(keys, state, jnp.asarray(actions, jnp.int32), params)
    for b in range(batch):
      r = ref[b]
      reward, r['since'], r['trial'], obs, last = numpy_step(
          r['p0'], r['since'], r['trial'], r['length'], actions[b], u[b])
      assert ts.reward[b] == reward and bool(ts.last[b]) == last
      assert ts.discount[b] == (0.0 if last else 1.0)
      np.testing.assert_allclose(ts.observation[b], obs)
      if last:  # the next episode, drawn from the step's reset key
        episodes_ended += 1
        r['p0'], r['length'] = numpy_reset(jax.random.split(keys[b])[1], lows, 3, 6)
        r['since'], r['trial'] = np.zeros(2, int), 0
      np.testing.assert_allclose(state.p0[b], r['p0'], atol=1e-6)
      np.testing.assert_array_equal(state.since[b], r['since'])
      assert int(state.trial[b]) == r['trial'] and int(state.length[b]) == r['length']
  assert episodes_ended >= batch * 3  # episodes of 3-6 trials: several ended


def test_a_bait_waits_for_the_next_visit():
  """p0 = (0.2, 0.3): right chosen on the trial before pays with 0.3; left left alone for
  4 trials pays with 1 - 0.8^5."""
  env = BaitedBandit()
  state = BaitedState(p0=jnp.array([0.2, 0.3]), since=jnp.array([4, 0], jnp.int32),
                      trial=jnp.array(10, jnp.int32), length=jnp.array(100, jnp.int32))
  keys = jax.random.split(jax.random.PRNGKey(3), 20000)
  step = jax.vmap(env.step_env, in_axes=(0, None, None, None))
  params = env.default_params()
  left = step(keys, state, jnp.array(0), params)[1].reward.mean()
  right = step(keys, state, jnp.array(1), params)[1].reward.mean()
  assert abs(float(left) - (1 - 0.8 ** 5)) < 0.01 and abs(float(right) - 0.3) < 0.01
  after = env.step_env(keys[0], state, jnp.array(0), params)[0]
  np.testing.assert_array_equal(after.since, [0, 1])


@pytest.mark.parametrize('p0_set', sorted(P0_SETS))
def test_each_set_draws_p0_from_its_ranges_and_lengths_uniformly(p0_set):
  env = make(ConfigDict({'name': 'baited_bandit', 'p0_set': p0_set}))
  keys = jax.random.split(jax.random.PRNGKey(1), 20000)
  state, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, env.default_params())
  p0 = np.asarray(state.p0)
  np.testing.assert_allclose(p0.sum(1), 0.5, atol=1e-6)
  which = np.floor(p0[:, 1] / 0.1 + 1e-9).astype(int)
  counts = np.bincount(which, minlength=5)[:5] / len(which)
  expected = np.zeros(5)
  expected[[round(low / 0.1) for low in P0_SETS[p0_set]]] = 1 / len(P0_SETS[p0_set])
  np.testing.assert_allclose(counts, expected, atol=0.015)
  lengths = np.asarray(state.length)
  assert lengths.min() == 50 and lengths.max() == 100
  assert abs(lengths.mean() - 75) < 0.5


def test_the_first_episode_mask_stops_at_the_next_reset():
  trial = np.array([[0, 0], [1, 1], [2, 0], [0, 1], [1, 2]])
  np.testing.assert_array_equal(first_episode(trial),
                                [[1, 1], [1, 1], [1, 0], [0, 0], [0, 0]])
