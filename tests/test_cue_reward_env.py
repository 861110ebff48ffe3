"""Cue-reward trials against a numpy reference of value-rnn-td's rules, and the true value
against hand-derived numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.envs.cue_reward import CueReward, iti_probabilities


def reference_trial(num_cues, cue, iti, delay, omitted):
  """value-rnn-td's trial: ITI empty steps, cue at t=ITI, reward at ITI+delay, one empty step
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


# Episodes of several trials (Starkweather et al. 2017's tasks) --------------------------

STARKWEATHER = dict(cue_delays=(10,), delay_offsets=tuple(range(-4, 5)),
                    delay_offset_probs=(.0477, .0835, .1246, .1584, .1716, .1584, .1246,
                                        .0835, .0477),
                    iti_p=1 / 8, iti_min=10, iti_max=150, omission_prob=0.1,
                    omission_length='longest', trials_per_episode=20)


def reference_episode(num_cues, cue, iti, delay, omitted):
  """Trials one after another, each ITI empty steps, the cue, the reward `delay` steps later
  (its last step), then one empty step closing the episode."""
  x = []
  for c, i, d, o in zip(cue, iti, delay, omitted, strict=True):
    trial = np.zeros((i + d + 1, num_cues + 1))
    trial[i, c] = 1.0
    trial[i + d, -1] = 0.0 if o else 1.0
    x.append(trial)
  x = np.concatenate(x + [np.zeros((1, num_cues + 1))])
  return x, x[:, -1].copy()


def test_episodes_of_several_trials_follow_the_reference_rules():
  env = CueReward(**STARKWEATHER)
  trials = jax.device_get(env.sample_trials(jax.random.PRNGKey(0), 200))
  assert trials.cue.shape == (200, 20)
  for n in range(200):
    x, r = reference_episode(1, trials.cue[n], trials.iti[n], trials.delay[n],
                             trials.omitted[n])
    length = len(r)
    assert trials.length[n] == length <= env.max_trial_length
    np.testing.assert_array_equal(trials.observations[n, :length], x)
    np.testing.assert_array_equal(trials.rewards[n, :length], r)
    np.testing.assert_array_equal(trials.start[n], np.concatenate(
        [[0], np.cumsum(trials.iti[n] + trials.delay[n] + 1)[:-1]]))
    assert not trials.observations[n, length:].any()


def test_starkweather_frequencies():
  env = CueReward(**dict(STARKWEATHER, trials_per_episode=50))
  trials = jax.device_get(env.sample_trials(jax.random.PRNGKey(1), 400))  # 20,000 trials
  omitted, delay, iti = trials.omitted.ravel(), trials.delay.ravel(), trials.iti.ravel()
  assert abs(omitted.mean() - 0.1) < 0.01
  assert np.all(delay[omitted] == 14)  # an omitted trial lasts the longest delay
  counts = np.bincount(delay[~omitted], minlength=15)[6:] / (~omitted).sum()
  np.testing.assert_allclose(counts, np.asarray(STARKWEATHER['delay_offset_probs']) /
                             np.sum(STARKWEATHER['delay_offset_probs']), atol=0.01)
  # ITI = 10 + (Geometric(1/8) - 1): P(10) = 1/8, mean 17
  assert abs((iti == 10).mean() - 1 / 8) < 0.01
  assert abs(iti.mean() - 17) < 0.2 and iti.min() == 10


