"""The exact Bayes-optimal bandit player against SPEC.md's values, an independent recursion
over whole histories, and its own play; the bandit analysis's rows and columns from it."""

import csv
import functools
import itertools
import math
import os
import pickle

import jax
import numpy as np
import pytest

from metarl.analysis import bandit, bayes_optimal


@pytest.mark.parametrize('trials,regret', [(1, 1 / 6), (2, 1 / 4), (10, 0.645), (100, 1.748)])
def test_regret_matches_the_spec(trials, regret):
  solution = bayes_optimal.solve(trials)
  assert solution.regret == pytest.approx(regret, abs=5e-4)
  assert solution.value + solution.regret == pytest.approx(2 * trials / 3)


def _beta_integral(successes, failures):
  """The integral over p in [0, 1] of p^s (1 - p)^f: s! f! / (s + f + 1)!."""
  return (math.factorial(successes) * math.factorial(failures)
          / math.factorial(successes + failures + 1))


def _history_value(history, trials):
  """The best expected reward from here, by recursion over whole histories (not counts),
  with each outcome's probability the ratio of the two arms' Beta integrals after and before
  it: nothing of the solver's count states or posterior-mean formula is reused."""
  if len(history) == trials:
    return 0.0
  best = -1.0
  for arm in (0, 1):
    s = sum(r for a, r in history if a == arm)
    f = sum(1 - r for a, r in history if a == arm)
    pays = _beta_integral(s + 1, f) / _beta_integral(s, f)
    value = (pays * (1.0 + _history_value(history + ((arm, 1),), trials))
             + (1.0 - pays) * _history_value(history + ((arm, 0),), trials))
    best = max(best, value)
  return best


@functools.cache
def _history_q(history, arm, trials):
  """The value of pulling `arm` after `history`, then playing best (`_history_value`)."""
  s = sum(r for a, r in history if a == arm)
  f = sum(1 - r for a, r in history if a == arm)
  pays = (s + 1) / (s + f + 2)
  return (pays * (1.0 + _history_value(history + ((arm, 1),), trials))
          + (1.0 - pays) * _history_value(history + ((arm, 0),), trials))


@pytest.mark.parametrize('trials', [3, 5])
def test_values_equal_a_recursion_over_whole_histories(trials):
  assert bayes_optimal.solve(trials).value == pytest.approx(_history_value((), trials),
                                                            abs=1e-12)


def test_decisions_are_the_history_recursion_argmax_and_symmetric():
  trials = 5
  solution = bayes_optimal.solve(trials)

  q = functools.partial(_history_q, trials=trials)

  checked = 0
  for t in range(trials):
    for history in itertools.product(itertools.product((0, 1), (0, 1)), repeat=t):
      actions = np.array([[a for a, _ in history] + [0] * (trials - t)])
      rewards = np.array([[r for _, r in history] + [0] * (trials - t)])
      decision = bayes_optimal.decisions_along(solution, actions, rewards)[0, t]
      q0, q1 = q(history, 0), q(history, 1)
      expected = (bayes_optimal.TIE if abs(q0 - q1) < 1e-9 else
                  bayes_optimal.ARM_1 if q1 > q0 else bayes_optimal.ARM_0)
      assert decision == expected, (history, q0, q1)
      checked += 1
  assert checked == sum(4 ** t for t in range(trials))
  # The first trial is a tie; after one paid pull of an arm, that arm.
  assert solution.decisions[0][0, 0, 0] == bayes_optimal.TIE
  assert solution.decisions[1][1, 1, 0] == bayes_optimal.ARM_0
  assert solution.decisions[1][0, 0, 1] == bayes_optimal.ARM_1


def test_played_regret_is_the_expected_one_and_beats_thompson():
  solution = bayes_optimal.solve(100)
  rng = np.random.default_rng(0)
  probs = rng.random((20_000, 2))
  actions, rewards = bayes_optimal.play(solution, probs, rng)
  regret = (probs.max(1)[:, None] - np.take_along_axis(probs, actions, axis=1)).sum(1)
  assert abs(regret.mean() - 1.748) < 3 * regret.std() / np.sqrt(len(regret))
  assert set(np.unique(rewards)) <= {0.0, 1.0}
  agreement, kl = bayes_optimal.agreement_and_kl(solution, actions, rewards)
  assert kl is None
  np.testing.assert_array_equal(agreement, 1.0)  # it agrees with itself


def test_kl_and_agreement_by_hand():
  solution = bayes_optimal.solve(2)
  # Trial 1 is a tie; trial 2 after arm 0 paid: arm 0 is optimal.
  actions, rewards = np.array([[0, 1]]), np.array([[1, 0]])
  probs = np.array([[[0.8, 0.2], [0.25, 0.75]]])
  agreement, kl = bayes_optimal.agreement_and_kl(solution, actions, rewards, probs)
  np.testing.assert_allclose(agreement, [1.0, 0.0])
  np.testing.assert_allclose(kl, [math.log(0.5) - 0.5 * (math.log(0.8) + math.log(0.2)),
                                  -math.log(0.25)])


