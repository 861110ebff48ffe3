"""The two-step task (Daw et al. 2011) as used for meta-RL by Wang et al. (2018) and
BKHMSI/Meta-RL-TwoStep-Task.

Each trial is one environment step: a stage-1 choice a in {0, 1} leads to stage-2 state S1
(a = 0) or S2 (a = 1) with the common probability, else to the other state; the state
reached pays 1 with `reward_prob` if it is the good state, else with 1 - `reward_prob`. The
good state is drawn anew at every episode start and swaps with `swap_prob` at the start of
each trial. The observation after a trial is [one-hot state reached (S0, S1, S2), one-hot
action, reward, trial index / trials per episode] (S0 only at an episode's start).

The random draws of the coming trial live in the state (`u_swap`, `u_transition`,
`u_reward`), so a trial's outcome is a pure function of the state before it and the action
(`trial_outcome`): the analysis rebuilds every trial from recorded states, exactly.

Config fields (`FIELDS`): common_prob, reward_prob, swap_prob, trials_per_episode.
"""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from metarl import config_rules as rules
from metarl.envs import base
from metarl.envs.registry import register
from metarl.envs.words import Words
from metarl.types import Array, PRNGKey, TimeStep


@base.env_params
class TwoStepParams:
  common_prob: Array  # P(a=0 -> S1) = P(a=1 -> S2)
  reward_prob: Array  # reward probability of the good state (the other: 1 - this)
  swap_prob: Array  # probability that the good state swaps at a trial's start


@chex.dataclass(frozen=True)
class TwoStepState:
  good: Array  # int32 0 (S1) or 1 (S2): the good state before this trial's swap
  trial: Array  # int32 trials already played in this episode
  u_swap: Array  # the coming trial's uniform draws
  u_transition: Array
  u_reward: Array


class TrialOutcome(NamedTuple):
  good: Array  # good state during the trial (after its swap), 0 = S1, 1 = S2
  stage2: Array  # state reached, 0 = S1, 1 = S2
  common: Array  # bool: the common transition of the action
  reward: Array  # float 0/1


def trial_draws(key: PRNGKey):
  """The coming trial's uniform draws (swap, transition, reward), kept in the state."""
  u = jax.random.uniform(key, (3,))
  return dict(u_swap=u[0], u_transition=u[1], u_reward=u[2])


