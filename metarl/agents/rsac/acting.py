"""Acting for recurrent SAC: batched env copies stepped with the stochastic policy (uniform
random actions during the first `warmup_steps` env steps of the run), recorded as replay
`Steps`; and the single-process loop that fuses acting, replay insertion and learning.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from metarl.agents.rsac.learning import Learner, LearnerState, summarize
from metarl.envs.base import Environment
from metarl.networks.sac import SACNetworks, squashed_gaussian
from metarl.replay import sequence as replay_lib
from metarl.types import Array, Params, PRNGKey, TimeStep


class ActState(NamedTuple):
  env_state: Any  # [B, ...]
  timestep: TimeStep  # [B]: what the agent acts on next
  core_state: Any  # actor recurrent state before acting on `timestep`
  prev_action: Array  # [B, A]: zero at an episode's first step
  prev_reward: Array  # [B]
  episode_return: Array  # [B]: return of the running episode so far
  key: PRNGKey


class Actor(NamedTuple):
  init: Callable[[PRNGKey], ActState]
  step: Callable[..., Any]  # (actor params, state, env_steps) -> (state, Steps [B], stats)
  unroll: Callable[..., Any]  # (actor params, state, env_steps) -> (state, Steps [T, B], stats)


def make_actor(env: Environment, networks: SACNetworks, num_envs: int, warmup_steps: int,
               unroll_length: int = 1) -> Actor:
  """Builds the acting functions (not jitted: callers jit at their own boundary)."""
  action_dim = env.spec.action_dim
  params0 = env.default_params()

  def init(key: PRNGKey) -> ActState:
    key, reset_key = jax.random.split(key)
    env_state, timestep = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_envs), params0)
    zeros = jnp.zeros((num_envs,), jnp.float32)
    return ActState(env_state=env_state, timestep=timestep,
                    core_state=networks.actor_initial_state(num_envs),
                    prev_action=jnp.zeros((num_envs, action_dim), jnp.float32),
                    prev_reward=zeros, episode_return=zeros, key=key)

  def step(actor_params: Params, state: ActState, env_steps: Array):
    key, act_key, random_key, env_key = jax.random.split(state.key, 4)
    ts = state.timestep
    (mean, log_std), core_state = networks.actor_step(actor_params, ts.observation,
                                                      ts.first, state.core_state)
    policy_action = squashed_gaussian(mean, log_std).sample(seed=act_key)
    random_action = jax.random.uniform(random_key, policy_action.shape, minval=-1.0,
                                       maxval=1.0)
    action = jnp.where(env_steps < warmup_steps, random_action, policy_action)
    env_state, next_ts = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
        jax.random.split(env_key, num_envs), state.env_state, action, params0)
    steps = replay_lib.Steps(observation=ts.observation, action=action,
                             reward=next_ts.reward, discount=next_ts.discount,
                             first=ts.first, last=next_ts.last,
                             prev_action=state.prev_action, prev_reward=state.prev_reward)
    episode_return = state.episode_return + next_ts.reward
    ended = next_ts.last
    stats = {'return_sum': jnp.where(ended, episode_return, 0.0).sum(),
             'episodes': ended.sum().astype(jnp.float32)}
    new_state = ActState(
        env_state=env_state, timestep=next_ts, core_state=core_state,
        prev_action=jnp.where(ended[:, None], 0.0, action),
        prev_reward=jnp.where(ended, 0.0, next_ts.reward),
        episode_return=jnp.where(ended, 0.0, episode_return), key=key)
    return new_state, steps, stats

  def unroll(actor_params: Params, state: ActState, env_steps: Array):
    def body(s, t):
      s, steps, stats = step(actor_params, s, env_steps + t * num_envs)
      return s, (steps, stats)
    state, (steps, stats) = jax.lax.scan(body, state, jnp.arange(unroll_length))
    return state, steps, {k: v.sum() for k, v in stats.items()}

  return Actor(init=jax.jit(init), step=step, unroll=unroll)


def make_in_process_train(actor: Actor, learner: Learner, num_envs: int,
                          ticks_per_iteration: int, iterations: int) -> Callable:
  """The single-process loop: `iterations` x (step every env, add to replay, then
  `ticks_per_iteration` learner ticks), fused in one jitted call.

  Returns:
    `run(learner_state, act_state, replay, env_steps, key)` ->
    `(learner_state, act_state, replay, metrics)`.
  """
  def iteration(carry, key):
    learner_state, act_state, replay, env_steps = carry
    act_state, steps, stats = actor.step(learner_state.params.actor, act_state, env_steps)
    replay = replay_lib.add_to_all_rows(replay, jax.tree_util.tree_map(lambda x: x[None],
                                                                     steps))
    env_steps = env_steps + num_envs
    learner_state, metrics = learner.run_ticks(learner_state, replay, env_steps,
                                               jax.random.split(key, ticks_per_iteration))
    return (learner_state, act_state, replay, env_steps), (metrics, stats)

  @jax.jit
  def run(learner_state: LearnerState, act_state: ActState,
          replay: replay_lib.ReplayState, env_steps: Array, key: PRNGKey):
    carry = (learner_state, act_state, replay, env_steps)
    carry, (metrics, stats) = jax.lax.scan(iteration, carry,
                                           jax.random.split(key, iterations))
    learner_state, act_state, replay, _ = carry
    metrics = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), metrics)
    out = summarize(metrics)
    out.update({k: v.sum() for k, v in stats.items()})
    return learner_state, act_state, replay, out

  return run


def episode_stats(metrics: dict[str, float]) -> dict[str, float]:
  """Pops the episode sums from a metrics dict: {'episode_return': mean} or {}."""
  total = metrics.pop('return_sum', 0.0)
  count = metrics.pop('episodes', 0.0)
  return {'episode_return': total / count} if count else {}
