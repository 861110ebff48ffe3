"""Cue-to-reward timing trials (classical conditioning), the task of seed 000 (value RNNs).

A trial is a sequence of empty steps (the inter-trial interval, ITI), a cue at t = ITI (one of
`num_cues`, one-hot), and a reward of 1 at t = ITI + delay, where the delay belongs to the cue
(10 and 15 steps by default), optionally jittered by a uniform integer in [-jitter, jitter],
and omitted with `omission_prob`. One empty step follows the reward and ends the trial, so a
trial has ITI + delay + 2 steps (as in seed 000). The observation at t is the cue one-hot and,
when `reward_in_observation`, the reward r(t) received at t.

There are no actions: this is a prediction task (a Markov reward process), for TD value
learning. Each trial is one episode of the functional environment API; `sample_trials` draws
whole trials by the same rules and pads them to one length with a mask, and
`true_value` gives the value an ideal observer of the same inputs would predict.

Config fields (`FIELDS`): cue_delays, cue_probs, iti_distribution, iti_p, iti_min, iti_max,
delay_jitter, omission_prob, reward_in_observation. It has no actions, so it has no play
words: it cannot be played.
"""

from typing import Any, NamedTuple, Sequence, Tuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from metarl import config_rules as rules
from metarl.config_rules import ConfigError
from metarl.envs import base
from metarl.envs.base import EnvSpec, Environment
from metarl.envs.registry import register
from metarl.types import Array, PRNGKey, TimeStep

ITI_DISTRIBUTIONS = ('geometric', 'uniform', 'fixed')


@base.env_params
class CueRewardParams:
  iti_probs: Array  # [iti_max + 1] probability of each ITI length (0 where impossible)
  cue_probs: Array  # [num_cues]
  delays: Array  # [num_cues] int32 nominal cue-to-reward delay
  omission_prob: Array  # scalar


@chex.dataclass(frozen=True)
class CueRewardState:
  cue: Array  # int32
  iti: Array  # int32 time of the cue
  delay: Array  # int32 actual delay of this trial (nominal + jitter)
  omitted: Array  # bool: no reward this trial
  t: Array  # int32 time step within the trial


