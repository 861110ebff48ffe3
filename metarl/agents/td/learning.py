"""TD learning loop pieces: the optimizer (with frozen groups), one update, and whole epochs
fused into one jitted scan, vmapped over independent seeds.

Every function here is written for ONE seed; `make_learning_fns` vmaps them over a leading
seed axis, so `config.num_seeds` networks train in one compiled call, each with its own
initialisation, trials and optimizer state.

An update whose loss or gradient holds a NaN or an Inf is skipped: params, optimizer state and
step stay as they were, and `bad_streak` counts the updates skipped in a row (per seed).
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from metarl.agents.freeze import freeze
from metarl.agents.optim import all_finite, keep_if_finite, next_bad_streak, scheduled_optimizer
from metarl.envs.cue_reward import CueReward, Trials
from metarl.types import Array, Params, PRNGKey


class TrainingState(NamedTuple):
  params: Params
  opt_state: Any
  step: Array  # int32: updates applied so far
  bad_streak: Array  # int32: updates skipped in a row (NaN or Inf in the loss or gradient)
  best_params: Params  # the params after the epoch of the lowest mean training loss so far
  best_loss: Array  # that epoch's mean td_loss (inf before the first epoch)


class DataState(NamedTuple):
  key: PRNGKey
  trials: Trials  # the training set of one epoch ([num_trials, ...])


def make_optimizer(agent_config, total_updates: int,
                   mask=None) -> optax.GradientTransformation:
  """Adam or RMSProp (constant or linearly decaying rate), optional global-norm clipping,
  and zero updates for frozen parameters (`mask` False)."""
  opt = scheduled_optimizer(agent_config, total_updates)
  if agent_config.max_grad_norm:
    opt = optax.chain(optax.clip_by_global_norm(agent_config.max_grad_norm), opt)
  return opt if mask is None else freeze(opt, mask)


class LearningFns(NamedTuple):
  """td's jitted, seed-vmapped calls (`make_learning_fns` says what each does)."""
  init_data: Callable
  train_epochs: Callable


def make_learning_fns(loss_fn, optimizer: optax.GradientTransformation, env: CueReward,
                      num_trials: int, batch_size: int, resample_trials: bool) -> LearningFns:
  """Returns the jitted, seed-vmapped `LearningFns`:

  init_data(keys [S]) -> DataState: each seed's training trials.
  train_epochs(state, data, num_epochs) -> (state, data, metrics): `num_epochs` epochs of
    shuffled minibatch updates in one `lax.scan` (static `num_epochs`); metrics [S] are
    averaged over the updates applied (NaN if every one was skipped), except `env_steps`
    and `skipped_updates` (the updates skipped), summed, and `max_bad_streak`, the longest
    run of skipped updates seen during the call.
  """
  batches_per_epoch = num_trials // batch_size
  grad_fn = jax.grad(loss_fn, has_aux=True)

  def init_data(key) -> DataState:
    trials_key, key = jax.random.split(key)
    return DataState(key=key, trials=env.sample_trials(trials_key, num_trials))

  def update(state: TrainingState, batch: Trials):
    grads, metrics = grad_fn(state.params, batch)
    ok = all_finite(grads, metrics['td_loss'])
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    new = (optax.apply_updates(state.params, updates), opt_state, state.step + 1)
    params, opt_state, step = keep_if_finite(ok, new, (state.params, state.opt_state,
                                                       state.step))
    streak = next_bad_streak(ok, state.bad_streak)
    metrics = dict(metrics, grad_norm=optax.tree.norm(grads),
                   skipped_updates=(~ok).astype(jnp.float32), bad_streak=streak)
    return state._replace(params=params, opt_state=opt_state, step=step,
                          bad_streak=streak), metrics

  def epoch(carry, _):
    state, data = carry
    key, perm_key, trials_key = jax.random.split(data.key, 3)
    trials = env.sample_trials(trials_key, num_trials) if resample_trials else data.trials
    order = jax.random.permutation(perm_key, num_trials)[:batches_per_epoch * batch_size]
    batches = jax.tree_util.tree_map(
        lambda x: x[order].reshape((batches_per_epoch, batch_size) + x.shape[1:]), trials)
    state, metrics = jax.lax.scan(update, state, batches)
    applied = metrics['skipped_updates'] == 0
    loss = jnp.sum(jnp.where(applied, metrics['td_loss'], 0.0)) / applied.sum()
    better = loss < state.best_loss  # False when NaN (every update skipped)
    state = state._replace(
        best_params=jax.tree_util.tree_map(lambda new, old: jnp.where(better, new, old),
                                           state.params, state.best_params),
        best_loss=jnp.where(better, loss, state.best_loss))
    return (state, DataState(key=key, trials=trials)), metrics

  def train_epochs(state: TrainingState, data: DataState, num_epochs: int):
    (state, data), metrics = jax.lax.scan(epoch, (state, data), None, length=num_epochs)
    applied = metrics['skipped_updates'] == 0  # [num_epochs, batches_per_epoch]
    summed = {k: metrics.pop(k).sum() for k in ('env_steps', 'skipped_updates')}
    max_streak = metrics.pop('bad_streak').max()
    # The means leave skipped updates out: their NaN or Inf would hide the applied ones'.
    metrics = jax.tree_util.tree_map(
        lambda x: jnp.sum(jnp.where(applied, x, 0.0)) / applied.sum(), metrics)
    return state, data, dict(metrics, **summed, max_bad_streak=max_streak)

  def train_epochs_all_seeds(state: TrainingState, data: DataState, num_epochs: int):
    return jax.vmap(lambda s, d: train_epochs(s, d, num_epochs))(state, data)

  return LearningFns(init_data=jax.jit(jax.vmap(init_data)),
                     train_epochs=jax.jit(train_epochs_all_seeds, static_argnums=2))