def test_horizon_outside_the_solved_range_is_refused():
  with pytest.raises(ValueError, match='1 to 150 trials'):
    bayes_optimal.solve(0)
  with pytest.raises(ValueError, match='1 to 150 trials'):
    bayes_optimal.solve(151)
  assert not bayes_optimal.applies(2, 'independent', 151)
  assert not bayes_optimal.applies(2, 'correlated', 100)
  assert not bayes_optimal.applies(3, 'independent', 100)


def test_bandit_analysis_writes_the_bayes_optimal_row_and_columns(tmp_path):
  rng = np.random.default_rng(1)
  probs = rng.random((300, 2))
  solution = bayes_optimal.solve(100)
  actions, rewards = bayes_optimal.play(solution, probs, rng)  # a player that is optimal
  agent_probs = np.stack([actions == 0, actions == 1], -1) * 0.98 + 0.01
  summary = bandit.write_results(str(tmp_path), actions, rewards, probs,
                                 jax.random.PRNGKey(0), probs=agent_probs)
  with open(tmp_path / 'eval_summary.csv') as f:
    rows = {r['method']: r for r in csv.DictReader(f)}
  assert set(rows) == {'agent', 'thompson', 'ucb1', 'random', 'oracle', 'bayes_optimal'}
  assert float(rows['agent']['bayes_agreement']) == 1.0
  assert float(rows['agent']['kl_from_bayes']) < 0.05  # sure of one arm: pays at ties only
  assert float(rows['agent']['bayes_value_lost']) == 0.0  # it gives nothing up
  with open(tmp_path / 'bayes_value_lost.csv') as f:
    lost_rows = list(csv.DictReader(f))
  assert [int(r['trial']) for r in lost_rows] == list(range(1, 101))
  assert {float(v) for r in lost_rows for k, v in r.items() if k != 'trial'} == {0.0}
  assert (tmp_path / 'bayes_value_lost.png').exists()
  assert float(rows['thompson']['bayes_agreement']) < 0.95
  assert rows['thompson']['kl_from_bayes'] == ''
  assert float(rows['bayes_optimal']['ratio_to_bayes_optimal']) == 1.0
  assert summary['bayes_optimal'] < summary['thompson'] < summary['random']
  # The Bayes-optimal row is its expected regret on these arms, not one play of them.
  regret, _ = bayes_optimal.expected_play(solution, probs)
  assert summary['bayes_optimal'] == pytest.approx(regret.sum(1).mean(), rel=1e-6)
  assert abs(summary['bayes_optimal'] - 1.748) < 0.4
  with open(tmp_path / 'eval_data.pickle', 'rb') as f:
    data = pickle.load(f)
  assert data['baseline_regret']['bayes_optimal'].shape == (300, 100)
  assert data['kl_from_bayes'].shape == (100,)
  assert os.path.exists(tmp_path / 'bayes_agreement.png')


def test_other_reward_structures_get_no_bayes_optimal_row(tmp_path):
  probs = np.random.default_rng(2).random((8, 2))  # 8 episodes, as the other tests evaluate
  actions = np.zeros((8, 100), np.int32)
  summary = bandit.write_results(str(tmp_path), actions, np.zeros((8, 100)), probs,
                                 jax.random.PRNGKey(0), reward_structure='correlated')
  assert 'bayes_optimal' not in summary
  with open(tmp_path / 'eval_summary.csv') as f:
    rows = list(csv.DictReader(f))
  assert all(r['bayes_agreement'] == '' and r['ratio_to_bayes_optimal'] == '' for r in rows)
  assert not os.path.exists(tmp_path / 'bayes_agreement.png')
  assert not os.path.exists(tmp_path / 'bayes_value_lost.csv')


def test_value_lost_is_the_gap_of_the_history_recursion_by_kind():
  trials = 5

  q = functools.partial(_history_q, trials=trials)

  histories = list(itertools.product(itertools.product((0, 1), (0, 1)), repeat=trials))
  actions = np.array([[a for a, _ in h] for h in histories])
  rewards = np.array([[r for _, r in h] for h in histories])
  lost, kind = bayes_optimal.value_lost_along(actions, rewards)
  for i, history in enumerate(histories):
    for t in range(trials):
      before, chosen = history[:t], history[t][0]
      q0, q1 = q(before, 0), q(before, 1)
      gap = max(q0, q1) - (q1 if chosen else q0)
      assert lost[i, t] == pytest.approx(gap if gap > 1e-9 else 0.0, abs=1e-12)
      means = [(sum(r for a, r in before if a == arm) + 1)
               / (sum(1 for a, _ in before if a == arm) + 2) for arm in (0, 1)]
      expected = (bayes_optimal.OPTIMAL if gap <= 1e-9 else
                  bayes_optimal.EQUAL_MEANS if means[0] == means[1] else
                  bayes_optimal.LARGER_MEAN if means[chosen] > means[1 - chosen] else
                  bayes_optimal.SMALLER_MEAN)
      assert kind[i, t] == expected, (history, t)
  assert (kind == bayes_optimal.SMALLER_MEAN).any()
  # With 17 of 20 trials left after arm 0 paid, paid and failed (mean 3/5) and arm 1 never
  # tried (mean 1/2), trying arm 1 is worth more: arm 0 again gives something up, with the
  # larger mean.
  lost, kind = bayes_optimal.value_lost_along(np.zeros((1, 20), int),
                                              np.array([[1, 1, 0] + [0] * 17]))
  assert kind[0, 3] == bayes_optimal.LARGER_MEAN and lost[0, 3] > 0.01
  assert (kind[0, :3] == bayes_optimal.OPTIMAL).all()


