"""Harlow's (1949) learning-to-learn task, abstract, as Wang, Kurth-Nelson et al. (2018)
simulate it (simulation 5) without the 3-D rendering: the objects are fixed random vectors.

Each episode draws two different objects from a set of `num_objects`; one of them (drawn
too) is the episode's target. A trial is a fixation step (holding pays `fixation_reward`),
a choice step showing the two objects left and right in a random arrangement (a new one
every trial), and `iti_steps` steps of an interval. With `objects_at_outcome` the
interval's first step, which brings the choice's reward, still shows the two objects where
they were (as the paper's screen does while the reward for the image looked at comes),
the others are blank. Actions: 0 hold, 1 take the left object, 2 take
the right one. On the choice step the target pays `correct_reward`, the other object
`wrong_reward`, and holding there counts as a wrong choice. `trials_per_episode` trials an
episode. Trial 1 can only be a guess; from trial 2 on an agent that has learnt to learn
takes the object that paid.

The objects: 2 x `num_objects` vectors of `object_dim` numbers drawn from N(0, 1) with
numpy's generator seeded by `object_seed`; the first `num_objects` are the training set,
the others the held-out set (`object_set`). They live in the env params, so the same env
can be evaluated on either set (`objects_of`).

The observation: [fixation screen, choice screen, left object, right object (on the choice
screen, and on the outcome step with `objects_at_outcome`), previous action one-hot (3),
previous reward] (2 + 2 x object_dim + 4).

Random stream contract (the numpy reference in tests relies on it): `reset` splits its key
into (pair key, side key) and the pair key into (target key, offset key): the target is
randint(target key, 0, N), the other object (target + randint(offset key, 1, N)) % N; the
target is on the left when uniform(side key) < 0.5.
`step` splits its key into (side key, reset key); a new trial's arrangement is drawn from
the side key the same way.

Config fields (`FIELDS`): object_dim, num_objects, object_set, object_seed,
trials_per_episode, iti_steps, objects_at_outcome, fixation_reward, correct_reward,
wrong_reward.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from metarl import config_rules as rules
from metarl.envs import base
from metarl.envs.registry import register
from metarl.envs.words import Words
from metarl.types import Array, PRNGKey, TimeStep

FIXATION, CHOICE = 0, 1  # screens; the inter-trial interval's blank steps follow them
HOLD, LEFT, RIGHT = range(3)
OBJECT_SETS = ('train', 'test')


def object_vectors(num_objects: int, object_dim: int, seed: int) -> np.ndarray:
  """[2, num_objects, object_dim] float32: the training and the held-out objects."""
  rng = np.random.default_rng(seed)
  return rng.standard_normal((2, num_objects, object_dim)).astype(np.float32)


@base.env_params
class HarlowParams:
  objects: Array  # [num_objects, object_dim] the set episodes draw from
  fixation_reward: Array
  correct_reward: Array
  wrong_reward: Array


@chex.dataclass(frozen=True)
class HarlowState:
  target: Array  # int32, the episode's target object (an index into the set)
  other: Array  # int32, the other object
  target_left: Array  # bool, the target is on the left in this trial
  screen: Array  # int32, FIXATION, CHOICE, then the interval's steps
  trial: Array  # int32, trials already played in this episode


class Harlow(base.Environment):
  """Two objects an episode, one of them rewarded; fixation, choice, an interval."""

  def __init__(self, object_dim: int = 8, num_objects: int = 1000, object_set: str = 'train',
               object_seed: int = 0, trials_per_episode: int = 6, iti_steps: int = 2,
               objects_at_outcome: bool = False, fixation_reward: float = 0.2,
               correct_reward: float = 1.0, wrong_reward: float = -1.0):
    if object_set not in OBJECT_SETS:
      raise ValueError(f'object_set must be one of {OBJECT_SETS}, got {object_set!r}')
    if objects_at_outcome and iti_steps < 1:
      raise ValueError('objects_at_outcome shows the objects on the interval\'s first step: '
                       f'iti_steps must be at least 1, got {iti_steps}')
    self.objects_at_outcome = objects_at_outcome
    self.object_dim, self.num_objects = object_dim, num_objects
    self.object_set, self.object_seed = object_set, object_seed
    self.trials_per_episode, self.iti_steps = trials_per_episode, iti_steps
    self.steps_per_trial = 2 + iti_steps
    self._rewards = (fixation_reward, correct_reward, wrong_reward)

  @property
  def spec(self) -> base.EnvSpec:
    return base.EnvSpec(observation_shape=(2 * self.object_dim + 6,), num_actions=3)

  @property
  def max_episode_steps(self) -> int:
    return self.steps_per_trial * self.trials_per_episode

  def objects_of(self, object_set: str) -> np.ndarray:
    """[num_objects, object_dim] the training ('train') or held-out ('test') objects."""
    vectors = object_vectors(self.num_objects, self.object_dim, self.object_seed)
    return vectors[OBJECT_SETS.index(object_set)]

  def default_params(self) -> HarlowParams:
    fixation, correct, wrong = (jnp.asarray(r, jnp.float32) for r in self._rewards)
    return HarlowParams(objects=jnp.asarray(self.objects_of(self.object_set)),
                        fixation_reward=fixation, correct_reward=correct, wrong_reward=wrong)

  def observe(self, state: HarlowState, params: HarlowParams, action: Array,
              reward: Array) -> Array:
    shown = (state.screen == CHOICE) | (self.objects_at_outcome & (state.screen == CHOICE + 1))
    target, other = params.objects[state.target], params.objects[state.other]
    left = jnp.where(state.target_left, target, other) * shown
    right = jnp.where(state.target_left, other, target) * shown
    return jnp.concatenate([jax.nn.one_hot(state.screen, 2), left, right,
                            jax.nn.one_hot(action, 3), jnp.asarray(reward, jnp.float32)[None]])

  def reset(self, key: PRNGKey, params: HarlowParams) -> tuple[HarlowState, TimeStep]:
    pair_key, side_key = jax.random.split(key)
    n = params.objects.shape[0]
    target_key, offset_key = jax.random.split(pair_key)
    target = jax.random.randint(target_key, (), 0, n)
    other = (target + jax.random.randint(offset_key, (), 1, n)) % n  # any object but it
    zero = jnp.zeros((), jnp.int32)
    state = HarlowState(target=target.astype(jnp.int32), other=other.astype(jnp.int32),
                        target_left=jax.random.uniform(side_key) < 0.5, screen=zero,
                        trial=zero)
    return state, base.restart(self.observe(state, params, -1, 0.0))

  def reset_key(self, key: PRNGKey) -> PRNGKey:
    return jax.random.split(key)[1]

  def correct(self, state: HarlowState, action: Array) -> Array:
    """The action takes the target (meaningful on the choice screen)."""
    return jnp.where(state.target_left, action == LEFT, action == RIGHT)

  def step_env(self, key: PRNGKey, state: HarlowState, action: Array,
               params: HarlowParams) -> tuple[HarlowState, TimeStep]:
    side_key, _ = jax.random.split(key)
    choice_reward = jnp.where(self.correct(state, action), params.correct_reward,
                              params.wrong_reward)
    fixation_reward = jnp.where(action == HOLD, params.fixation_reward, 0.0)
    reward = jnp.where(state.screen == FIXATION, fixation_reward,
                       jnp.where(state.screen == CHOICE, choice_reward, 0.0))
    trial_over = state.screen == self.steps_per_trial - 1
    trial = state.trial + trial_over
    next_state = HarlowState(
        target=state.target, other=state.other,
        target_left=jnp.where(trial_over, jax.random.uniform(side_key) < 0.5,
                              state.target_left),
        screen=(state.screen + 1) % self.steps_per_trial, trial=trial)
    last = trial >= self.trials_per_episode
    reward = reward.astype(jnp.float32)
    return next_state, TimeStep(observation=self.observe(next_state, params, action, reward),
                                reward=reward, discount=1.0 - last.astype(jnp.float32),
                                first=last, last=last)

  def episode_metrics(self, states: HarlowState, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """The share of correct choices per trial of the episode, and of fixations held."""
    choice = states.screen == CHOICE
    correct = self.correct(states, actions) & choice
    out = {'fixation_held': ((actions == HOLD) & (states.screen == FIXATION)).sum()
           / jnp.maximum((states.screen == FIXATION).sum(), 1)}
    for n in range(self.trials_per_episode):
      at = choice & (states.trial == n)
      out[f'accuracy_trial_{n + 1}'] = correct.sum(where=at) / jnp.maximum(at.sum(), 1)
    return out


class HarlowWords(Words):
  """Objects shown as short names (letters of their index) left and right."""

  def intro(self) -> str:
    env = self.env
    return ('Each trial: hold (0) on the fixation screen for a small reward, then two '
            'objects appear left and right: take one (1: left, 2: right). One of the two is '
            f'the target all episode (+1), the other costs 1. {env.trials_per_episode} '
            'trials an episode, with the same two objects; their sides change at random.')

  def name(self, index) -> str:
    return f'object #{int(index)}'

  def situation(self, step, state, timestep) -> str:
    where = f'trial {int(state.trial) + 1}/{self.env.trials_per_episode}: '
    if int(state.screen) == FIXATION:
      return where + 'fixation'
    if int(state.screen) == CHOICE:
      left, right = ((state.target, state.other) if bool(state.target_left) else
                     (state.other, state.target))
      return where + f'left {self.name(left)}, right {self.name(right)}'
    return where + 'interval'

  def outcome(self, prev_state, action, timestep) -> str:
    reward = float(timestep.reward)
    return f'reward {reward:g}' if reward else ''

  def prompt(self, state) -> str:
    return 'take [1: left, 2: right]' if int(state.screen) == CHOICE else 'hold [0]'


FIELDS = {
    'object_dim': rules.Int(1, default=8),  # numbers per object vector
    'num_objects': rules.Int(2, default=1000),  # objects per set (training and held-out)
    'object_set': rules.Choice(OBJECT_SETS, default='train'),  # the set episodes draw from
    'object_seed': rules.Int(0, default=0),  # draws both sets' vectors
    'trials_per_episode': rules.Int(1, default=6),
    'iti_steps': rules.Int(0, default=2),  # steps of the interval after each choice
    # True: the interval's first step (the outcome) still shows the two objects
    'objects_at_outcome': rules.Bool(default=False),
    'fixation_reward': rules.Real(default=0.2),
    'correct_reward': rules.Real(default=1.0),
    'wrong_reward': rules.Real(default=-1.0),
}

register('harlow', Harlow, FIELDS, words=HarlowWords)
