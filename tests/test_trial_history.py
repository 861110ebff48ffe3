"""Two-step regressions: logistic maximum likelihood against known weights, Miller et al.'s
lagged regression recovering a synthetic agent's weights, and the documented index signs of
the model-based and model-free Q-learners."""

import numpy as np
import pytest

from metarl.analysis import statistics, trial_history


def test_logistic_fit_recovers_known_weights():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((50000, 3))
  w = np.array([0.3, 1.0, -2.0, 0.5])
  y = rng.uniform(size=len(x)) < 1 / (1 + np.exp(-(w[0] + x @ w[1:])))
  np.testing.assert_allclose(statistics.logistic_fit(x, y), w, atol=0.05)


def synthetic_agent(weights, episodes=4000, trials=60, seed=1):
  """Choices drawn from Miller et al.'s model itself with the given weights {type: [5]}, on
  random transitions and rewards."""
  rng = np.random.default_rng(seed)
  common = rng.uniform(size=(episodes, trials)) < 0.8
  reward = (rng.uniform(size=(episodes, trials)) < 0.5).astype(float)
  action = np.zeros((episodes, trials), int)
  types = trial_history.trial_types(common, reward)
  for t in range(trials):
    logit = np.zeros(episodes)
    for name, w in weights.items():
      for lag in range(1, min(5, t) + 1):
        c = 2.0 * action[:, t - lag] - 1
        logit += w[lag - 1] * c * types[name][:, t - lag]
    action[:, t] = rng.uniform(size=episodes) < 1 / (1 + np.exp(-logit))
  return action, common, reward


def test_lagged_regression_recovers_a_synthetic_agent():
  weights = {'CR': [1.5, 0.8, 0.4, 0.2, 0.1], 'CO': [-1.0, -0.5, -0.2, 0.0, 0.0],
             'UR': [-0.6, -0.3, 0.0, 0.0, 0.0], 'UO': [0.8, 0.4, 0.1, 0.0, 0.0]}
  fit = trial_history.lagged_regression(*synthetic_agent(weights))
  for name, w in weights.items():
    np.testing.assert_allclose(fit['weights'][name], w, atol=0.1, err_msg=name)
  s = {k: sum(v) for k, v in weights.items()}
  assert fit['model_based_index'] == pytest.approx(s['CR'] - s['CO'] + s['UO'] - s['UR'],
                                                   abs=0.3)
  assert fit['model_free_index'] == pytest.approx(s['CR'] - s['CO'] - s['UO'] + s['UR'],
                                                  abs=0.3)


def q_learner(kind):
  """A Q-learner's episodes, its lagged regression and that regression's lag-1 weights."""
  data = trial_history.simulate_q_learner(kind, 2000, 100, np.random.default_rng(2))
  fit = trial_history.lagged_regression(data['action'], data['common'], data['reward'])
  return data, fit, {k: v[0] for k, v in fit['weights'].items()}


def test_model_based_q_learner_has_the_model_based_signature():
  data, fit, w1 = q_learner('model_based')
  assert w1['CR'] > 0 and w1['UO'] > 0 and w1['CO'] < 0 and w1['UR'] < 0
  assert fit['model_based_index'] > 1.0
  assert fit['model_based_index'] > 3 * abs(fit['model_free_index'])
  back = trial_history.one_back_regression(data['action'], data['common'], data['reward'],
                                           data['good'])
  assert back['bRT'] > 0.4  # kept with the correct-choice regressor


def test_model_free_q_learner_has_the_model_free_signature():
  data, fit, w1 = q_learner('model_free')
  assert w1['CR'] > 0 and w1['UR'] > 0 and w1['CO'] < 0 and w1['UO'] < 0
  assert fit['model_free_index'] > 1.0
  assert fit['model_free_index'] > 3 * abs(fit['model_based_index'])
  # Akam et al. (2015)'s point: on this task a model-free learner loads on Daw's R x T term
  # too (its good state persists), and the correct-choice regressor takes that away
  back = trial_history.one_back_regression(data['action'], data['common'], data['reward'])
  assert back['bR'] > 0.5 and back['bRT'] > 0.2
  corrected = trial_history.one_back_regression(data['action'], data['common'],
                                                data['reward'], data['good'])
  assert abs(corrected['bRT']) < 0.1 and corrected['bC'] > 0.3


def test_q_learners_follow_the_task_rules():
  data, _, _ = q_learner('model_free')
  assert abs(data['common'].mean() - 0.8) < 0.01
  reached_good = np.where(data['common'], data['action'], 1 - data['action']) == data['good']
  assert abs(data['reward'][reached_good].mean() - 0.9) < 0.01
  assert abs(data['reward'][~reached_good].mean() - 0.1) < 0.01
  swaps = (data['good'][:, 1:] != data['good'][:, :-1]).mean()
  assert abs(swaps - 0.025) < 0.003


def test_two_step_analysis_writes_the_regression_tables(tmp_path):
  import csv

  from metarl.analysis import two_step
  from metarl.envs.two_step import TwoStep
  data = trial_history.simulate_q_learner('model_based', 300, 100, np.random.default_rng(5))
  index = two_step.write_trial_history(str(tmp_path), TwoStep(), data, who='agent')
  assert index['model_based_index'] > 1.0
  with open(tmp_path / 'one_back.csv') as f:
    rows = list(csv.DictReader(f))
  assert [r['agent'] for r in rows][::2] == ['agent', 'model-based Q-learner',
                                             'model-free Q-learner']
  assert rows[0]['bC'] == '' and float(rows[1]['bC']) > 0  # Akam's regressor, its rows only
  with open(tmp_path / 'trial_history.csv') as f:
    assert len(list(csv.DictReader(f))) == 3 * 4 * trial_history.LAGS
  assert (tmp_path / 'trial_history.png').stat().st_size > 1000
  assert (tmp_path / 'trial_history.pdf').stat().st_size > 1000
