"""The one jitted, vmapped unroll of an agent in an environment.

`num_envs` copies of an environment (vmapped over keys, states and `EnvParams`) step together
for `unroll_length` steps inside one `lax.scan`; the agent acts on all of them with one batched
network call per step. Workers, evaluators and single-process training all use this function,
so what is measured is what is trained.

The carried `RolloutState` is a NamedTuple (not a positional tuple) so that the state of a
run is readable: env states, the current time steps, the agent's recurrent state, and a key.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from metarl.envs.base import Environment, batch_params, replace_params
from metarl.types import Array, Params, PRNGKey, TimeStep


class Actor(NamedTuple):
  """What the rollout needs from an agent.

  initial_state(batch_size) -> recurrent state.
  step(params, key, timestep [B], state) -> (action [B], extras dict of [B, ...], state):
    acts on `timestep.observation`, resetting the state first where `timestep.first`.
  """
  initial_state: Callable[[int], Any]
  step: Callable[..., Any]


class RolloutState(NamedTuple):
  env_state: Any  # [B, ...]
  timestep: TimeStep  # [B]: the time step the agent acts on next
  core_state: Any  # [B, ...]: agent state before acting on `timestep`
  key: PRNGKey
  env_params: Any  # [B, ...] the `EnvParams` episodes are reset with (see `set_env_params`)


class Trajectory(NamedTuple):
  """A [T, B] chunk. Index t: the agent saw observation[t] (first[t]), took action[t],
  then got reward[t], discount[t] and last[t]. observation/first have T + 1 entries:
  the last is where the next chunk starts (for bootstrapping)."""
  observation: Array  # [T + 1, B, ...]
  first: Array  # [T + 1, B]
  action: Array  # [T, B]
  reward: Array  # [T, B]
  discount: Array  # [T, B]
  last: Array  # [T, B]
  extras: dict[str, Array]  # [T, B, ...] what the actor reported (logits, values, ...)
  core_state: Any  # [B, ...] agent state before observation[0]
  env_state: Any | None = None  # [T, B, ...] env states acted in, when recorded


def assert_trajectory(trajectory: Trajectory) -> None:
  """chex checks of a [T, B] chunk: observation and first [T + 1, B, ...], action, reward,
  discount and last [T, B]; first and last bool, reward and discount floats."""
  steps = trajectory.reward
  chex.assert_rank([trajectory.first, steps, trajectory.discount, trajectory.last], 2)
  chex.assert_equal_shape([steps, trajectory.discount, trajectory.last])
  chex.assert_equal_shape_prefix([steps, trajectory.action], 2)
  chex.assert_shape(trajectory.first, (steps.shape[0] + 1, steps.shape[1]))
  chex.assert_equal_shape_prefix([trajectory.first, trajectory.observation], 2)
  chex.assert_type([trajectory.first, trajectory.last], bool)
  chex.assert_type([steps, trajectory.discount], float)


class Rollout(NamedTuple):
  init: Callable[..., RolloutState]  # (key, params_override=None) -> RolloutState
  unroll: Callable[[Params, RolloutState], Any]  # -> (RolloutState, Trajectory)


def make_rollout(env: Environment, actor: Actor, num_envs: int, unroll_length: int,
                 env_params: Any = None, record_env_state: bool = False,
                 reset_each_unroll: bool = False, task_group_size: int = 1) -> Rollout:
  """Builds the init and unroll functions of a batched rollout (not jitted: callers jit
  at their own boundary, so the unroll can be fused with a loss and an update).

  Args:
    env: the environment.
    actor: the agent's acting functions.
    num_envs: B, the number of environment copies stepped together.
    unroll_length: T, steps per `unroll` call.
    env_params: one `EnvParams` shared by all copies (default: `env.default_params()`), or
      params already batched with a leading [B] axis (e.g. one fixed task per copy).
    record_env_state: also return the env state of every step (for evaluation metrics).
    reset_each_unroll: start every unroll with new episodes and a fresh recurrent state
      (whole episodes in one chunk get full BPTT; one longer than the chunk is cut and
      bootstraps from its value). False: chunks continue the episodes in progress, carrying
      the recurrent state across (truncated BPTT).
    task_group_size: K; copies [gK, (g + 1)K) form group g, and the copies of a group that
      start an episode at the same step start it from the same reset key: the same task
      (whatever the env's reset draws, e.g. a bandit's arm probabilities), played with
      rewards of their own. Groups of episodes on one task let a learner compare them
      (PPO's `task_group_size`). 1: every copy draws its own.

  Returns:
    `Rollout(init(key) -> RolloutState, unroll(params, state) -> (state, Trajectory))`.
  """
  if env_params is None:
    env_params = env.default_params()
  leaves = jax.tree_util.tree_leaves(env_params)
  default_ndim = [jnp.ndim(x) for x in jax.tree_util.tree_leaves(env.default_params())]
  if not [jnp.ndim(x) for x in leaves] == [d + 1 for d in default_ndim]:
    env_params = batch_params(env_params, num_envs)
  if task_group_size < 1 or num_envs % task_group_size:
    raise ValueError(f'task_group_size {task_group_size} must divide num_envs {num_envs}')
  v_reset = jax.vmap(env.reset)
  v_step = jax.vmap(env.step)

  def group_keys(key: PRNGKey) -> PRNGKey:
    """[B] keys, one per group, each repeated for the K copies of its group."""
    return jnp.repeat(jax.random.split(key, num_envs // task_group_size), task_group_size,
                      axis=0)

  def init(key: PRNGKey, params_override: Any = None) -> RolloutState:
    """A fresh state; `params_override` replaces the env params (same structure)."""
    batched = env_params if params_override is None else params_override
    key, reset_key = jax.random.split(key)
    reset_keys = (jax.random.split(reset_key, num_envs) if task_group_size == 1
                  else group_keys(reset_key))
    env_state, timestep = v_reset(reset_keys, batched)
    state = RolloutState(env_state=env_state, timestep=timestep,
                         core_state=actor.initial_state(num_envs), key=key,
                         env_params=batched)
    # Own buffers for every leaf (a reset may hand a params array through unchanged), so a
    # jitted loop can donate the state.
    return jax.tree_util.tree_map(jnp.array, state)

  def unroll(params: Params, state: RolloutState):
    chex.assert_shape([state.timestep.first, state.timestep.reward], (num_envs,))
    chex.assert_equal_shape_prefix([state.timestep.first, state.timestep.observation], 1)
    if reset_each_unroll:
      key, init_key = jax.random.split(state.key)
      state = init(init_key, state.env_params)._replace(key=key)

    def one_step(carry: RolloutState, _):
      key, act_key, env_key = jax.random.split(carry.key, 3)
      action, extras, core_state = actor.step(params, act_key, carry.timestep,
                                              carry.core_state)
      step_keys = jax.random.split(env_key, num_envs)
      if task_group_size == 1:
        env_state, timestep = v_step(step_keys, carry.env_state, action, carry.env_params)
      else:
        key, group_key = jax.random.split(key)
        env_state, timestep = v_step(step_keys, carry.env_state, action, carry.env_params,
                                     group_keys(group_key))
      out = dict(observation=carry.timestep.observation, first=carry.timestep.first,
                 action=action, reward=timestep.reward, discount=timestep.discount,
                 last=timestep.last, extras=extras)
      if record_env_state:
        out['env_state'] = carry.env_state
      return RolloutState(env_state, timestep, core_state, key, carry.env_params), out

    new_state, out = jax.lax.scan(one_step, state, None, length=unroll_length)
    trajectory = Trajectory(
        observation=jnp.concatenate(
            [out['observation'], new_state.timestep.observation[None]]),
        first=jnp.concatenate([out['first'], new_state.timestep.first[None]]),
        action=out['action'], reward=out['reward'], discount=out['discount'],
        last=out['last'], extras=out['extras'], core_state=state.core_state,
        env_state=out.get('env_state'))
    return new_state, trajectory

  return Rollout(init=init, unroll=unroll)


def with_env_params(env_params: Any, overrides: dict[str, Any] | None) -> Any:
  """Batched `env_params` with each `EnvParams.<field>` of `overrides` set to its value in
  every env copy (same shapes and dtypes, so nothing recompiles)."""
  for field, value in (overrides or {}).items():
    current = getattr(env_params, field)
    new = jnp.full(jnp.shape(current), value, jnp.asarray(current).dtype)
    env_params = replace_params(env_params, **{field: new})
  return env_params


def set_env_params(state: RolloutState, overrides: dict[str, Any] | None
                   ) -> RolloutState:
  """`state` whose episodes reset from now on with `overrides` (e.g. a curriculum's delay);
  the episodes in progress keep what they were reset with."""
  return state._replace(env_params=with_env_params(state.env_params, overrides))
