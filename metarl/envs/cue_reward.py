"""Cue-to-reward timing trials (classical conditioning): the task of value-rnn-td (value RNNs)
and the tasks of Starkweather et al. (2017) used by Hennig et al. (2023).

A trial is a sequence of empty steps (the inter-trial interval, ITI), a cue at t = ITI (one of
`num_cues`, one-hot), and a reward of 1 at t = ITI + delay. The delay belongs to the cue
(10 and 15 steps by default) plus an offset: a uniform integer in [-jitter, jitter]
(`delay_jitter`), or one of `delay_offsets` drawn with `delay_offset_probs` (Starkweather's
delays 6..14 steps after the cue: cue delay 10 with offsets -4..4 of Gaussian weights). The
reward is omitted with `omission_prob`; an omitted trial lasts as long as its own delay
(`omission_length='delay'`) or as the cue's longest delay ('longest', Starkweather's Task 2).

An episode is `trials_per_episode` trials one after another: each trial's last step is its
reward step (or the omitted reward's), the next trial's ITI follows, and one empty step after
the last trial ends the episode. With one trial per episode that is value-rnn-td's trial of
ITI + delay + 2 steps. The observation at t is the cue one-hot and, when
`reward_in_observation`, the reward r(t) received at t.

There are no actions: this is a prediction task (a Markov reward process), for TD value
learning. `sample_trials` draws whole episodes by the same rules as `reset` and `step` and
pads them to one length with a mask, and `true_value` gives the value an ideal observer of
the same inputs would predict.

Config fields (`FIELDS`): cue_delays, cue_probs, iti_distribution, iti_p, iti_min, iti_max,
delay_jitter, delay_offsets, delay_offset_probs, omission_prob, omission_length,
trials_per_episode, reward_in_observation. It has no actions, so it has no play words: it
cannot be played.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from metarl import config_rules as rules
from metarl.config_rules import ConfigError
from metarl.envs import base
from metarl.envs.base import Environment, EnvSpec
from metarl.envs.registry import register
from metarl.types import Array, PRNGKey, TimeStep

ITI_DISTRIBUTIONS = ('geometric', 'uniform', 'fixed')
OMISSION_LENGTHS = ('delay', 'longest')
# episodes of several trials are padded to their mean length plus this many standard
# deviations; the rare longer one (below 1e-8 for Starkweather's task) is cut there
PAD_SDS = 6.0


@base.env_params
class CueRewardParams:
  iti_probs: Array  # [iti_max + 1] probability of each ITI length (0 where impossible)
  cue_probs: Array  # [num_cues]
  delays: Array  # [num_cues] int32 nominal cue-to-reward delay
  offsets: Array  # [J] int32 delay offsets
  offset_probs: Array  # [J] their probabilities
  omission_prob: Array  # scalar


@chex.dataclass(frozen=True)
class CueRewardState:
  cue: Array  # int32
  iti: Array  # int32 time of the cue
  delay: Array  # int32 this trial's cue-to-end steps: the reward's delay (nominal + offset)
  #               or, for an omitted trial with omission_length 'longest', the longest one
  omitted: Array  # bool: no reward this trial
  t: Array  # int32 time step within the trial
  trial: Array  # int32 index of the trial within the episode


class Trials(NamedTuple):
  """A batch of whole episodes padded to `max_trial_length` steps (batch-major); K =
  `trials_per_episode` trials each."""
  observations: Array  # [N, T, D], zero after the episode's end
  rewards: Array  # [N, T] r(t), zero after the episode's end
  mask: Array  # [N, T] bool: t < length
  length: Array  # [N] int32 steps of the episode (K = 1: ITI + delay + 2)
  cue: Array  # [N, K] int32
  iti: Array  # [N, K] int32: steps from the trial's start to its cue
  delay: Array  # [N, K] int32: cue to the trial's last step (the reward's, if rewarded)
  omitted: Array  # [N, K] bool
  start: Array  # [N, K] int32: the episode step at which each trial's ITI begins


def iti_probabilities(kind: str, iti_min: int, iti_max: int, p: float = 0.5) -> np.ndarray:
  """Probabilities of ITI = 0..iti_max.

  Args:
    kind: 'geometric' (number of trials to the first success with probability `p`, starting
      at `iti_min`, truncated at `iti_max` and renormalised), 'uniform' (every integer in
      [iti_min, iti_max]) or 'fixed' (always `iti_min`).
    iti_min: smallest ITI (>= 1).
    iti_max: largest ITI.
    p: success probability of the geometric distribution.
  """
  probs = np.zeros(iti_max + 1)
  support = np.arange(iti_min, iti_max + 1)
  if kind == 'geometric':
    probs[support] = p * (1 - p) ** (support - iti_min)
  elif kind == 'uniform':
    probs[support] = 1.0
  elif kind == 'fixed':
    probs[iti_min] = 1.0
  else:
    raise ValueError(f'ITI distribution must be one of {ITI_DISTRIBUTIONS}, got {kind!r}')
  return probs / probs.sum()


class CueReward(Environment):
  """Cue-to-reward timing trials, `trials_per_episode` per episode; actions are ignored."""

  def __init__(self, cue_delays: Sequence[int] = (10, 15), cue_probs: Sequence[float] = (),
               iti_distribution: str = 'geometric', iti_p: float = 0.5, iti_min: int = 1,
               iti_max: int = 10, delay_jitter: int = 0, omission_prob: float = 0.0,
               reward_in_observation: bool = True, delay_offsets: Sequence[int] = (),
               delay_offset_probs: Sequence[float] = (), omission_length: str = 'delay',
               trials_per_episode: int = 1):
    if iti_min < 1:
      raise ValueError('iti_min must be >= 1 (a trial starts with an empty step)')
    if len(delay_offsets) and delay_jitter:
      raise ValueError('give delay_jitter or delay_offsets, not both')
    offsets = tuple(int(o) for o in delay_offsets) or tuple(
        range(-delay_jitter, delay_jitter + 1))
    if min(cue_delays) + min(offsets) < 1:
      raise ValueError('every delay plus its offset must be >= 1')
    if omission_length not in OMISSION_LENGTHS:
      raise ValueError(f'omission_length must be one of {OMISSION_LENGTHS}')
    if trials_per_episode > 1 and omission_prob > 0 and omission_length != 'longest':
      raise ValueError("several trials per episode with omissions need omission_length "
                       "'longest'")
    self.num_cues = len(cue_delays)
    self.cue_delays = tuple(int(d) for d in cue_delays)
    self.delay_jitter = int(delay_jitter)
    self.offsets = offsets
    # the jitter draws a uniform integer (value-rnn-td's stream); offsets draw by their weights
    self._uniform_offsets = not len(delay_offsets)
    weights = np.ones(len(offsets)) if self._uniform_offsets else np.asarray(
        delay_offset_probs if len(delay_offset_probs) else np.ones(len(offsets)), np.float64)
    self._offset_weights = weights
    self._offset_probs = weights / weights.sum()
    self.omission_length = omission_length
    self.trials_per_episode = int(trials_per_episode)
    self.iti_max = int(iti_max)
    self.reward_in_observation = reward_in_observation
    self._iti_probs = iti_probabilities(iti_distribution, iti_min, iti_max, iti_p)
    probs = np.asarray(cue_probs if len(cue_probs) else np.ones(self.num_cues), np.float64)
    self._cue_probs = probs / probs.sum()
    self._omission_prob = float(omission_prob)
    self.max_trial_length = self._padded_length()

  def _trial_moments(self) -> tuple[float, float, int]:
    """Mean, variance and maximum of one trial's steps ITI + delay + 1."""
    itis = np.arange(self.iti_max + 1)
    p_iti = self._iti_probs
    ends, p_end = [], []
    for cue, p_cue in zip(self.cue_delays, self._cue_probs, strict=True):
      longest = cue + max(self.offsets)
      for offset, p_off in zip(self.offsets, self._offset_probs, strict=True):
        q = self._omission_prob
        omitted_end = longest if self.omission_length == 'longest' else cue + offset
        ends += [cue + offset, omitted_end]
        p_end += [p_cue * p_off * (1 - q), p_cue * p_off * q]
    ends, p_end = np.asarray(ends, np.float64), np.asarray(p_end)
    mean = p_iti @ itis + p_end @ ends + 1
    var = p_iti @ itis ** 2 - (p_iti @ itis) ** 2 + p_end @ ends ** 2 - (p_end @ ends) ** 2
    longest = self.iti_max + max(self.cue_delays) + max(self.offsets) + 1
    return float(mean), float(var), int(longest)

  def _padded_length(self) -> int:
    """Steps every episode is padded to: the longest possible one for a single trial; for
    several, their mean plus PAD_SDS standard deviations (or the longest, if shorter)."""
    mean, var, longest = self._trial_moments()
    k = self.trials_per_episode
    if k == 1:
      return longest + 1
    return int(min(k * longest, np.ceil(k * mean + PAD_SDS * np.sqrt(k * var)))) + 1

  @property
  def spec(self) -> EnvSpec:
    return EnvSpec(observation_shape=(self.num_cues + int(self.reward_in_observation),),
                   num_actions=0)

  def default_params(self) -> CueRewardParams:
    return CueRewardParams(iti_probs=jnp.asarray(self._iti_probs, jnp.float32),
                           cue_probs=jnp.asarray(self._cue_probs, jnp.float32),
                           delays=jnp.asarray(self.cue_delays, jnp.int32),
                           offsets=jnp.asarray(self.offsets, jnp.int32),
                           offset_probs=jnp.asarray(self._offset_probs, jnp.float32),
                           omission_prob=jnp.asarray(self._omission_prob, jnp.float32))

  # Rules ------------------------------------------------------------------------------

  def _new_trial(self, key: PRNGKey, params: CueRewardParams,
                 trial: Array = 0) -> CueRewardState:
    k_cue, k_iti, k_jit, k_omit = jax.random.split(key, 4)
    cue = jax.random.choice(k_cue, self.num_cues, p=params.cue_probs).astype(jnp.int32)
    iti = jax.random.choice(k_iti, self.iti_max + 1, p=params.iti_probs).astype(jnp.int32)
    if self._uniform_offsets:
      offset = jax.random.randint(k_jit, (), -self.delay_jitter, self.delay_jitter + 1)
    else:
      offset = jax.random.choice(k_jit, params.offsets, p=params.offset_probs)
    omitted = jax.random.uniform(k_omit) < params.omission_prob
    delay = params.delays[cue] + offset
    if self.omission_length == 'longest':
      delay = jnp.where(omitted, params.delays[cue] + jnp.max(params.offsets), delay)
    return CueRewardState(cue=cue, iti=iti, delay=delay.astype(jnp.int32), omitted=omitted,
                          t=jnp.zeros((), jnp.int32), trial=jnp.asarray(trial, jnp.int32))

  def _reward(self, state: CueRewardState) -> Array:
    hit = (state.t == state.iti + state.delay) & ~state.omitted
    return hit.astype(jnp.float32)

  def _observation(self, state: CueRewardState) -> Array:
    cue = jax.nn.one_hot(state.cue, self.num_cues) * (state.t == state.iti)
    if self.reward_in_observation:
      return jnp.concatenate([cue, self._reward(state)[None]])
    return cue

  @staticmethod
  def trial_length(state: CueRewardState) -> Array:
    """Steps of a trial with the episode's closing step (the whole episode when K = 1)."""
    return state.iti + state.delay + 2

  def reset(self, key: PRNGKey, params: CueRewardParams) -> tuple[Any, TimeStep]:
    state = self._new_trial(key, params)
    return state, TimeStep(observation=self._observation(state),
                           reward=jnp.zeros((), jnp.float32),
                           discount=jnp.ones((), jnp.float32), first=jnp.array(True),
                           last=jnp.array(False))

  def step_env(self, key: PRNGKey, state: CueRewardState, action: Array,
               params: CueRewardParams) -> tuple[Any, TimeStep]:
    del action  # a prediction task
    state = state.replace(t=state.t + 1)
    past_end = state.t == state.iti + state.delay + 1  # the step after the trial's last
    if self.trials_per_episode > 1:  # the next trial follows at once, drawn from `key`
      follows = past_end & (state.trial < self.trials_per_episode - 1)
      state = jax.tree_util.tree_map(lambda new, old: jnp.where(follows, new, old),
                                     self._new_trial(key, params, state.trial + 1), state)
      past_end = past_end & ~follows
    last = past_end  # the episode's closing step, empty (as the first step of a trial)
    # Showing the next episode's first observation there, as the auto-reset convention
    # does, loses nothing.
    return state, TimeStep(observation=self._observation(state), reward=self._reward(state),
                           discount=jnp.where(last, 0.0, 1.0).astype(jnp.float32),
                           first=last, last=last)

  # Whole episodes ---------------------------------------------------------------------

  def sample_trials(self, key: PRNGKey, num_trials: int,
                    params: CueRewardParams = None) -> Trials:
    """`num_trials` independent episodes, padded with zeros to `max_trial_length`.

    Each trial is drawn as `reset` and `step` draw it (one trial per episode: from the
    episode's key; several: from its split into one key per trial), and laid out with the
    same rules, all steps at once rather than a sequential scan: same episodes, faster.
    """
    params = self.default_params() if params is None else params
    steps = jnp.arange(self.max_trial_length, dtype=jnp.int32)
    k = self.trials_per_episode

    def one_episode(key):
      if k == 1:
        trial = jax.tree_util.tree_map(lambda x: x[None], self._new_trial(key, params))
      else:
        trial = jax.vmap(self._new_trial, (0, None, 0))(jax.random.split(key, k), params,
                                                       jnp.arange(k))
      lengths = trial.iti + trial.delay + 1
      start = jnp.cumsum(lengths) - lengths
      length = jnp.minimum(jnp.sum(lengths) + 1, self.max_trial_length)
      cues = jnp.zeros((self.max_trial_length, self.num_cues)).at[
          start + trial.iti, trial.cue].set(1.0, mode='drop')
      rewards = jnp.zeros(self.max_trial_length).at[start + trial.iti + trial.delay].set(
          jnp.where(trial.omitted, 0.0, 1.0), mode='drop')
      obs = jnp.concatenate([cues, rewards[:, None]], 1) if self.reward_in_observation \
          else cues
      mask = steps < length
      return Trials(observations=jnp.where(mask[:, None], obs, 0.0),
                    rewards=jnp.where(mask, rewards, 0.0), mask=mask, length=length,
                    cue=trial.cue, iti=trial.iti, delay=trial.delay, omitted=trial.omitted,
                    start=start.astype(jnp.int32))

    return jax.vmap(one_episode)(jax.random.split(key, num_trials))

  def true_value(self, trials: Trials, gamma: float,
                 params: CueRewardParams = None) -> Array:
    """The value an ideal observer of the episode's inputs predicts, [N, T].

    V(t) = E[sum_k gamma^k r(t+1+k) | inputs up to t], the expected discounted reward still
    to come in the episode. Within a trial: after the cue, the observer knows the cue and
    the time since it, and weighs the delays still possible (by their probabilities)
    against the chance that the reward was omitted; before the cue it knows only that the
    ITI is longer than the time so far. With fixed delays and no omission this is
    gamma^(t_r - t - 1) before the reward time t_r. With several trials per episode the
    observer also counts the trials (one cue each) and adds the value of those still to
    come, discounted by its expectation of gamma^(steps to the current trial's end).
    Zero on the episode's final (terminal) step and on padding.
    """
    params = self.default_params() if params is None else params
    q = params.omission_prob
    w = jnp.asarray(self._offset_weights, jnp.float32)  # ones for the jitter (value-rnn-td)
    candidates = params.delays[:, None] + params.offsets[None, :]  # [C, J]
    value_at_cue = (1 - q) * jnp.sum(
        params.cue_probs[:, None] * gamma ** (candidates - 1.0) * w[None, :] / w.sum())
    itis = jnp.arange(self.iti_max + 1)
    k = self.trials_per_episode
    if self.omission_length == 'longest':
      omitted_end = jnp.broadcast_to(jnp.max(candidates, axis=1, keepdims=True),
                                     candidates.shape)
    else:
      omitted_end = candidates
    if k > 1:
      # A trial seen from the step before it: its discounted reward, and gamma^(its steps).
      p_iti = params.iti_probs
      p_delay = params.cue_probs[:, None] * w[None, :] / w.sum()  # [C, J]
      per_trial = (1 - q) * jnp.sum(p_delay * gamma ** candidates) * jnp.sum(
          p_iti * gamma ** itis)
      end_after_cue = jnp.sum(p_delay * ((1 - q) * gamma ** candidates +
                                         q * gamma ** omitted_end))
      whole = gamma * jnp.sum(p_iti * gamma ** itis) * end_after_cue
      # to_come[m]: the value of m more trials from the current trial's last step
      to_come = jnp.concatenate([jnp.zeros(1), jnp.cumsum(
          per_trial * whole ** jnp.arange(k - 1))])

    steps = jnp.arange(self.max_trial_length)

    def one_episode(cue, iti, delay, omitted, start, length):
      # each step's trial and its time within that trial
      trial = jnp.clip(jnp.sum(steps[:, None] >= start[None, :], axis=1) - 1, 0, k - 1)
      t = steps - start[trial]
      cue, iti, delay, omitted = cue[trial], iti[trial], delay[trial], omitted[trial]
      # Before the cue: the ITI is some i > t, with the ITI distribution's odds.
      later = itis[None, :] > t[:, None]  # [T, I]
      w_iti = jnp.where(later, params.iti_probs[None, :], 0.0)
      iti_odds = jnp.maximum(w_iti.sum(axis=1), 1e-30)
      to_cue = jnp.sum(w_iti * gamma ** (itis[None, :] - t[:, None] * 1.0), axis=1)
      pre = value_at_cue * to_cue / iti_odds
      # After the cue: delays still ahead vs delays passed without reward (omitted).
      since = t - iti
      d = candidates[cue]  # [T, J]
      ahead = d > since[:, None]
      weight = jnp.maximum(jnp.where(ahead, w[None, :], q * w[None, :]).sum(axis=1), 1e-30)
      post = (1 - q) * jnp.sum(jnp.where(ahead, w[None, :] * gamma ** (
          d - since[:, None] - 1.0), 0.0), axis=1) / weight
      rewarded = ~omitted & (t >= iti + delay)
      value = jnp.where(t < iti, pre, jnp.where(rewarded, 0.0, post))
      if k > 1:  # and the trials still to come, from this trial's last step
        end_pre = to_cue / iti_odds * end_after_cue
        end_post = jnp.sum(
            jnp.where(ahead, (1 - q) * w[None, :] * gamma ** (d - since[:, None] * 1.0),
                      0.0) + q * w[None, :] * gamma ** (omitted_end[cue] -
                                                        since[:, None] * 1.0),
            axis=1) / weight
        end = jnp.where(t < iti, end_pre, jnp.where(rewarded, 1.0, end_post))
        value = value + end * to_come[k - 1 - trial]
      return jnp.where(steps < length - 1, value, 0.0)

    return jax.vmap(one_episode)(trials.cue, trials.iti, trials.delay, trials.omitted,
                                 trials.start, trials.length)