def test_step_api_runs_episodes_of_several_trials():
  env = CueReward(cue_delays=(2,), delay_offsets=(0, 1), iti_distribution='uniform',
                  iti_min=1, iti_max=2, trials_per_episode=3)
  params = env.default_params()
  state, ts = env.reset(jax.random.PRNGKey(0), params)
  step = jax.jit(env.step)
  states, steps = [state], [ts]
  for k in range(40):
    state, ts = step(jax.random.PRNGKey(k + 1), state, jnp.zeros(()), params)
    states.append(state)
    steps.append(ts)
    if ts.last:
      break
  assert steps[-1].last and not any(t.last for t in steps[:-1])
  trial_of = [int(s.trial) for s in states]
  firsts = [trial_of.index(k) for k in range(3)]
  cue, iti, delay = ([int(getattr(states[i], f)) for i in firsts]
                     for f in ('cue', 'iti', 'delay'))
  x, r = reference_episode(1, cue, iti, delay, [False] * 3)
  assert len(steps) == len(r)
  np.testing.assert_array_equal([float(t.reward) for t in steps[1:]], r[1:])
  np.testing.assert_array_equal(np.stack([np.asarray(t.observation) for t in steps[:-1]]),
                                x[:-1])


def several(env, iti, delay, omitted):
  k = len(iti)
  lengths = np.asarray(iti) + np.asarray(delay) + 1
  return env.sample_trials(jax.random.PRNGKey(0), 1)._replace(
      cue=jnp.zeros((1, k), jnp.int32), iti=jnp.array([iti]), delay=jnp.array([delay]),
      omitted=jnp.array([omitted]), start=jnp.array([np.cumsum(lengths) - lengths]),
      length=jnp.array([lengths.sum() + 1]))


def test_true_value_over_several_trials_adds_the_trials_to_come():
  env = CueReward(cue_delays=(3,), iti_distribution='fixed', iti_min=2, iti_max=2,
                  trials_per_episode=2)
  value = np.asarray(env.true_value(several(env, [2, 2], [3, 3], [False, False]), 0.5)[0])
  # rewards at 5 and 11, the episode ends at 12: V(t) = sum over rewards t_r > t of
  # 0.5^(t_r - t - 1)
  t = np.arange(13)
  expected = np.where(t < 5, 0.5 ** (4 - t), 0) + np.where(t < 11, 0.5 ** (10.0 - t), 0)
  np.testing.assert_allclose(value[:13], expected)


def test_true_value_with_omissions_of_the_longest_length():
  env = CueReward(cue_delays=(2,), delay_offsets=(0, 1), omission_prob=0.5,
                  omission_length='longest', iti_distribution='fixed', iti_min=1, iti_max=1,
                  trials_per_episode=2)
  # trial 1 omitted (lasts the longest delay, 3), trial 2 rewarded at delay 2
  value = np.asarray(env.true_value(several(env, [1, 1], [3, 2], [True, False]), 0.5)[0])
  # A fresh trial, seen from the step before it: reward at 1 + 1 + d with d = 2 or 3 (1/2
  # each, 1/2 omitted): w = 0.5 * 0.5^1 * (0.5^2 + 0.5^3) / 2; trial steps 1 + 1 + end with
  # end 2, 3 (rewarded) or 3 (omitted): g = 0.5^2 * (0.25 * 0.5^2 + 0.25 * 0.5^3 +
  # 0.5 * 0.5^3).
  w = 0.5 * 0.5 * (0.25 + 0.125) / 2
  g = 0.25 * (0.25 * 0.25 + 0.25 * 0.125 + 0.5 * 0.125)
  # t = 0 is one step into trial 1 (seen from the step before it, it is worth w and lasts
  # g): V(0) = (w + g w) / gamma
  np.testing.assert_allclose(value[0], (w + g * w) / 0.5)
  # t = 4, the omitted trial's last step: only the second trial remains, V = w
  np.testing.assert_allclose(value[4], w)
  # at the cue of trial 1 (t = 1): rewarded at 2 or 3 steps (1/4 each) or omitted (1/2);
  # the trial ends at 2 or 3 steps (rewarded) or 3 (omitted)
  cur = 0.5 * (0.5 ** 1 + 0.5 ** 2) / 2
  end = 0.25 * 0.5 ** 2 + 0.25 * 0.5 ** 3 + 0.5 * 0.5 ** 3
  np.testing.assert_allclose(value[1], cur + end * w)
