"""Cue-reward trials against a numpy reference of seed 000's rules, and the true value
against hand-derived numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.envs.cue_reward import CueReward, iti_probabilities


def reference_trial(num_cues, cue, iti, delay, omitted):
  """Seed 000's trial: ITI empty steps, cue at t=ITI, reward at ITI+delay, one empty step
  after; observation [cue one-hot, r(t)]."""
  length = iti + delay + 2
  x = np.zeros((length, num_cues + 1))
  x[iti, cue] = 1.0
  if not omitted:
    x[iti + delay, -1] = 1.0
  return x, x[:, -1].copy()


@pytest.mark.parametrize('kwargs', [
    dict(cue_delays=(10, 15)),
    dict(cue_delays=(3, 5, 8), delay_jitter=2, omission_prob=0.3,
         iti_distribution='uniform', iti_min=2, iti_max=6),
])
def test_trials_follow_the_reference_rules(kwargs):
  env = CueReward(**kwargs)
  trials = jax.device_get(env.sample_trials(jax.random.PRNGKey(0), 300))
  for n in range(300):
    x, r = reference_trial(env.num_cues, trials.cue[n, 0], trials.iti[n, 0],
                           trials.delay[n, 0], trials.omitted[n, 0])
    length = len(r)
    assert trials.length[n] == length
    np.testing.assert_array_equal(trials.observations[n, :length], x)
    np.testing.assert_array_equal(trials.rewards[n, :length], r)
    assert not trials.observations[n, length:].any() and not trials.rewards[n, length:].any()
    np.testing.assert_array_equal(trials.mask[n], np.arange(env.max_trial_length) < length)
  nominal = np.asarray(env.cue_delays)[trials.cue[:, 0]]
  assert np.all(np.abs(trials.delay[:, 0] - nominal) <= env.delay_jitter)
  if env.delay_jitter:
    assert len(np.unique(trials.delay[:, 0] - nominal)) == 2 * env.delay_jitter + 1


def test_sampling_distributions():
  env = CueReward(cue_delays=(4, 6), cue_probs=(0.25, 0.75), omission_prob=0.2,
                  iti_p=0.5, iti_max=8)
  trials = jax.device_get(env.sample_trials(jax.random.PRNGKey(1), 20000))
  counts = np.bincount(trials.iti[:, 0], minlength=9) / 20000
  np.testing.assert_allclose(counts, iti_probabilities('geometric', 1, 8, 0.5), atol=0.01)
  assert abs(trials.cue.mean() - 0.75) < 0.01
  assert abs(trials.omitted.mean() - 0.2) < 0.01


def test_iti_probabilities():
  np.testing.assert_allclose(iti_probabilities('geometric', 1, 3, 0.5),
                             np.array([0, 4, 2, 1]) / 7)
  np.testing.assert_allclose(iti_probabilities('uniform', 2, 4), [0, 0, 1 / 3, 1 / 3, 1 / 3])
  np.testing.assert_allclose(iti_probabilities('fixed', 2, 4), [0, 0, 1, 0, 0])


def test_step_api_runs_whole_trials_under_jit_and_vmap():
  env = CueReward(cue_delays=(2,), iti_distribution='fixed', iti_min=1, iti_max=1)
  params = env.default_params()
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  state, ts = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
  step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, None, None)))
  seen = [ts]
  for k in range(9):
    state, ts = step(jax.random.split(jax.random.PRNGKey(k), 3), state, jnp.zeros(3), params)
    seen.append(ts)
  # Trials of 1 + 2 + 2 = 5 steps: t=0 empty, cue at 1, reward at 3, last at 4. The last
  # (empty) step already shows the next trial's t=0 (empty too), so trials repeat every 4.
  rewards = np.stack([np.asarray(t.reward) for t in seen])[:, 0]
  last = np.stack([np.asarray(t.last) for t in seen])[:, 0]
  first = np.stack([np.asarray(t.first) for t in seen])[:, 0]
  discount = np.stack([np.asarray(t.discount) for t in seen])[:, 0]
  np.testing.assert_array_equal(rewards, [0, 0, 0, 1, 0, 0, 0, 1, 0, 0])
  np.testing.assert_array_equal(last, [0, 0, 0, 0, 1, 0, 0, 0, 1, 0])
  np.testing.assert_array_equal(first, [1, 0, 0, 0, 1, 0, 0, 0, 1, 0])
  np.testing.assert_array_equal(discount, [1, 1, 1, 1, 0, 1, 1, 1, 0, 1])
  cue_channel = np.stack([np.asarray(t.observation) for t in seen])[:, 0, 0]
  np.testing.assert_array_equal(cue_channel, [0, 1, 0, 0, 0, 1, 0, 0, 0, 1])


def one_trial(env, cue, iti, delay, omitted):
  trials = env.sample_trials(jax.random.PRNGKey(0), 1)
  return trials._replace(cue=jnp.array([[cue]]), iti=jnp.array([[iti]]),
                         delay=jnp.array([[delay]]), omitted=jnp.array([[omitted]]),
                         length=jnp.array([iti + delay + 2]))


def test_true_value_fixed_delay_is_discounted_time_to_reward():
  env = CueReward(cue_delays=(3,), iti_distribution='fixed', iti_min=1, iti_max=1)
  value = env.true_value(one_trial(env, 0, 1, 3, False), gamma=0.5)[0]
  # t: 0 (empty), 1 (cue), 2, 3, 4 (reward), 5 (terminal); V(t) = 0.5^(4 - t - 1) before 4.
  np.testing.assert_allclose(value[:6], [0.125, 0.25, 0.5, 1.0, 0.0, 0.0])
  assert not np.asarray(value[6:]).any()


def test_true_value_with_jitter_weighs_remaining_delays():
  env = CueReward(cue_delays=(3,), delay_jitter=1, iti_distribution='fixed', iti_min=1,
                  iti_max=1)
  value = env.true_value(one_trial(env, 0, 1, 4, False), gamma=0.5)[0]
  # Delays 2, 3, 4 equally likely. At the cue (t=1): mean(0.5^1, 0.5^2, 0.5^3). At t=2: all
  # still ahead: mean(0.5^0, 0.5^1, 0.5^2). At t=3 (no reward at 3): delays 3, 4 remain:
  # mean(1, 0.5). At t=4: only 4 remains: 1. Reward at t=5, then 0.
  np.testing.assert_allclose(value[1:7], [0.875 / 3, 1.75 / 3, 0.75, 1.0, 0.0, 0.0])


def test_true_value_with_omission():
  env = CueReward(cue_delays=(3,), omission_prob=0.5, iti_distribution='fixed', iti_min=1,
                  iti_max=1)
  omitted = env.true_value(one_trial(env, 0, 1, 3, True), gamma=0.5)[0]
  rewarded = env.true_value(one_trial(env, 0, 1, 3, False), gamma=0.5)[0]
  np.testing.assert_allclose(omitted[:6], [0.0625, 0.125, 0.25, 0.5, 0.0, 0.0])
  np.testing.assert_allclose(rewarded[:6], omitted[:6])  # the same inputs up to t=3


def test_true_value_before_the_cue_uses_the_iti_odds():
  env = CueReward(cue_delays=(2,), iti_distribution='uniform', iti_min=1, iti_max=2)
  value = env.true_value(one_trial(env, 0, 2, 2, False), gamma=0.5)[0]
  # At t=0 the cue comes at 1 or 2 (1/2 each): 0.5 * (0.5^1 + 0.5^2) * 0.5^(2-1) = 0.1875.
  # At t=1 (no cue yet) it must come at 2: 0.5^1 * 0.5 = 0.25. Cue at 2: 0.5.
  np.testing.assert_allclose(value[:4], [0.1875, 0.25, 0.5, 1.0])