FIELDS = {
    'cue_delays': rules.ListOf(lambda d: rules.is_int(d) and 1 <= d <= rules.INT32_MAX,
                               'one reward delay (an integer >= 1) per cue is required, '
                               'e.g. 10,15', default=(10, 15), min_len=1),
    'cue_probs': rules.ListOf(lambda p: rules.is_real(p) and p >= 0,
                              'empty (cues equally likely) or one probability >= 0 per cue',
                              default=(), none_ok=True),
    'iti_distribution': rules.Choice(ITI_DISTRIBUTIONS, default='geometric'),
    'iti_p': rules.Real(0.0, 1.0, low_open=True, default=0.5),
    'iti_min': rules.IntRange(1, 1000, default=1, why=' (a trial starts with an empty step)'),
    'iti_max': rules.IntRange(1, 1000, default=10),
    'delay_jitter': rules.Int(0, default=0),
    'delay_offsets': rules.ListOf(lambda o: rules.is_int(o) and abs(o) <= 1000,
                                  'empty (the jitter decides) or integer offsets added to '
                                  'the cue\'s delay, e.g. -4,-3,...,4', default=(),
                                  none_ok=True),
    'delay_offset_probs': rules.ListOf(lambda p: rules.is_real(p) and p >= 0,
                                       'empty (offsets equally likely) or one probability '
                                       '>= 0 per offset', default=(), none_ok=True),
    'omission_prob': rules.Real(0.0, 1.0, default=0.0),
    'omission_length': rules.Choice(OMISSION_LENGTHS, default='delay'),
    'trials_per_episode': rules.IntRange(1, 1000, default=1),
    'reward_in_observation': rules.Bool(default=True),
}