def test_value_lost_sums_to_the_regret_beyond_the_bayes_optimal_player():
  # Always arm 0 for T = 3 trials: expected regret T (E max(p) - E p_0) = 3 (2/3 - 1/2) = 1/2.
  # Its reward sequences with s successes have probability s! (3 - s)! / 4! under the prior;
  # the expected value lost along them is that regret less the Bayes-optimal player's.
  trials = 3
  sequences = np.array(list(itertools.product((0, 1), repeat=trials)))
  lost, _ = bayes_optimal.value_lost_along(np.zeros_like(sequences), sequences)
  weights = np.array([_beta_integral(s, trials - s) for s in sequences.sum(1)])
  assert weights.sum() == pytest.approx(1.0)
  expected = 0.5 - bayes_optimal.solve(trials).regret
  assert (weights * lost.sum(1)).sum() == pytest.approx(expected, abs=1e-12)
  assert expected == pytest.approx(1 / 6)  # the Bayes-optimal regret at T = 3 is 1/3


def _pulls_by_recursion(solution, probs, trials):
  """P(arm a at trial t) given the arms, by walking every reward sequence the player can
  meet (ties: half the weight to each arm) with the decisions read along the history."""
  pulls = np.zeros((trials, 2))

  def walk(history, weight):
    t = len(history)
    if t == trials:
      return
    n0 = sum(1 for a, _ in history if a == 0)
    s0 = sum(r for a, r in history if a == 0)
    s1 = sum(r for a, r in history if a == 1)
    decision = solution.decisions[t][n0, s0, s1]
    share = {bayes_optimal.ARM_0: (1.0, 0.0), bayes_optimal.ARM_1: (0.0, 1.0),
             bayes_optimal.TIE: (0.5, 0.5)}[int(decision)]
    for arm in (0, 1):
      if share[arm]:
        pulls[t, arm] += weight * share[arm]
        walk(history + ((arm, 1),), weight * share[arm] * probs[arm])
        walk(history + ((arm, 0),), weight * share[arm] * (1 - probs[arm]))

  walk((), 1.0)
  return pulls


def test_pull_probabilities_match_a_walk_over_every_reward_sequence():
  trials = 7
  solution = bayes_optimal.solve(trials)
  probs = np.array([[0.3, 0.8], [0.9, 0.1], [0.5, 0.5], [0.02, 0.97], [0.6, 0.65]])
  pulls = bayes_optimal.pull_probabilities(solution, probs, chunk=2)
  assert pulls.shape == (5, trials, 2)
  for e, p in enumerate(probs):
    np.testing.assert_allclose(pulls[e], _pulls_by_recursion(solution, p, trials), atol=1e-12)
  np.testing.assert_allclose(pulls[:, 0], 0.5)  # the first trial is a tie
  assert pulls[0, -1, 1] > 0.6 and pulls[1, -1, 0] > 0.6  # it has found the better arm


def test_expected_regret_on_known_arms_averages_to_the_prior_regret_and_the_plays():
  # Over the prior (a 200 x 200 midpoint grid of arms) the exact expected regret on known
  # arms averages to the solved expected regret (the grid's own error is ~2e-5).
  trials = 10
  solution = bayes_optimal.solve(trials)
  grid = (np.arange(200) + 0.5) / 200
  probs = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
  regret, reward = bayes_optimal.expected_play(solution, probs)
  assert regret.sum(1).mean() == pytest.approx(solution.regret, abs=1e-4)
  assert reward.sum(1).mean() == pytest.approx(solution.value, abs=1e-4)
  # On a few arms of 100 trials, the mean of 4,000 plays of each is within its noise.
  solution = bayes_optimal.solve(100)
  probs = np.array([[0.2, 0.7], [0.55, 0.45], [0.9, 0.85]])
  exact = bayes_optimal.expected_play(solution, probs)[0].sum(1)
  repeated = np.repeat(probs, 4000, axis=0)
  actions, _ = bayes_optimal.play(solution, repeated, np.random.default_rng(3))
  played = (repeated.max(1)[:, None] - np.take_along_axis(repeated, actions, 1)).sum(1)
  played = played.reshape(3, 4000)
  sem = played.std(1) / np.sqrt(4000)
  assert (np.abs(played.mean(1) - exact) < 4 * sem + 1e-3).all(), (played.mean(1), exact)
