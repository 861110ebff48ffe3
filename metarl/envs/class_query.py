"""The noisy class-query task of S. Bartunov's lecture "Deep RL with memory".

An episode draws a class c in {-1, +1}. For the first `cue_steps` steps the observation shows
c plus Gaussian noise, then `delay` steps show pure noise, then one query step asks for the
class. The answer at the query (action 0 means -1, action 1 means +1) is paid
`reward_correct` when it equals c and `reward_wrong` otherwise, and ends the episode
(a termination: discount 0). Actions before the query are ignored and pay 0.

Observation: [x, query] with x = c * [cue step] + noise_scale * N(0, 1) before the query,
x = 0 at the query, and query = 1 only at the query step. An episode has
cue_steps + delay + 1 steps.

`delay` is a field of `ClassQueryParams` (an array, not a shape), so a curriculum can grow it
while a jitted training loop runs; each episode keeps the delay it was reset with.

Random stream contract (the numpy reference in tests relies on it): `reset(key)` draws
c = 2 * bernoulli(k1, 0.5) - 1 and the first noise normal(k2) with k1, k2 = split(key);
`step(key)` draws the next noise as normal(fold_in(key, 1)) and, when the episode ends,
returns `reset(key)` itself.

Config fields (`FIELDS`): cue_steps, delay, noise_scale, reward_correct, reward_wrong.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from metarl import config_rules as rules
from metarl.envs import base
from metarl.envs.registry import register
from metarl.envs.words import Words
from metarl.types import Array, PRNGKey, TimeStep


@base.env_params
class ClassQueryParams:
  delay: Array  # int32 noise-only steps between the last cue step and the query
  noise_scale: Array  # float32 standard deviation of the observation noise
  reward_correct: Array  # float32
  reward_wrong: Array  # float32


class ClassQueryState(NamedTuple):
  cls: Array  # int32 the class, -1 or +1
  t: Array  # int32 steps already taken in this episode (the observation shown is step t's)
  delay: Array  # int32 this episode's delay


class ClassQuery(base.Environment):
  """Remember the sign of a noisy cue over a noisy delay; answer it at the query."""

  def __init__(self, cue_steps: int = 5, delay: int = 100, noise_scale: float = 1.0,
               reward_correct: float = 1.0, reward_wrong: float = -1.0):
    """`delay` is the task's delay and the longest a curriculum grows to: evaluation runs
    `max_episode_steps` = cue_steps + delay + 1 steps, one whole episode at any delay."""
    self.cue_steps = cue_steps
    self.delay = delay
    self._noise_scale = noise_scale
    self._rewards = (reward_correct, reward_wrong)

  @property
  def spec(self) -> base.EnvSpec:
    return base.EnvSpec(observation_shape=(2,), num_actions=2)

  @property
  def max_episode_steps(self) -> int:
    return self.episode_length(self.delay)

  def episode_length(self, delay: int) -> int:
    return self.cue_steps + delay + 1

  def default_params(self) -> ClassQueryParams:
    return ClassQueryParams(delay=jnp.asarray(self.delay, jnp.int32),
                            noise_scale=jnp.asarray(self._noise_scale, jnp.float32),
                            reward_correct=jnp.asarray(self._rewards[0], jnp.float32),
                            reward_wrong=jnp.asarray(self._rewards[1], jnp.float32))

  def _observation(self, state: ClassQueryState, noise: Array,
                   params: ClassQueryParams) -> Array:
    query = state.t >= self.cue_steps + state.delay
    cue = jnp.where(state.t < self.cue_steps, state.cls, 0).astype(jnp.float32)
    x = jnp.where(query, 0.0, cue + params.noise_scale * noise)
    return jnp.stack([x, query.astype(jnp.float32)])

  def reset(self, key: PRNGKey,
            params: ClassQueryParams) -> tuple[ClassQueryState, TimeStep]:
    class_key, noise_key = jax.random.split(key)
    cls = 2 * jax.random.bernoulli(class_key, 0.5).astype(jnp.int32) - 1
    state = ClassQueryState(cls=cls, t=jnp.zeros((), jnp.int32),
                            delay=jnp.asarray(params.delay, jnp.int32))
    noise = jax.random.normal(noise_key, (), jnp.float32)
    return state, base.restart(self._observation(state, noise, params))

  def step_env(self, key: PRNGKey, state: ClassQueryState, action: Array,
               params: ClassQueryParams) -> tuple[ClassQueryState, TimeStep]:
    query = state.t >= self.cue_steps + state.delay
    answer = 2 * jnp.asarray(action, jnp.int32) - 1
    paid = jnp.where(answer == state.cls, params.reward_correct, params.reward_wrong)
    reward = jnp.where(query, paid, 0.0).astype(jnp.float32)
    next_state = state._replace(t=state.t + 1)
    noise = jax.random.normal(jax.random.fold_in(key, 1), (), jnp.float32)
    observation = self._observation(next_state, noise, params)
    return next_state, TimeStep(observation=observation, reward=reward,
                                discount=1.0 - query.astype(jnp.float32), first=query,
                                last=query)

  def is_query(self, states: ClassQueryState) -> Array:
    """True where the state is a query step (any leading batch shape)."""
    return states.t >= self.cue_steps + states.delay

  def episode_metrics(self, states: ClassQueryState, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """The fraction of queries answered right, over every query in the window.

    Returns:
      {'success', 'mean_episode_return', 'queries'}: 'queries' counts the episodes that
      reached their query (those cut by the end of the window are left out).
    """
    query = self.is_query(states)
    answer = 2 * actions.astype(jnp.int32) - 1
    right = jnp.sum(query & (answer == states.cls))
    queries = jnp.sum(query)
    n = jnp.maximum(queries, 1)
    return {'success': right / n, 'mean_episode_return': jnp.sum(rewards * query) / n,
            'queries': queries.astype(jnp.float32)}


class ClassQueryWords(Words):
  """The noisy cue, the query, and the answer against the class."""

  def intro(self) -> str:
    env, p = self.env, self.env.default_params()
    return (f'Class query: for the first {env.cue_steps} steps x shows the class (-1 or +1) '
            f'plus noise (scale {float(p.noise_scale):g}), then {env.delay} steps show noise '
            'only, then comes the QUERY: answer 0 for class -1, 1 for class +1 (right pays '
            f'{float(p.reward_correct):g}, wrong {float(p.reward_wrong):g}). Before the query '
            'your action is ignored: press Enter.')

  def situation(self, step, state, timestep) -> str:
    length = self.env.cue_steps + int(state.delay) + 1
    if bool(self.env.is_query(state)):
      return f'step {int(state.t) + 1}/{length}: QUERY - which class, -1 or +1?'
    return f'step {int(state.t) + 1}/{length}: x = {float(timestep.observation[0]):+.2f}'

  def outcome(self, prev_state, action, timestep) -> str:
    if not bool(self.env.is_query(prev_state)):
      return ''
    return (f'you answered {2 * int(action) - 1:+d}, the class was {int(prev_state.cls):+d}: '
            f'reward {float(timestep.reward):g}')

  def prompt(self, state) -> str:
    return 'answer [0: -1, 1: +1]' if bool(self.env.is_query(state)) else '(Enter)'

  def default(self, state) -> Any | None:
    return None if bool(self.env.is_query(state)) else np.int32(0)

  def show(self, action) -> str:
    return f'answer {2 * int(action) - 1:+d}'


FIELDS = {
    'cue_steps': rules.Int(1, default=5),
    'delay': rules.Int(0, default=100),
    'noise_scale': rules.Real(0.0, default=1.0),
    'reward_correct': rules.Real(default=1.0),
    'reward_wrong': rules.Real(default=-1.0),
}

register('class_query', ClassQuery, FIELDS, words=ClassQueryWords)
