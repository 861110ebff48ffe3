"""The bandit environment against a plain numpy version of its rules, under jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.envs.bandit import Bandit, BanditParams


class NumpyBandit:
  """The rules of metarl.envs.bandit in numpy, driven by the same uniform draws."""

  def __init__(self, num_arms, trials, observe_trial=False):
    self.n, self.trials, self.observe_trial = num_arms, trials, observe_trial

  def step(self, probs, trial, action, u):
    reward = float(u < probs[action])
    trial += 1
    last = trial >= self.trials
    obs = np.zeros(self.n + 1 + self.observe_trial, np.float32)
    if not last:  # at an episode's end: the next episode's first observation, all zeros
      obs[action] = 1.0
      obs[self.n] = reward
      if self.observe_trial:
        obs[-1] = trial / self.trials
    return reward, (0 if last else trial), obs, last


@pytest.mark.parametrize('num_arms,trials,observe_trial', [(2, 5, False), (3, 4, False),
                                                           (2, 5, True)])
def test_matches_numpy_reference_under_jit_and_vmap(num_arms, trials, observe_trial):
  env = Bandit(num_arms=num_arms, reward_structure='independent', trials_per_episode=trials,
               observe_trial=observe_trial)
  batch, steps = 6, 3 * trials + 2
  params = jax.tree_util.tree_map(lambda x: jnp.stack([x] * batch), env.default_params())
  reset = jax.jit(jax.vmap(env.reset))
  step = jax.jit(jax.vmap(env.step))
  state, ts = reset(jax.random.split(jax.random.PRNGKey(0), batch), params)
  np.testing.assert_array_equal(ts.observation, 0.0)
  assert ts.first.all() and not ts.last.any()
  ref = NumpyBandit(num_arms, trials, observe_trial)
  rng = np.random.default_rng(0)
  ref_trial = np.zeros(batch, int)
  probs = np.asarray(state.probs)
  for t in range(steps):
    keys = jax.random.split(jax.random.PRNGKey(100 + t), batch)
    actions = rng.integers(0, num_arms, batch)
    # The env's documented random stream: reward draw = uniform(first half of split(key)).
    u = np.array([jax.random.uniform(jax.random.split(k)[0]) for k in keys])
    new_state, ts = step(keys, state, jnp.asarray(actions, jnp.int32), params)
    for b in range(batch):
      reward, ref_trial[b], obs, last = ref.step(probs[b], ref_trial[b], actions[b], u[b])
      assert ts.reward[b] == reward
      assert bool(ts.last[b]) == last and bool(ts.first[b]) == last
      assert ts.discount[b] == (0.0 if last else 1.0)
      np.testing.assert_allclose(ts.observation[b], obs, rtol=1e-6)
      if not last:  # arm probabilities stay fixed inside an episode
        np.testing.assert_array_equal(new_state.probs[b], probs[b])
      else:  # a new episode draws new ones
        assert not np.array_equal(new_state.probs[b], probs[b])
    np.testing.assert_array_equal(new_state.trial, ref_trial)
    state, probs = new_state, np.asarray(new_state.probs)


def test_reward_structures_draw_the_documented_distributions():
  keys = jax.random.split(jax.random.PRNGKey(1), 20000)

  def draw(structure, n, fixed=None):
    env = Bandit(n, structure, 100, fixed_probs=fixed)
    return np.asarray(jax.vmap(env.sample_probs, in_axes=(0, None))(
        keys, env.default_params()))

  p = draw('independent', 3)
  assert p.shape == (20000, 3) and p.min() >= 0 and p.max() <= 1
  np.testing.assert_allclose(p.mean(0), 0.5, atol=0.01)
  assert abs(np.corrcoef(p[:, 0], p[:, 1])[0, 1]) < 0.03
  p = draw('correlated', 2)
  np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)
  np.testing.assert_allclose(p[:, 0].std(), np.sqrt(1 / 12), atol=0.01)
  p = draw('normalized', 4)
  np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
  p = draw('fixed', 2, fixed=(0.2, 0.7))
  np.testing.assert_allclose(p, np.tile([0.2, 0.7], (20000, 1)), atol=1e-7)


def test_reward_frequency_follows_arm_probability():
  env = Bandit(2, 'fixed', 100, fixed_probs=(0.3, 0.8))
  state, _ = env.reset(jax.random.PRNGKey(0), env.default_params())
  keys = jax.random.split(jax.random.PRNGKey(3), 20000)
  step = jax.jit(jax.vmap(env.step, in_axes=(0, None, None, None)))
  for arm, p in ((0, 0.3), (1, 0.8)):
    _, ts = step(keys, state, jnp.int32(arm), env.default_params())
    assert abs(float(ts.reward.mean()) - p) < 0.015


def test_vmaps_over_per_episode_params():
  env = Bandit(2, 'fixed', 10)
  probs = jnp.array([[0.1, 0.9], [0.6, 0.4], [1.0, 0.0]])
  state, _ = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 3),
                                 BanditParams(fixed_probs=probs))
  np.testing.assert_allclose(state.probs, probs)


def test_correlated_with_more_than_two_arms_is_refused():
  with pytest.raises(ValueError, match='exactly 2 arms'):
    Bandit(3, 'correlated')
