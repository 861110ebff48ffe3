"""The episodic two-step task (Ritter et al. 2018; BKHMSI/Meta-RL-TwoStep-Task).

Two-step trials (see `two_step.py`) with contexts. In an episode of 100 trials, trials 0-49
are uncued: each draws a fresh random binary context, and the env remembers the context with
the stage-2 state reached and the reward. Trials 50-99 are cued: each presents again the
context of an earlier uncued trial (trials 50-74 one of trials 0-24, trials 75-99 one of
trials 25-49: the matching half), and reaching the same stage-2 state as then repeats that
trial's reward; reaching the other state pays as usual. An agent that recalls the episode
can earn more on cued trials than the task's statistics allow.

Observation (`OBS`, 29 numbers): the two-step observation (7: state reached, action, reward,
trial index / trials per episode), then the coming trial's context and a cued flag (the DND
read key), then the finished trial's context and an uncued flag (the DND write key and write
flag: the cell state that has just seen the outcome is stored under the finished trial's
context). Each trial's draws live in the state, so `trial_outcome` is exact, as for
`TwoStep`.

Config fields (`FIELDS`): those of the two-step task, trials_per_episode a multiple of 4,
and context_size.
"""


import chex
import jax
import jax.numpy as jnp
import numpy as np

from metarl import config_rules as rules
from metarl.envs import base, two_step
from metarl.envs.registry import register
from metarl.envs.two_step import (
  TrialOutcome,
  TwoStep,
  TwoStepParams,
  TwoStepWords,
  stay_counts,
  trial_draws,
)
from metarl.types import Array, PRNGKey, TimeStep


class ObsLayout:
  """Slices of the observation vector."""

  def __init__(self, context_size: int):
    self.task = slice(0, 7)
    self.read_key = slice(7, 7 + context_size)
    self.cued = 7 + context_size
    self.write_key = slice(8 + context_size, 8 + 2 * context_size)
    self.write = 8 + 2 * context_size
    self.size = 9 + 2 * context_size


@chex.dataclass(frozen=True)
class EpisodicTwoStepState:
  good: Array
  trial: Array
  u_swap: Array
  u_transition: Array
  u_reward: Array
  context: Array  # [K] the coming trial's context
  cue_index: Array  # int32: the uncued trial whose context is presented again, -1 if none
  memory_context: Array  # [uncued_trials, K] contexts of the uncued trials so far
  memory_stage2: Array  # [uncued_trials] int32
  memory_reward: Array  # [uncued_trials] float