class TwoStep(base.Environment):
  """Two-step task, one step per trial, `trials_per_episode` trials per episode."""

  def __init__(self, common_prob: float = 0.8, reward_prob: float = 0.9,
               swap_prob: float = 0.025, trials_per_episode: int = 100):
    self.trials_per_episode = trials_per_episode
    self._params = (common_prob, reward_prob, swap_prob)

  @property
  def spec(self) -> base.EnvSpec:
    return base.EnvSpec(observation_shape=(7,), num_actions=2)

  @property
  def max_episode_steps(self) -> int:
    return self.trials_per_episode

  def default_params(self) -> TwoStepParams:
    common, reward, swap = (jnp.asarray(p, jnp.float32) for p in self._params)
    return TwoStepParams(common_prob=common, reward_prob=reward, swap_prob=swap)

  def trial_outcome(self, state: TwoStepState, action: Array,
                    params: TwoStepParams) -> TrialOutcome:
    """What the trial played from `state` with stage-1 `action` gives (deterministic)."""
    good = jnp.where(state.u_swap < params.swap_prob, 1 - state.good, state.good)
    common = state.u_transition < params.common_prob
    stage2 = jnp.where(common, action, 1 - action).astype(jnp.int32)
    p = jnp.where(stage2 == good, params.reward_prob, 1.0 - params.reward_prob)
    reward = (state.u_reward < p).astype(jnp.float32)
    return TrialOutcome(good=good, stage2=stage2, common=common, reward=reward)

  def trial_outcomes(self, states, actions: Array, params: TwoStepParams = None
                     ) -> TrialOutcome:
    """`trial_outcome` of recorded [T, B] states and actions."""
    params = self.default_params() if params is None else params
    outcome = lambda s, a: self.trial_outcome(s, a, params)  # noqa: E731
    return jax.vmap(jax.vmap(outcome))(states, actions)

  def reset(self, key: PRNGKey, params: TwoStepParams) -> tuple[TwoStepState, TimeStep]:
    good_key, draw_key = jax.random.split(key)
    state = TwoStepState(good=jax.random.randint(good_key, (), 0, 2),
                         trial=jnp.zeros((), jnp.int32), **trial_draws(draw_key))
    observation = jnp.zeros((7,), jnp.float32).at[0].set(1.0)  # S0, no action, no reward
    return state, base.restart(observation)

  def reset_key(self, key: PRNGKey) -> PRNGKey:
    return jax.random.split(key)[1]

  def step_env(self, key: PRNGKey, state: TwoStepState, action: Array,
               params: TwoStepParams) -> tuple[TwoStepState, TimeStep]:
    draw_key, _ = jax.random.split(key)
    outcome = self.trial_outcome(state, action, params)
    trial = state.trial + 1
    last = trial >= self.trials_per_episode
    observation = jnp.concatenate([
        jax.nn.one_hot(outcome.stage2 + 1, 3), jax.nn.one_hot(action, 2),
        outcome.reward[None], (trial / self.trials_per_episode)[None].astype(jnp.float32)])
    next_state = TwoStepState(good=outcome.good, trial=trial, **trial_draws(draw_key))
    return next_state, TimeStep(observation=observation, reward=outcome.reward,
                                discount=1.0 - last.astype(jnp.float32), first=last,
                                last=last)

  def episode_metrics(self, states: TwoStepState, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """Reward per trial and the four stay probabilities (pooled over episodes)."""
    outcome = self.trial_outcomes(states, actions)
    stay = stay_counts(actions, outcome.reward, outcome.common, states.trial)
    metrics = {'mean_reward_per_trial': rewards.mean()}
    for name, (stays, total) in stay.items():
      metrics[f'stay_{name}'] = stays / jnp.maximum(total, 1)
    return metrics


CONDITIONS = (('rewarded_common', 1, True), ('rewarded_uncommon', 1, False),
              ('unrewarded_common', 0, True), ('unrewarded_uncommon', 0, False))


def stay_counts(actions: Array, rewards: Array, common: Array,
                trial: Array) -> dict[str, tuple[Array, Array]]:
  """(stays, trials) per condition of the previous trial, for [T, ...] arrays of whole
  episodes; a pair (t, t+1) counts when both are in one episode (trial[t+1] > 0)."""
  same_episode = trial[1:] > 0
  stay = actions[1:] == actions[:-1]
  out = {}
  for name, rewarded, is_common in CONDITIONS:
    cond = same_episode & (rewards[:-1] == rewarded) & (common[:-1] == is_common)
    out[name] = (jnp.sum(stay & cond), jnp.sum(cond))
  return out


class TwoStepWords(Words):
  """Stage-1 choices, transitions and rewards in the task's own terms."""

  def intro(self) -> str:
    p = self.env.default_params()
    common, reward, swap = (float(x) for x in (p.common_prob, p.reward_prob, p.swap_prob))
    return ('Two-step task: in stage 1 (state S0) choose 0 or 1. Choice 0 usually '
            f'(p = {common:g}) leads to stage-2 state S1, choice 1 usually to S2; otherwise '
            'to the other state (an uncommon transition). One stage-2 state pays 1 with '
            f'probability {reward:g}, the other with {1 - reward:g}, and they swap now and '
            f'then (p = {swap:g} per trial). {self.env.trials_per_episode} trials per '
            'episode.')

  def situation(self, step, state, timestep) -> str:
    return f'trial {step + 1}/{self.env.trials_per_episode}: stage 1 (S0)'

  def outcome(self, prev_state, action, timestep) -> str:
    result = jax.device_get(self.env.trial_outcome(prev_state, jnp.asarray(action),
                                                   self.env.default_params()))
    common = 'common' if bool(result.common) else 'uncommon'
    return (f'you chose {int(action)} -> stage 2: state S{int(result.stage2) + 1} ({common} '
            f'transition), reward {int(result.reward)}')

  def prompt(self, state) -> str:
    return 'choice [0: usually S1, 1: usually S2]'

  def show(self, action) -> str:
    return f'choice {int(action)}'


# The fields of the two-step task (Wang et al. 2018's values); episodic_two_step adds its own.
FIELDS = {
    'common_prob': rules.Real(0.0, 1.0, default=0.8),
    'reward_prob': rules.Real(0.0, 1.0, default=0.9),
    'swap_prob': rules.Real(0.0, 1.0, default=0.025),
    'trials_per_episode': rules.Int(2, default=100),
}

register('two_step', TwoStep, FIELDS, words=TwoStepWords)
