"""The functional environment interface every metarl task implements.

Environments are pure (gymnax style): `reset(key, params)` and `step(key, state, action,
params)` return `(state, TimeStep)`, jit and vmap over keys, states and params, and reset
automatically at the end of an episode (see `metarl.types.TimeStep` for the convention).
An environment writes `step_env`, one transition that flags the episode's end with `last`;
`Environment.step` does the auto-reset around it, here once for every env. Static settings
that fix array shapes (number of arms, episode length) live on the environment object;
numbers that may differ between vmapped copies live in its `EnvParams`, a frozen
`chex.dataclass` (`env_params`).
"""

import abc
import dataclasses
from typing import Any, NamedTuple

import chex
import jax

from metarl.types import Array, PRNGKey, TimeStep


class EnvSpec(NamedTuple):
  """What an agent needs to know to be built for an environment.

  Discrete-action envs set `num_actions` (actions are integers in [0, num_actions)).
  Continuous-action envs set `num_actions=0` and `action_dim` > 0: actions are float vectors
  [action_dim] in [-1, 1], which the environment scales to its own range (e.g. pendulum
  torque 2 * a). Envs without actions (cue_reward) have both 0.
  """
  observation_shape: tuple[int, ...]
  num_actions: int  # number of discrete actions (0 for continuous or no actions)
  action_dim: int = 0  # size of a continuous action in [-1, 1] (0 for discrete)


class Environment(abc.ABC):
  """A pure, jittable, auto-resetting environment."""

  @property
  @abc.abstractmethod
  def spec(self) -> EnvSpec:
    """Observation shape and the actions allowed."""

  @property
  def max_episode_steps(self) -> int | None:
    """Steps in every episode when that number is fixed, else None."""
    return None

  @abc.abstractmethod
  def default_params(self) -> Any:
    """The `EnvParams` of the configured task distribution."""

  @abc.abstractmethod
  def reset(self, key: PRNGKey, params: Any) -> tuple[Any, TimeStep]:
    """Starts an episode: returns its state and a time step with `first=True`."""

  @abc.abstractmethod
  def step_env(self, key: PRNGKey, state: Any, action: Array,
               params: Any) -> tuple[Any, TimeStep]:
    """One transition: the state after `action` and its time step, whose `last` says that
    the episode ended (its `first` is not read). The state and observation at an episode's
    end are replaced by `step` with those of the next episode's `reset`."""

  def reset_key(self, key: PRNGKey) -> PRNGKey:
    """The key `step(key, ...)` resets with when an episode ends (by default `key` itself;
    an env whose `step_env` splits its key names the part it keeps for the reset)."""
    return key

  def step(self, key: PRNGKey, state: Any, action: Array, params: Any,
           reset_key: PRNGKey | None = None) -> tuple[Any, TimeStep]:
    """Applies `action`; starts the next episode itself when this one ends: the time step
    keeps the transition's reward and discount, and holds the next episode's first
    observation with `first=True` (`metarl.types.TimeStep`). `reset_key`, if given, is the
    key that next episode starts from instead of `reset_key(key)` (copies of the env given
    the same one start the same task: `metarl.rollout.make_rollout`'s task groups)."""
    next_state, timestep = self.step_env(key, state, action, params)
    if reset_key is None:
      reset_key = self.reset_key(key)
    reset_state, reset_timestep = self.reset(reset_key, params)
    last = jax.numpy.asarray(timestep.last, bool)
    next_state = jax.tree_util.tree_map(lambda r, c: jax.numpy.where(last, r, c),
                                        reset_state, next_state)
    observation = jax.numpy.where(last, reset_timestep.observation, timestep.observation)
    return next_state, TimeStep(observation=observation, reward=timestep.reward,
                                discount=timestep.discount, first=last, last=last)

  def episode_metrics(self, states: Any, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """Scalar quality measures of whole episodes, for evaluation.

    Args:
      states: env states before each action, leaves shaped [T, B, ...] where T covers
        whole episodes starting at a reset.
      actions: [T, B] actions taken.
      rewards: [T, B] rewards received for them.

    Returns:
      A flat dict of scalar arrays (averaged over episodes).
    """
    del states, actions
    return {'mean_reward_per_step': rewards.mean()}


def env_params(cls):
  """The decorator of an env's `EnvParams`: a frozen dataclass of arrays that vmaps."""
  return chex.dataclass(frozen=True)(cls)


def restart(observation: Array) -> TimeStep:
  """The time step `reset` returns: `observation` starts an episode, no reward yet."""
  return TimeStep(observation=observation, reward=jax.numpy.zeros((), jax.numpy.float32),
                  discount=jax.numpy.ones((), jax.numpy.float32),
                  first=jax.numpy.ones((), bool), last=jax.numpy.zeros((), bool))


def batch_params(params: Any, batch_size: int) -> Any:
  """Stacks one `EnvParams` `batch_size` times, for envs vmapped over params."""
  return jax.tree_util.tree_map(
      lambda x: jax.numpy.broadcast_to(x, (batch_size,) + jax.numpy.shape(x)), params)


def param_fields(params: Any) -> tuple[str, ...]:
  """Field names of an `EnvParams` (or of an env state: a dataclass or a NamedTuple)."""
  if hasattr(params, '_fields'):
    return tuple(params._fields)
  return tuple(f.name for f in dataclasses.fields(params))


def replace_params(params: Any, **changes) -> Any:
  """`params` (an `EnvParams`) with some fields replaced."""
  return dataclasses.replace(params, **changes)
