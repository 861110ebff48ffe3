"""Bandit baselines against the published yardsticks (SPEC.md) and their own rules."""

import jax
import numpy as np

from metarl.analysis.bandit_baselines import run_baseline


def test_regrets_match_known_values_on_two_arms():
  probs = jax.random.uniform(jax.random.PRNGKey(0), (4000, 2))
  regret = {b: float(run_baseline(b, jax.random.PRNGKey(1), probs, 100)[2].sum(1).mean())
            for b in ('thompson', 'ucb1', 'random', 'oracle')}
  assert abs(regret['thompson'] - 2.78) < 0.25
  assert abs(regret['ucb1'] - 5.6) < 0.4
  assert abs(regret['random'] - 16.7) < 0.6
  assert regret['oracle'] == 0.0


def test_ucb1_tries_every_arm_first_and_random_is_uniform():
  probs = jax.random.uniform(jax.random.PRNGKey(2), (50, 4))
  actions, rewards, _ = run_baseline('ucb1', jax.random.PRNGKey(3), probs, 20)
  for a in np.asarray(actions):
    assert sorted(a[:4]) == [0, 1, 2, 3]
  actions, _, _ = run_baseline('random', jax.random.PRNGKey(4), probs, 200)
  np.testing.assert_allclose(np.bincount(np.asarray(actions).ravel(), minlength=4) / 10000,
                             0.25, atol=0.02)
  assert set(np.unique(rewards)) <= {0.0, 1.0}