class Trials(NamedTuple):
  """A batch of whole trials padded to `max_trial_length` (batch-major)."""
  observations: Array  # [N, T, D], zero after the trial's end
  rewards: Array  # [N, T] r(t), zero after the trial's end
  mask: Array  # [N, T] bool: t < length
  length: Array  # [N] int32 steps of the trial (ITI + delay + 2)
  cue: Array  # [N] int32
  iti: Array  # [N] int32: the cue's time step
  delay: Array  # [N] int32: reward time minus cue time
  omitted: Array  # [N] bool


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
  """Cue-to-reward timing trials: one episode per trial, actions are ignored."""

  def __init__(self, cue_delays: Sequence[int] = (10, 15), cue_probs: Sequence[float] = (),
               iti_distribution: str = 'geometric', iti_p: float = 0.5, iti_min: int = 1,
               iti_max: int = 10, delay_jitter: int = 0, omission_prob: float = 0.0,
               reward_in_observation: bool = True):
    if iti_min < 1:
      raise ValueError('iti_min must be >= 1 (a trial starts with an empty step)')
    if min(cue_delays) - delay_jitter < 1:
      raise ValueError('every delay minus the jitter must be >= 1')
    self.num_cues = len(cue_delays)
    self.cue_delays = tuple(int(d) for d in cue_delays)
    self.delay_jitter = int(delay_jitter)
    self.iti_max = int(iti_max)
    self.reward_in_observation = reward_in_observation
    self.max_trial_length = self.iti_max + max(self.cue_delays) + self.delay_jitter + 2
    self._iti_probs = iti_probabilities(iti_distribution, iti_min, iti_max, iti_p)
    probs = np.asarray(cue_probs if len(cue_probs) else np.ones(self.num_cues), np.float64)
    self._cue_probs = probs / probs.sum()
    self._omission_prob = float(omission_prob)

  @property
  def spec(self) -> EnvSpec:
    return EnvSpec(observation_shape=(self.num_cues + int(self.reward_in_observation),),
                   num_actions=0)

  def default_params(self) -> CueRewardParams:
    return CueRewardParams(iti_probs=jnp.asarray(self._iti_probs, jnp.float32),
                           cue_probs=jnp.asarray(self._cue_probs, jnp.float32),
                           delays=jnp.asarray(self.cue_delays, jnp.int32),
                           omission_prob=jnp.asarray(self._omission_prob, jnp.float32))

  # Rules ------------------------------------------------------------------------------

  def _new_trial(self, key: PRNGKey, params: CueRewardParams) -> CueRewardState:
    k_cue, k_iti, k_jit, k_omit = jax.random.split(key, 4)
    cue = jax.random.choice(k_cue, self.num_cues, p=params.cue_probs).astype(jnp.int32)
    iti = jax.random.choice(k_iti, self.iti_max + 1, p=params.iti_probs).astype(jnp.int32)
    jitter = jax.random.randint(k_jit, (), -self.delay_jitter, self.delay_jitter + 1)
    omitted = jax.random.uniform(k_omit) < params.omission_prob
    return CueRewardState(cue=cue, iti=iti, delay=params.delays[cue] + jitter,
                          omitted=omitted, t=jnp.zeros((), jnp.int32))

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
    return state.iti + state.delay + 2

  def reset(self, key: PRNGKey, params: CueRewardParams) -> Tuple[Any, TimeStep]:
    state = self._new_trial(key, params)
    return state, TimeStep(observation=self._observation(state),
                           reward=jnp.zeros((), jnp.float32),
                           discount=jnp.ones((), jnp.float32), first=jnp.array(True),
                           last=jnp.array(False))

  def step_env(self, key: PRNGKey, state: CueRewardState, action: Array,
               params: CueRewardParams) -> Tuple[Any, TimeStep]:
    del key, action, params  # a prediction task; the next trial is drawn by `reset`
    state = state.replace(t=state.t + 1)
    last = state.t == self.trial_length(state) - 1
    # The trial's final step is empty (like the step 0 of every trial), so showing the next
    # trial's first observation there, as the auto-reset convention does, loses nothing.
    return state, TimeStep(observation=self._observation(state), reward=self._reward(state),
                           discount=jnp.where(last, 0.0, 1.0).astype(jnp.float32),
                           first=last, last=last)

  # Whole trials -----------------------------------------------------------------------

  def sample_trials(self, key: PRNGKey, num_trials: int,
                    params: CueRewardParams = None) -> Trials:
    """`num_trials` independent trials, padded with zeros to `max_trial_length`.

    Each trial is drawn as `reset` draws it and laid out with the same rules `step` applies
    at every t (all steps at once rather than a sequential scan: same trials, faster).
    """
    params = self.default_params() if params is None else params
    steps = jnp.arange(self.max_trial_length, dtype=jnp.int32)

    def one_trial(key):
      state = self._new_trial(key, params)
      at = jax.vmap(lambda t: state.replace(t=t))(steps)
      obs = jax.vmap(self._observation)(at)
      rewards = jax.vmap(self._reward)(at)
      length = self.trial_length(state)
      mask = steps < length
      return Trials(observations=jnp.where(mask[:, None], obs, 0.0),
                    rewards=jnp.where(mask, rewards, 0.0), mask=mask, length=length,
                    cue=state.cue, iti=state.iti, delay=state.delay, omitted=state.omitted)

    return jax.vmap(one_trial)(jax.random.split(key, num_trials))

  def true_value(self, trials: Trials, gamma: float,
                 params: CueRewardParams = None) -> Array:
    """The value an ideal observer of the trial's inputs predicts, [N, T].

    V(t) = E[sum_k gamma^k r(t+1+k) | inputs up to t], the expected discounted reward still
    to come in the trial. After the cue, the observer knows the cue and the time since it;
    with jitter or omission it weighs the delays still possible against the chance that the
    reward was omitted. Before the cue it knows only that the ITI is longer than t. With
    fixed delays and no omission this is gamma^(t_r - t - 1) before the reward time t_r and
    0 from t_r on. Zero on the trial's final (terminal) step and on padding.
    """
    params = self.default_params() if params is None else params
    offsets = jnp.arange(-self.delay_jitter, self.delay_jitter + 1)  # equally likely
    q = params.omission_prob
    candidates = params.delays[:, None] + offsets[None, :]  # [C, J]
    value_at_cue = (1 - q) * jnp.sum(
        params.cue_probs[:, None] * gamma ** (candidates - 1.0) / offsets.size)
    itis = jnp.arange(self.iti_max + 1)
    t = jnp.arange(self.max_trial_length)

    def one_trial(cue, iti, delay, omitted, length):
      # Before the cue: the ITI is some k > t, with the ITI distribution's odds.
      later = itis[None, :] > t[:, None]  # [T, K]
      w_iti = jnp.where(later, params.iti_probs[None, :], 0.0)
      pre = value_at_cue * jnp.sum(w_iti * gamma ** (itis[None, :] - t[:, None] * 1.0),
                                   axis=1) / jnp.maximum(w_iti.sum(axis=1), 1e-30)
      # After the cue: delays still ahead vs delays passed without reward (omitted).
      since = t - iti
      d = candidates[cue]  # [J]
      ahead = d[None, :] > since[:, None]  # [T, J]
      weight = jnp.where(ahead, 1.0, q)
      post = (1 - q) * jnp.sum(jnp.where(ahead, gamma ** (d[None, :] - since[:, None] - 1.0),
                                         0.0), axis=1) / jnp.maximum(weight.sum(axis=1),
                                                                     1e-30)
      rewarded = ~omitted & (t >= iti + delay)
      value = jnp.where(t < iti, pre, jnp.where(rewarded, 0.0, post))
      return jnp.where(t < length - 1, value, 0.0)

    return jax.vmap(one_trial)(trials.cue, trials.iti, trials.delay, trials.omitted,
                               trials.length)


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
    'omission_prob': rules.Real(0.0, 1.0, default=0.0),
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


register('cue_reward', CueReward, FIELDS, check)
