"""What every agent of the 'gradients' trainer kind (A3C-style) shares: the training state,
the learning functions built from a loss, an optimizer and a rollout, and the agent object
the trainer runs (`GradientsAgent`).

Three entry points serve the three ways a run can be laid out on processes:
  `compute_gradients` (workers: rollout on their params, gradient of the loss),
  `apply_gradients` (the manager: optimizer step, new params), and their batched forms
  `compute_gradients_many` / `apply_gradients_many` (a worker sends the gradients of
  several unrolls in one message, each computed after applying the ones before it to its
  copy of the training state; the manager applies them in order in one call),
  `train_many` (one process: many rollout + update iterations fused in one jitted scan),
  and `train_many_seeds`, the same for several seeds at once (every state with a leading
  seed axis: one compiled call trains them all).
An update whose loss or gradient holds a NaN or an Inf is skipped (params, optimizer state
and step stay as they were) and counted in `bad_streak`, the updates skipped in a row.
"""

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from metarl.agents.optim import all_finite, keep_if_finite, next_bad_streak
from metarl.rollout import Actor, Rollout, RolloutState
from metarl.types import Array, Params


class TrainingState(NamedTuple):
  params: Params
  opt_state: Any
  step: Array  # int32: optimizer updates applied so far
  bad_streak: Array  # int32: updates skipped in a row (NaN or Inf in the loss or gradient)


def init_training_state(params: Params, optimizer: optax.GradientTransformation,
                        ) -> TrainingState:
  return TrainingState(params=params, opt_state=optimizer.init(params),
                       step=jnp.zeros((), jnp.int32), bad_streak=jnp.zeros((), jnp.int32))


class LearningFns(NamedTuple):
  """The jitted calls of a gradients-kind agent (`make_learning_fns` says what each does)."""
  compute_gradients: Callable
  apply_gradients: Callable
  train_many: Callable
  train_many_seeds: Callable
  compute_gradients_many: Callable
  apply_gradients_many: Callable


def make_learning_fns(loss_fn, optimizer: optax.GradientTransformation, rollout: Rollout,
                      updates_per_call: int) -> LearningFns:
  """Returns the jitted `LearningFns`:

  compute_gradients(params, rollout_state, step) -> (grads, rollout_state, metrics)
  apply_gradients(training_state, grads, loss) -> training_state (skipped unless the loss
    and every gradient are finite)
  train_many(training_state, rollout_state) -> (training_state, rollout_state, metrics):
    `updates_per_call` iterations of rollout, gradient and update in one `lax.scan`;
    metrics are averaged over them, except `skipped_updates`, their count.
  train_many_seeds: `train_many` vmapped over a leading seed axis of both states (and of
    the metrics); a NaN or Inf skips the update of its own seed only.
  compute_gradients_many(training_state, rollout_state, unrolls) -> (grads, losses,
    rollout_state, metrics): `unrolls` (static) iterations of rollout, gradient and update
    of a copy of the training state (what the manager would do with them, had no other
    worker's gradient come in between), each gradient stacked on a leading axis; metrics
    averaged over them.
  apply_gradients_many(training_state, grads, losses, count) -> (training_state, skipped):
    `apply_gradients` with the stacked gradients one after another, the first `count` of
    them (a run's last message may hold more than its budget has left); `skipped`: how many
    of those were skipped (NaN or Inf).
  """
  grad_fn = jax.grad(loss_fn, has_aux=True)

  def compute_gradients(params, rollout_state: RolloutState, step):
    rollout_state, trajectory = rollout.unroll(params, rollout_state)
    grads, metrics = grad_fn(params, trajectory, step)
    metrics = dict(metrics, mean_reward=trajectory.reward.mean(),
                   grad_norm=optax.tree.norm(grads))
    return grads, rollout_state, metrics

  def apply_gradients(state: TrainingState, grads, loss) -> TrainingState:
    ok = all_finite(grads, loss)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    new = (optax.apply_updates(state.params, updates), opt_state, state.step + 1)
    params, opt_state, step = keep_if_finite(ok, new, (state.params, state.opt_state,
                                                       state.step))
    return TrainingState(params=params, opt_state=opt_state, step=step,
                         bad_streak=next_bad_streak(ok, state.bad_streak))

  def train_many(state: TrainingState, rollout_state: RolloutState):

    def one_update(carry, _):
      state, rollout_state = carry
      grads, rollout_state, metrics = compute_gradients(state.params, rollout_state,
                                                        state.step)
      state = apply_gradients(state, grads, metrics['loss'])
      metrics = dict(metrics, skipped_updates=(state.bad_streak > 0).astype(jnp.float32))
      return (state, rollout_state), metrics

    (state, rollout_state), metrics = jax.lax.scan(
        one_update, (state, rollout_state), None, length=updates_per_call)
    skipped = metrics.pop('skipped_updates').sum()
    metrics = jax.tree_util.tree_map(jnp.mean, metrics)
    return state, rollout_state, dict(metrics, skipped_updates=skipped)

  def compute_gradients_many(state: TrainingState, rollout_state: RolloutState,
                             unrolls: int):

    def one_unroll(carry, _):
      state, rollout_state = carry
      grads, rollout_state, metrics = compute_gradients(state.params, rollout_state,
                                                        state.step)
      state = apply_gradients(state, grads, metrics['loss'])
      return (state, rollout_state), (grads, metrics)

    (_, rollout_state), (grads, metrics) = jax.lax.scan(
        one_unroll, (state, rollout_state), None, length=unrolls)
    losses = metrics['loss']
    return grads, losses, rollout_state, jax.tree_util.tree_map(jnp.mean, metrics)

  def apply_gradients_many(state: TrainingState, grads, losses, count):

    def one_update(state, inputs):
      k, grads, loss = inputs
      new = apply_gradients(state, grads, loss)
      used = k < count
      state = jax.tree_util.tree_map(lambda n, o: jnp.where(used, n, o), new, state)
      return state, used & (new.bad_streak > 0)

    unrolls = losses.shape[0]
    state, skipped = jax.lax.scan(one_update, state,
                                  (jnp.arange(unrolls, dtype=jnp.int32), grads, losses))
    return state, skipped.sum()

  return LearningFns(
      compute_gradients=jax.jit(compute_gradients), apply_gradients=jax.jit(apply_gradients),
      train_many=jax.jit(train_many, donate_argnums=(0, 1)),
      train_many_seeds=jax.jit(jax.vmap(train_many), donate_argnums=(0, 1)),
      compute_gradients_many=jax.jit(compute_gradients_many, static_argnums=2),
      apply_gradients_many=jax.jit(apply_gradients_many))



