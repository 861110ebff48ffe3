"""The action-history analysis (Wang et al. 2018, simulation 1) on synthetic players with
known answers: a Q-learner of known learning rate and temperature is recovered by the
maximum-likelihood fit; its choice regression weighs the last reward positively and a
random player's weighs nothing; units built from the regressors correlate with them; the
reference earns more than chance; the files are written."""

import csv
import os

import numpy as np
import pytest

from metarl.analysis import action_history as ah
from metarl.analysis import choice_models
from metarl.envs.baited_bandit import BaitedBandit


def q_player(alpha, beta, episodes=400, seed=0, p0_set='train'):
  rng = np.random.default_rng(seed)
  p0, length = ah.draw_episodes(p0_set, episodes, 50, 100, rng)
  data = ah.simulate_q_player(p0, length, alpha, beta, 100, rng)
  return dict(data, p0=p0, length=length)


@pytest.mark.parametrize('alpha,beta', [(0.3, 5.0), (0.7, 12.0)])
def test_the_fit_recovers_a_q_learner_s_learning_rate_and_temperature(alpha, beta):
  data = q_player(alpha, beta)
  fit = choice_models.fit(data['action'], data['reward'], data['valid'])
  assert abs(fit['alpha'] - alpha) <= 0.1, fit
  assert abs(np.log(fit['beta'] / beta)) < np.log(1.4), fit
  assert fit['trials'] == data['valid'].sum()


def test_q_values_follow_the_delta_rule():
  q = choice_models.q_values(np.array([[1, 1, 0]]), np.array([[1.0, 0.0, 1.0]]),
                             np.ones((1, 3), bool), [0.5])[0, 0]
  np.testing.assert_allclose(q, [[0, 0], [0, 0.5], [0, 0.25]])


def test_the_choice_regression_weighs_the_last_reward_of_a_learner_and_nothing_of_chance():
  learner = q_player(0.5, 8.0)
  fit = ah.choice_regression(learner['action'], learner['reward'],
                             ah.history_rows(learner['valid'], learner['length']))
  assert fit['reward'][0] > 0.5 and fit['reward'][0] > fit['reward'][5]
  chance = q_player(0.5, 0.0, seed=1)  # beta 0: every choice a coin flip
  fit = ah.choice_regression(chance['action'], chance['reward'],
                             ah.history_rows(chance['valid'], chance['length']))
  assert np.abs(fit['reward']).max() < 0.15 and np.abs(fit['choice']).max() < 0.15
  t = np.arange(100)
  length = np.array([60, 99])
  rows = ah.history_rows(t[None, :] < length[:, None], length)
  np.testing.assert_array_equal(rows.sum(1), [40, 66])  # the last two thirds
  np.testing.assert_array_equal(rows[0], (t >= 20) & (t < 60))
  np.testing.assert_array_equal(rows[1], (t >= 33) & (t < 99))


def test_units_made_of_a_regressor_correlate_with_it():
  data = q_player(0.5, 8.0, episodes=100)
  rng = np.random.default_rng(2)
  c = 2.0 * data['action'] - 1.0
  last = lambda x: np.concatenate([np.zeros((len(x), 1)), x[:, :-1]], axis=1)  # noqa: E731
  value = rng.normal(size=c.shape)
  hidden = np.stack([last(c), last(data['reward']), last(c * data['reward']), value,
                     rng.normal(size=c.shape)], axis=-1)
  r = ah.unit_correlations(hidden, data['action'], data['reward'], data['valid'], value)
  np.testing.assert_allclose(np.diag(r[:, :4]), 1.0, atol=1e-6)
  assert np.abs(r[:, 4]).max() < 0.05  # noise relates to nothing


def test_the_reference_earns_more_than_chance_and_the_files_are_written(tmp_path):
  env = BaitedBandit()
  reference = ah.best_reference(env, np.random.default_rng(0))
  chance = q_player(0.5, 0.0, episodes=1000, seed=3)
  assert reference['mean_reward_per_trial'] > (
      (chance['reward'] * chance['valid']).sum() / chance['valid'].sum()) + 0.02
  data = q_player(0.4, 6.0, episodes=60, seed=4)
  data['hidden'] = np.random.default_rng(5).normal(size=data['action'].shape + (8,))
  summary = ah.write_results(str(tmp_path), env, data, {'train': data})
  names = set(os.listdir(tmp_path))
  assert {'reward_by_set.csv', 'choice_regression.csv', 'choice_model_fit.csv',
          'unit_correlations.csv', 'eval_data.pickle', 'action_history.png',
          'action_history.pdf'} <= names
  with open(os.path.join(tmp_path, 'unit_correlations.csv')) as f:
    rows = list(csv.DictReader(f))
  assert [r['regressor'] for r in rows] == list(ah.REGRESSORS)
  assert summary['reward_weight_lag1'] > 0 and 'agent_reward_train' in summary
