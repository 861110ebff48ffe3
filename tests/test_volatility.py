"""The volatility analysis (Wang et al. 2018, simulation 2) on synthetic players with known
answers: a Rescorla-Wagner player whose learning rate changes with the phase is recovered
per phase and in the sliding window; the Bayesian learner learns faster when the task is
volatile; a phase written into the units decodes, noise does not; the files are written."""

import csv
import os

import numpy as np
import pytest

from metarl.analysis import volatility as vol


def schedule(order, episodes, rng):
  """[E, T] better arm, volatile phase, the better arm's probability, and sizes [E, T, 2]
  of the test schedule `order` (the env's rules)."""
  t = np.arange(200)
  volatile = (t >= 100) != (order == 'volatile_first')
  start = 0 if order == 'volatile_first' else 100
  swaps = np.cumsum(volatile & (t > start) & ((t - start) % 25 == 0))
  better = (rng.integers(0, 2, episodes)[:, None] + swaps[None, :]) % 2
  volatile = np.broadcast_to(volatile, (episodes, 200))
  high = np.where(volatile, 0.8, 0.75)
  return better, volatile, high, rng.beta(4.0, 4.0, (episodes, 200, 2))


def rw_player(order, alphas, beta, episodes, rng):
  """A Rescorla-Wagner player with learning rate alphas[phase] (the analysis's model)."""
  better, volatile, high, sizes = schedule(order, episodes, rng)
  q = np.full(episodes, 0.5)
  action = np.zeros((episodes, 200), np.int32)
  paid = np.zeros((episodes, 200), bool)
  for t in range(200):
    difference = q * sizes[:, t, 1] - (1 - q) * sizes[:, t, 0]
    action[:, t] = rng.uniform(size=episodes) < 1 / (1 + np.exp(-beta * difference))
    p = np.where(action[:, t] == better[:, t], high[:, t], 1 - high[:, t])
    paid[:, t] = rng.uniform(size=episodes) < p
    alpha = alphas['volatile'] if volatile[0, t] else alphas['stable']
    q = q + alpha * (vol.evidence(action[:, t], paid[:, t]) - q)
  reward = np.where(paid, np.take_along_axis(sizes, action[..., None], -1)[..., 0], 0.0)
  return dict(action=action, paid=paid, reward=reward, sizes=sizes, better=better,
              volatile=volatile)


@pytest.mark.parametrize('order', vol.ORDERS)
def test_a_player_s_learning_rate_is_recovered_per_phase(order):
  truth = {'stable': 0.15, 'volatile': 0.6}
  data = rw_player(order, truth, 20.0, 120, np.random.default_rng(0))
  rows = vol.fit_phases(data['action'], data['paid'], data['sizes'], order)
  assert [r['phase'] for r in rows] == ([p for p, _, _ in vol.phases(order)])
  for row in rows:
    assert abs(row['alpha'] - truth[row['phase']]) < 0.08, rows
  window = dict(vol.window_alphas(data['action'], data['paid'], data['sizes']))
  stable = [a for first, a in window.items() if (first + 10 <= 100) == (order == 'stable_first')]
  volatile = [a for first, a in window.items()
              if (first >= 100) == (order == 'stable_first') and first + 10 <= 200]
  assert np.median(volatile) > np.median(stable) + 0.2


def test_the_bayesian_learner_learns_faster_when_the_task_is_volatile():
  rng = np.random.default_rng(1)
  for order in vol.ORDERS:
    better, volatile, high, sizes = schedule(order, 120, rng)
    bayes = vol.bayesian_learner(better, sizes, high, rng)
    rates = {r['phase']: r['alpha'] for r in
             vol.fit_phases(bayes['action'], bayes['paid'], sizes, order)}
    assert rates['volatile'] > rates['stable'], (order, rates)
    assert np.mean(bayes['action'] == better) > 0.6  # it tracks the better arm


def test_the_phase_decodes_from_units_that_carry_it_and_not_from_noise():
  rng = np.random.default_rng(2)
  by_order = {}
  for order in vol.ORDERS:
    _, volatile, _, _ = schedule(order, 40, rng)
    noise = rng.normal(size=volatile.shape + (6,))
    by_order[order] = dict(volatile=volatile, hidden=noise.copy())
    by_order[order]['hidden'][..., 0] += 3.0 * volatile
  assert vol.decode_volatility(by_order)['accuracy'] > 0.9
  for data in by_order.values():
    data['hidden'][..., 0] = rng.normal(size=data['volatile'].shape)
  decoded = vol.decode_volatility(by_order)
  assert abs(decoded['accuracy'] - 0.5) < 0.05 and decoded['chance'] == 0.5


def test_the_files_are_written(tmp_path):
  rng = np.random.default_rng(3)
  by_order = {order: rw_player(order, {'stable': 0.2, 'volatile': 0.5}, 10.0, 30, rng)
              for order in vol.ORDERS}
  for data in by_order.values():
    data['hidden'] = rng.normal(size=data['action'].shape + (4,))
  summary = vol.write_results(str(tmp_path), by_order)
  assert {'learning_rates.csv', 'learning_rate_window.csv', 'volatility_decoding.csv',
          'reward_by_order.csv', 'eval_data.pickle', 'volatility.png',
          'volatility.pdf'} <= set(os.listdir(tmp_path))
  with open(os.path.join(tmp_path, 'learning_rates.csv')) as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 8 and {r['who'] for r in rows} == {'agent', 'Bayesian learner'}
  assert set(summary) >= {'alpha_stable_first_stable', 'alpha_volatile_first_volatile',
                          'volatile_above_stable_both_orders', 'volatility_decoding_accuracy'}
