"""REINFORCE with a recurrent policy and no critic, written as a new metarl agent (README:
"Add an agent").

Williams (1992): raise log pi(a_t | history) in proportion to G_t - b_t, where G_t is the
discounted return from step t to the episode's end and the baseline b_t is the mean of G_t
over the batch's episodes (no learned value). Training unrolls whole episodes
(`reset_each_unroll`), so every return is exact. The pieces have the metarl agent shape:
networks, loss, update, actor; `train` is a plain single-process loop over them.

    python3 -m tests.examples.reinforce_agent   # trains on the reversal task (~20 s)
"""

from typing import Any, Callable, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import optax
import rlax

from metarl.envs.base import Environment
from metarl.networks.cores import make_core
from metarl.rollout import Actor, Trajectory, make_rollout


class Networks(NamedTuple):  # pure functions, batched over a leading B axis
  init: Callable  # (key) -> params
  initial_state: Callable  # (batch_size) -> LSTM state
  step: Callable  # (params, obs [B, D], first [B], state) -> (logits [B, A], state)
  unroll: Callable  # (params, obs [T, B, D], first [T, B], state) -> (logits [T, B, A], state)


class TrainingState(NamedTuple):
  params: Any
  opt_state: Any


def make_networks(env: Environment, hidden_size: int = 32) -> Networks:
  """An LSTM that starts from zeros wherever `first` is true, then a linear policy head."""
  num_actions = env.spec.num_actions

  def step(obs, first, state):
    h, state = make_core('lstm', hidden_size)((obs, first), state)
    return hk.Linear(num_actions)(h), state

  def unroll(obs, first, state):
    hs, state = hk.dynamic_unroll(make_core('lstm', hidden_size), (obs, first), state)
    return hk.Linear(num_actions)(hs), state

  step_t, unroll_t = (hk.without_apply_rng(hk.transform(f)) for f in (step, unroll))
  state_t = hk.without_apply_rng(hk.transform(
      lambda batch_size: make_core('lstm', hidden_size).initial_state(batch_size)))
  obs = jnp.zeros((1, 1) + env.spec.observation_shape, jnp.float32)
  return Networks(
      init=lambda key: unroll_t.init(key, obs, jnp.ones((1, 1), bool), state_t.apply({}, 1)),
      initial_state=lambda batch_size: state_t.apply({}, batch_size),
      step=step_t.apply, unroll=unroll_t.apply)


def make_actor(networks: Networks) -> Actor:
  """What `metarl.rollout` calls each step: sample a ~ softmax(logits)."""

  def step(params, key, timestep, state):
    logits, state = networks.step(params, timestep.observation, timestep.first, state)
    return jax.random.categorical(key, logits), {}, state

  return Actor(initial_state=networks.initial_state, step=step)


def make_loss(networks: Networks, gamma: float = 0.9, entropy_coef: float = 0.01):
  """`loss_fn(params, trajectory) -> (loss, metrics)` on a [T, B] chunk of whole episodes."""

  def loss_fn(params, trajectory: Trajectory):
    logits, _ = networks.unroll(params, trajectory.observation[:-1], trajectory.first[:-1],
                                trajectory.core_state)
    # rlax functions take one sequence [T]: vmap them over the batch axis (1).
    returns = jax.vmap(rlax.discounted_returns, in_axes=(1, 1, 0), out_axes=1)(
        trajectory.reward, gamma * trajectory.discount, jnp.zeros_like(trajectory.reward[0]))
    advantage = returns - returns.mean(axis=1, keepdims=True)  # baseline: mean over batch
    weights = jnp.ones_like(advantage)
    policy_loss = jax.vmap(rlax.policy_gradient_loss, in_axes=1)(
        logits, trajectory.action, advantage, weights).mean()
    entropy = -jax.vmap(rlax.entropy_loss, in_axes=1)(logits, weights).mean()
    loss = policy_loss - entropy_coef * entropy
    return loss, dict(loss=loss, policy_loss=policy_loss, entropy=entropy,
                      mean_reward=trajectory.reward.mean())

  return loss_fn


def make_update(loss_fn, optimizer: optax.GradientTransformation):
  """`update(state, trajectory) -> (state, metrics)`: one optimizer step on the loss."""

  def update(state: TrainingState, trajectory: Trajectory):
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, trajectory)
    updates, opt_state = optimizer.update(grads, state.opt_state)
    return TrainingState(optax.apply_updates(state.params, updates), opt_state), metrics

  return update


def train(env: Environment, num_updates: int, num_envs: int = 64, learning_rate: float = 3e-3,
          seed: int = 0):
  """Trains on `env` (whose episodes have a fixed length) in this process.

  Returns:
    (params, actor, rewards): the final params, the actor to evaluate them with, and the
    mean reward per step of each update's batch.
  """
  networks = make_networks(env)
  actor = make_actor(networks)
  rollout = make_rollout(env, actor, num_envs, env.max_episode_steps, reset_each_unroll=True)
  optimizer = optax.adam(learning_rate)
  update = make_update(make_loss(networks), optimizer)

  @jax.jit  # one compiled call: act for a batch of episodes, then learn from them
  def train_step(state, rollout_state):
    rollout_state, trajectory = rollout.unroll(state.params, rollout_state)
    state, metrics = update(state, trajectory)
    return state, rollout_state, metrics

  params_key, rollout_key = jax.random.split(jax.random.PRNGKey(seed))
  params = networks.init(params_key)
  state, rollout_state = TrainingState(params, optimizer.init(params)), rollout.init(rollout_key)
  rewards = []
  for _ in range(num_updates):
    state, rollout_state, metrics = train_step(state, rollout_state)
    rewards.append(float(metrics['mean_reward']))
  return state.params, actor, rewards


if __name__ == '__main__':
  from metarl.evaluation import make_evaluator
  from tests.examples.reversal_env import Reversal

  env = Reversal()
  params, actor, rewards = train(env, num_updates=1000)
  evaluate = make_evaluator(env, actor, num_episodes=1000)
  metrics = evaluate(params, jax.random.PRNGKey(1)).metrics
  print({name: round(float(value), 3) for name, value in metrics.items()})  # chance: 0.5
