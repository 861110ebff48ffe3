"""The bandit posterior analysis: Beta posteriors against hand-computed values, P(p_1 > p_2)
against its closed form, cross-validated decoding on synthetic features, and the
choice-history kernel recovering a synthetic agent's weights."""

import numpy as np
import pytest

from metarl.analysis import bandit_posterior, statistics


def test_posterior_means_after_each_outcome():
  actions = np.array([[0, 0, 1, 0]])
  rewards = np.array([[1, 0, 1, 1]])
  post = bandit_posterior.posterior(actions, rewards)
  # arm 1: (1+1)/(2+1), (1+1)/(2+2), same, (1+2)/(2+3); arm 2: 1/2, 1/2, 2/3, 2/3
  np.testing.assert_allclose(post['mu_1'][0], [2 / 3, 1 / 2, 1 / 2, 3 / 5])
  np.testing.assert_allclose(post['mu_2'][0], [1 / 2, 1 / 2, 2 / 3, 2 / 3])
  # uniform vs uniform: 1/2; Beta(2,1) vs Beta(1,1): P(X > Y) = E[X] = 2/3
  np.testing.assert_allclose(bandit_posterior.p_first_better(
      np.array([0, 1]), np.array([0, 0]), np.array([0, 0]), np.array([0, 0])),
      [0.5, 2 / 3], atol=1e-4)


def test_p_first_better_matches_monte_carlo():
  rng = np.random.default_rng(0)
  s1, f1, s2, f2 = 7, 3, 4, 5
  x, y = rng.beta(1 + s1, 1 + f1, 400000), rng.beta(1 + s2, 1 + f2, 400000)
  assert bandit_posterior.p_first_better(np.array(s1), np.array(f1), np.array(s2),
                                         np.array(f2)) == pytest.approx((x > y).mean(),
                                                                        abs=0.003)


def test_cross_validated_r2_by_episode():
  rng = np.random.default_rng(1)
  groups = np.repeat(np.arange(200), 50)
  target = rng.standard_normal((len(groups), 2))
  informative = np.concatenate([target @ rng.standard_normal((2, 6)),
                                rng.standard_normal((len(groups), 10))], axis=1)
  assert np.all(statistics.cross_validated_r2(informative, target, groups) > 0.99)
  noise = rng.standard_normal((len(groups), 16))
  assert np.all(np.abs(statistics.cross_validated_r2(noise, target, groups)) < 0.02)


def test_pca_explains_a_low_rank_signal():
  rng = np.random.default_rng(2)
  x = rng.standard_normal((2000, 2)) @ rng.standard_normal((2, 20)) * 3
  x += 0.01 * rng.standard_normal(x.shape)
  out = statistics.pca(x, 10)
  assert out['explained'][:2].sum() > 0.999 and len(out['explained']) == 10


def test_choice_kernel_recovers_a_synthetic_agent():
  rng = np.random.default_rng(3)
  reward_w = np.array([2.0, 1.0, 0.5] + [0.0] * 7)
  choice_w = np.array([-0.5, 0.3] + [0.0] * 8)
  episodes, trials = 3000, 60
  actions = np.zeros((episodes, trials), int)
  rewards = np.zeros((episodes, trials))
  for t in range(trials):
    logit = np.zeros(episodes)
    for k in range(1, min(10, t) + 1):
      c = 2.0 * actions[:, t - k] - 1
      logit += reward_w[k - 1] * c * rewards[:, t - k] + choice_w[k - 1] * c
    actions[:, t] = rng.uniform(size=episodes) < 1 / (1 + np.exp(-logit))
    rewards[:, t] = rng.uniform(size=episodes) < 0.5
  kernel = bandit_posterior.choice_kernel(actions, rewards)
  np.testing.assert_allclose(kernel['reward'], reward_w, atol=0.12)
  np.testing.assert_allclose(kernel['choice'], choice_w, atol=0.12)
