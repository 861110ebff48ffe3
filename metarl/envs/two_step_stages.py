"""The two-step task with its second stage as a step of its own (Miller et al. 2017's
version, as Wang, Kurth-Nelson et al. 2018 simulate it in simulation 4).

The rules are `metarl.envs.two_step`'s (the common transition, the good state's reward
probability and its swaps), but a trial takes two steps: the stage-1 choice, after which
the observation shows the stage-2 state reached (no reward yet), then a stage-2 step whose
action does nothing and after which the reward comes. So the agent's value at the second
stage, before the outcome, is there to read: the RPE of arriving at the second stage is
r + gamma V(stage 2) - V(stage 1), with r = 0 (`metarl.analysis.two_step_rpe`).

The observation has two_step's 7 numbers: [one-hot state shown (S0, S1, S2), one-hot
stage-1 action of the trial (of the last trial on S0), reward (after the stage-2 step),
trials played / trials per episode]. The state holds two_step's fields plus `stage`; a
trial's outcome is drawn as two_step draws it, from the state at its stage-1 step
(`TwoStep.trial_outcome`), so the analyses rebuild every trial from the recorded stage-1
states. Random stream contract: two_step's, with the draws of a trial made at the step that
ends the one before it (stage 2) and kept through its stage-1 step.

Config fields (`FIELDS`): those of two_step.
"""

import chex
import jax
import jax.numpy as jnp

from metarl.envs.registry import register
from metarl.envs.two_step import FIELDS, TwoStep, TwoStepParams, TwoStepWords, trial_draws
from metarl.types import Array, PRNGKey, TimeStep

STAGE_1, STAGE_2 = 0, 1


@chex.dataclass(frozen=True)
class TwoStepStagesState:
  good: Array  # int32, the good state before this trial's swap (after it on stage 2)
  trial: Array  # int32, trials already played in this episode
  u_swap: Array  # the trial's uniform draws
  u_transition: Array
  u_reward: Array
  stage: Array  # int32, STAGE_1 or STAGE_2: the step the coming action answers
  choice: Array  # int32, the trial's stage-1 action (on stage 2)
  stage2: Array  # int32, the stage-2 state reached (0 = S1, 1 = S2; on stage 2)
  reward: Array  # float32, what the stage-2 step will pay (on stage 2)


class TwoStepStages(TwoStep):
  """Two-step task, two steps per trial: the stage-1 choice, then the second stage."""

  @property
  def max_episode_steps(self) -> int:
    return 2 * self.trials_per_episode

  def reset(self, key: PRNGKey, params: TwoStepParams
            ) -> tuple[TwoStepStagesState, TimeStep]:
    state, timestep = super().reset(key, params)
    zero = jnp.zeros((), jnp.int32)
    return TwoStepStagesState(**state, stage=zero, choice=zero, stage2=zero,
                              reward=jnp.zeros((), jnp.float32)), timestep

  def step_env(self, key: PRNGKey, state: TwoStepStagesState, action: Array,
               params: TwoStepParams) -> tuple[TwoStepStagesState, TimeStep]:
    draw_key, _ = jax.random.split(key)
    on_stage_1 = state.stage == STAGE_1
    outcome = self.trial_outcome(state, action, params)
    trial = state.trial + (1 - on_stage_1)
    last = trial >= self.trials_per_episode
    # stage 1 -> 2: keep the trial's draws, note what it reached and will pay;
    # stage 2 -> 1: the next trial's draws
    draws = trial_draws(draw_key)
    keep = lambda now, new: jnp.where(on_stage_1, now, new)  # noqa: E731
    next_state = TwoStepStagesState(
        good=keep(outcome.good, state.good), trial=trial,
        u_swap=keep(state.u_swap, draws['u_swap']),
        u_transition=keep(state.u_transition, draws['u_transition']),
        u_reward=keep(state.u_reward, draws['u_reward']),
        stage=1 - state.stage, choice=keep(action, state.choice).astype(jnp.int32),
        stage2=keep(outcome.stage2, state.stage2),
        reward=keep(outcome.reward, 0.0))
    reward = jnp.where(on_stage_1, 0.0, state.reward).astype(jnp.float32)
    shown = jnp.where(on_stage_1, outcome.stage2 + 1, 0)
    # the trial's stage-1 action: this action on stage 1, kept in the observation on stage 2
    first_action = jnp.where(on_stage_1, action, state.choice)
    observation = jnp.concatenate([
        jax.nn.one_hot(shown, 3), jax.nn.one_hot(first_action, 2), reward[None],
        (trial / self.trials_per_episode)[None].astype(jnp.float32)])
    return next_state, TimeStep(observation=observation, reward=reward,
                                discount=1.0 - last.astype(jnp.float32), first=last,
                                last=last)

  def episode_metrics(self, states: TwoStepStagesState, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """two_step's metrics of the stage-1 steps (whole episodes start at even steps)."""
    first, choices = stage_1_steps(states, actions)
    return super().episode_metrics(first, choices, rewards[1::2])


def stage_1_steps(states, actions: Array):
  """The stage-1 steps of [T, ...] whole episodes (every other step from the first)."""
  return jax.tree_util.tree_map(lambda x: x[::2], states), actions[::2]


class TwoStepStagesWords(TwoStepWords):
  """two_step's words, a step per stage."""

  def situation(self, step, state, timestep) -> str:
    trial = f'trial {int(state.trial) + 1}/{self.env.trials_per_episode}'
    if int(state.stage) == STAGE_1:
      return f'{trial}: stage 1 (S0)'
    return f'{trial}: stage 2, state S{int(state.stage2) + 1} (any key goes on)'

  def outcome(self, prev_state, action, timestep) -> str:
    if int(prev_state.stage) == STAGE_1:
      return super().outcome(prev_state, action, timestep).split(', reward')[0]
    return f'reward {int(timestep.reward)}'

  def prompt(self, state) -> str:
    if int(state.stage) == STAGE_1:
      return super().prompt(state)
    return 'go on [0-1]'


register('two_step_stages', TwoStepStages, dict(FIELDS), words=TwoStepStagesWords)