class EpisodicTwoStep(TwoStep):
  """Two-step trials with contexts, uncued then cued (Ritter et al. 2018)."""

  def __init__(self, common_prob: float = 0.8, reward_prob: float = 0.9,
               swap_prob: float = 0.025, trials_per_episode: int = 100,
               context_size: int = 10):
    if trials_per_episode % 4:
      raise ValueError('trials_per_episode must be a multiple of 4 (two halves of uncued '
                       'and cued trials)')
    super().__init__(common_prob, reward_prob, swap_prob, trials_per_episode)
    self.context_size = context_size
    self.uncued_trials = trials_per_episode // 2
    self.layout = ObsLayout(context_size)

  @property
  def spec(self) -> base.EnvSpec:
    return base.EnvSpec(observation_shape=(self.layout.size,), num_actions=2)

  def _next_context(self, key: PRNGKey, trial: Array, memory_context: Array):
    """The context of trial `trial`: fresh if uncued, else one of the matching half."""
    context_key, pick_key = jax.random.split(key)
    fresh = jax.random.bernoulli(context_key, 0.5, (self.context_size,)).astype(jnp.float32)
    half = self.uncued_trials // 2
    second = trial >= self.uncued_trials + half
    index = jax.random.randint(pick_key, (), 0, half) + jnp.where(second, half, 0)
    cued = trial >= self.uncued_trials
    return (jnp.where(cued, memory_context[index], fresh),
            jnp.where(cued, index, -1).astype(jnp.int32))

  def trial_outcome(self, state: EpisodicTwoStepState, action: Array,
                    params: TwoStepParams) -> TrialOutcome:
    outcome = super().trial_outcome(state, action, params)
    index = jnp.maximum(state.cue_index, 0)
    recalled = (state.cue_index >= 0) & (outcome.stage2 == state.memory_stage2[index])
    return outcome._replace(reward=jnp.where(recalled, state.memory_reward[index],
                                             outcome.reward))

  def _observation(self, task_obs: Array, state: EpisodicTwoStepState,
                   previous_context: Array, previous_uncued: Array) -> Array:
    return jnp.concatenate([
        task_obs, state.context, (state.cue_index >= 0)[None].astype(jnp.float32),
        previous_context, previous_uncued[None].astype(jnp.float32)])

  def reset(self, key: PRNGKey,
            params: TwoStepParams) -> tuple[EpisodicTwoStepState, TimeStep]:
    good_key, draw_key, context_key = jax.random.split(key, 3)
    memory_context = jnp.zeros((self.uncued_trials, self.context_size), jnp.float32)
    context, cue_index = self._next_context(context_key, jnp.zeros((), jnp.int32),
                                            memory_context)
    state = EpisodicTwoStepState(
        good=jax.random.randint(good_key, (), 0, 2), trial=jnp.zeros((), jnp.int32),
        context=context, cue_index=cue_index, memory_context=memory_context,
        memory_stage2=jnp.zeros((self.uncued_trials,), jnp.int32),
        memory_reward=jnp.zeros((self.uncued_trials,), jnp.float32), **trial_draws(draw_key))
    task_obs = jnp.zeros((7,), jnp.float32).at[0].set(1.0)
    observation = self._observation(task_obs, state, jnp.zeros(self.context_size),
                                    jnp.zeros((), bool))
    return state, base.restart(observation)

  def reset_key(self, key: PRNGKey) -> PRNGKey:
    return jax.random.split(key, 3)[2]

  def step_env(self, key: PRNGKey, state: EpisodicTwoStepState, action: Array,
               params: TwoStepParams) -> tuple[EpisodicTwoStepState, TimeStep]:
    draw_key, context_key, _ = jax.random.split(key, 3)
    outcome = self.trial_outcome(state, action, params)
    uncued = state.cue_index < 0
    slot = jnp.minimum(state.trial, self.uncued_trials - 1)

    def remember(memory, value):
      return memory.at[slot].set(jnp.where(uncued, value, memory[slot]))

    memory_context = remember(state.memory_context, state.context)
    trial = state.trial + 1
    last = trial >= self.trials_per_episode
    context, cue_index = self._next_context(context_key, trial, memory_context)
    next_state = EpisodicTwoStepState(
        good=outcome.good, trial=trial, context=context, cue_index=cue_index,
        memory_context=memory_context,
        memory_stage2=remember(state.memory_stage2, outcome.stage2),
        memory_reward=remember(state.memory_reward, outcome.reward), **trial_draws(draw_key))
    task_obs = jnp.concatenate([
        jax.nn.one_hot(outcome.stage2 + 1, 3), jax.nn.one_hot(action, 2),
        outcome.reward[None], (trial / self.trials_per_episode)[None].astype(jnp.float32)])
    observation = self._observation(task_obs, next_state, state.context, uncued)
    return next_state, TimeStep(observation=observation, reward=outcome.reward,
                                discount=1.0 - last.astype(jnp.float32), first=last,
                                last=last)

  def episode_metrics(self, states: EpisodicTwoStepState, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """Reward per trial overall, on uncued and on cued trials; stay probabilities of uncued
    trials (pairs within the uncued half)."""
    outcome = self.trial_outcomes(states, actions)
    cued = states.cue_index >= 0
    metrics = {'mean_reward_per_trial': rewards.mean(),
               'reward_uncued': jnp.sum(jnp.where(cued, 0.0, rewards)) / jnp.maximum(
                   jnp.sum(~cued), 1),
               'reward_cued': jnp.sum(jnp.where(cued, rewards, 0.0)) / jnp.maximum(
                   jnp.sum(cued), 1)}
    # Stay pairs inside the uncued half only: mark pairs that cross into it as new episodes.
    trial = jnp.where(cued, 0, states.trial)
    for name, (stays, total) in stay_counts(actions, outcome.reward, outcome.common,
                                            trial).items():
      metrics[f'stay_{name}'] = stays / jnp.maximum(total, 1)
    return metrics


class EpisodicTwoStepWords(TwoStepWords):
  """The two-step words with each trial's context and whether it was seen before."""

  def intro(self) -> str:
    half = self.env.trials_per_episode // 2
    return (super().intro() + f' Every trial shows a context (a bit string). Trials 1-{half} '
            f'are uncued (a new context each); in trials {half + 1}-'
            f'{self.env.trials_per_episode} each context is one seen before, and reaching '
            'the stage-2 state reached then pays what it paid then.')

  def situation(self, step, state, timestep) -> str:
    layout = self.env.layout
    obs = np.asarray(timestep.observation)
    context = ''.join(str(int(b)) for b in obs[layout.read_key])
    seen = 'seen before' if obs[layout.cued] > 0.5 else 'new'
    return f'{super().situation(step, state, timestep)}, context {context} ({seen})'


FIELDS = {
    **two_step.FIELDS,
    'trials_per_episode': rules.Custom(
        lambda v: rules.is_int(v) and 4 <= v <= rules.INT32_MAX and v % 4 == 0,
        'a multiple of 4 is required (uncued then cued trials, each in two halves)', int,
        default=100),
    'context_size': rules.Int(1, default=10),
}

register('episodic_two_step', EpisodicTwoStep, FIELDS, words=EpisodicTwoStepWords)