def check(fields) -> None:
  delays, probs = fields['cue_delays'], tuple(fields['cue_probs'] or ())
  if probs and (len(probs) != len(delays) or sum(probs) <= 0):
    raise ConfigError('cue_probs', probs,
                      f'one probability per cue ({len(delays)}), not all zero')
  if fields['iti_max'] < fields['iti_min']:
    raise ConfigError('iti_max', fields['iti_max'], f'an integer from env.iti_min '
                      f'({fields["iti_min"]}) to 1000 is required')
  jitter = fields['delay_jitter']
  if min(delays) - jitter < 1:
    raise ConfigError('delay_jitter', jitter,
                      f'the shortest delay ({min(delays)}) minus the jitter must be >= 1')
  offsets = tuple(fields['delay_offsets'] or ())
  offset_probs = tuple(fields['delay_offset_probs'] or ())
  if offsets and jitter:
    raise ConfigError('delay_offsets', offsets, 'empty when env.delay_jitter is set (give '
                      'one of the two)')
  if offsets and min(delays) + min(offsets) < 1:
    raise ConfigError('delay_offsets', offsets, f'offsets that keep the shortest delay '
                      f'({min(delays)}) plus its offset >= 1')
  if offset_probs and (len(offset_probs) != len(offsets) or sum(offset_probs) <= 0):
    raise ConfigError('delay_offset_probs', offset_probs, f'one probability per delay offset '
                      f'({len(offsets)}), not all zero')
  if (fields['trials_per_episode'] > 1 and fields['omission_prob'] > 0 and
      fields['omission_length'] != 'longest'):
    raise ConfigError('omission_length', fields['omission_length'],
                      "'longest' with several trials per episode and omissions (the "
                      'observer must know when an omitted trial ends)')


register('cue_reward', CueReward, FIELDS, check)