class GradientsAgent(NamedTuple):
  """The members the gradients trainer kind runs (`launch/trainers/gradients.py`)."""
  init_params: Callable  # (key) -> params
  actor: Actor
  optimizer: Any
  rollout: Rollout
  steps_per_update: int  # env steps behind one gradient: num_envs * unroll_length
  total_updates: int
  compute_gradients: Callable  # jitted (params, rollout_state, step) -> (grads, rs, metrics)
  apply_gradients: Callable  # jitted (training_state, grads, loss) -> training_state
  train_many: Callable  # jitted (training_state, rollout_state) -> (ts, rs, metrics)
  train_many_seeds: Callable | None = None  # the same over a leading seed axis
  loss_fn: Callable | None = None  # (params, trajectory, step) -> (loss, metrics)
  networks: Any = None  # the agent's networks, for tests and analyses that take them
  # batched messages (launch.unrolls_per_message > 1): jitted, see `make_learning_fns`
  compute_gradients_many: Callable | None = None  # (training_state, rs, unrolls)
  apply_gradients_many: Callable | None = None  # (ts, grads, losses, count) -> (ts, n)

  def init(self, key) -> TrainingState:
    return init_training_state(self.init_params(key), self.optimizer)


def total_updates(config, steps_per_update: int) -> int:
  """Updates in a run of `config.total_env_steps` (what optimizer schedules count)."""
  return max(1, math.ceil(config.total_env_steps / steps_per_update))


def make_gradients_agent(config, init_params: Callable, actor: Actor, loss_fn: Callable,
                         optimizer: optax.GradientTransformation, rollout: Rollout,
                         steps_per_update: int, networks: Any = None) -> GradientsAgent:
  """A gradients-kind agent from its pieces: `loss_fn(params, trajectory, step) -> (loss,
  metrics)` (metrics with 'loss'), trained for `config.total_env_steps` in updates of one
  rollout (`steps_per_update` env steps) each, `config.launch.updates_per_call` of them per
  single-process call."""
  learning = make_learning_fns(loss_fn, optimizer, rollout, config.launch.updates_per_call)
  return GradientsAgent(init_params=init_params, actor=actor, optimizer=optimizer,
                        rollout=rollout, steps_per_update=steps_per_update,
                        total_updates=total_updates(config, steps_per_update),
                        loss_fn=loss_fn, networks=networks, **learning._asdict())
