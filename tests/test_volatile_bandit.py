"""Behrens et al.'s volatile task (Wang et al. 2018, simulation 2) against a numpy version of
its rules, under jit and vmap: payouts of the shown sizes, flips of the better arm with the
phase's volatility, phase switches, and the two test schedules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.envs.volatile_bandit import VolatileBandit


def numpy_step(schedule, state, action, keys_u, sizes_next):
  """One trial by the rules; `keys_u`: the uniforms of the reward, flip and switch keys."""
  u_reward, u_flip, u_switch = keys_u
  better, volatile, k, sizes, trial = state
  if schedule == 'train':
    high = 1.0 if volatile else 0.75
  else:
    high = 0.8 if volatile else 0.75
  p = high if action == better else 1.0 - high
  reward = sizes[action] if u_reward < p else 0.0
  trial += 1
  if schedule == 'train':
    flip = u_flip < (0.2 if volatile else 0.0)
    new_volatile = (not volatile) if u_switch < k else volatile
  else:
    new_volatile = (trial >= 100) != (schedule == 'volatile_first')
    start = 0 if schedule == 'volatile_first' else 100
    flip = volatile and new_volatile and trial > start and (trial - start) % 25 == 0
  better = 1 - better if flip else better
  return reward, (better, new_volatile, k, sizes_next, trial)


@pytest.mark.parametrize('schedule', ['train', 'stable_first', 'volatile_first'])
def test_matches_numpy_reference_under_jit_and_vmap(schedule):
  env = VolatileBandit(schedule)
  batch, steps = 4, 200
  params = jax.tree_util.tree_map(lambda x: jnp.stack([x] * batch), env.default_params())
  state, ts = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), batch),
                                           params)
  np.testing.assert_array_equal(ts.observation[:, :3], 0.0)
  np.testing.assert_array_equal(ts.observation[:, 3:], state.sizes)
  step = jax.jit(jax.vmap(env.step))
  ref = [(int(state.better[b]), bool(state.volatile[b]), float(state.k[b]),
          np.asarray(state.sizes[b]), 0) for b in range(batch)]
  rng = np.random.default_rng(0)
  flips = 0
  for t in range(steps):
    keys = jax.random.split(jax.random.PRNGKey(1000 + t), batch)
    actions = rng.integers(0, 2, batch)
    parts = [jax.random.split(k, 5) for k in keys]
    state, ts = step(keys, state, jnp.asarray(actions, jnp.int32), params)
    for b in range(batch):
      u = [float(jax.random.uniform(parts[b][i])) for i in range(3)]
      sizes_next = np.asarray(jax.random.beta(parts[b][3], 4.0, 4.0, (2,)))
      before = ref[b][0]
      reward, ref[b] = numpy_step(schedule, ref[b], actions[b], u, sizes_next)
      flips += ref[b][0] != before and t < steps - 1  # the last step's state: a new episode
      np.testing.assert_allclose(ts.reward[b], reward, rtol=1e-6)
      last = t == steps - 1
      assert bool(ts.last[b]) == last
      if not last:
        np.testing.assert_allclose(ts.observation[b], [actions[b] == 0, actions[b] == 1,
                                                       reward, *sizes_next], rtol=1e-6)
        assert int(state.better[b]) == ref[b][0] and bool(state.volatile[b]) == ref[b][1]
        assert int(state.trial[b]) == ref[b][4]
  if schedule != 'train':
    assert flips == 3 * batch  # the volatile test phase swaps at 25, 50 and 75 trials in


def test_training_phases_switch_at_the_episode_s_rate_and_volatile_ones_flip():
  env = VolatileBandit('train')
  keys = jax.random.split(jax.random.PRNGKey(7), 400)
  state, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, env.default_params())
  k = np.asarray(state.k)
  assert np.exp(-4.5) <= k.min() and k.max() <= np.exp(-3.5)
  assert 0.4 < np.asarray(state.volatile).mean() < 0.6
  sizes = np.asarray(state.sizes)
  assert sizes.min() > 0 and sizes.max() < 1 and abs(sizes.mean() - 0.5) < 0.02
  np.testing.assert_allclose(env.probabilities(jax.tree_util.tree_map(lambda x: x[0], state))
                             .sum(), 1.0)
