"""TD learning loop pieces: the optimizer (with frozen groups), one update, and whole epochs
fused into one jitted scan, vmapped over independent seeds.

Every function here is written for ONE seed; `make_learning_fns` vmaps them over a leading
seed axis, so `config.num_seeds` networks train in one compiled call, each with its own
initialisation, trials and optimizer state.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from metarl.agents.freeze import freeze
from metarl.agents.optim import scheduled_optimizer
from metarl.envs.cue_reward import CueReward, Trials
from metarl.types import Array, Params, PRNGKey


class TrainingState(NamedTuple):
  params: Params
  opt_state: Any
  step: Array  # int32: updates applied so far


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


def make_learning_fns(loss_fn, optimizer: optax.GradientTransformation, env: CueReward,
                      num_trials: int, batch_size: int, resample_trials: bool):
  """Returns jitted, seed-vmapped (init_data, train_epochs).

  init_data(keys [S]) -> DataState: each seed's training trials.
  train_epochs(state, data, num_epochs) -> (state, data, metrics): `num_epochs` epochs of
    shuffled minibatch updates in one `lax.scan` (static `num_epochs`); metrics [S] are
    averaged over the updates, except `env_steps`, summed.
  """
  batches_per_epoch = num_trials // batch_size
  grad_fn = jax.grad(loss_fn, has_aux=True)

  def init_data(key) -> DataState:
    trials_key, key = jax.random.split(key)
    return DataState(key=key, trials=env.sample_trials(trials_key, num_trials))

  def update(state: TrainingState, batch: Trials):
    grads, metrics = grad_fn(state.params, batch)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    metrics = dict(metrics, grad_norm=optax.global_norm(grads))
    return TrainingState(optax.apply_updates(state.params, updates), opt_state,
                         state.step + 1), metrics

  def epoch(carry, _):
    state, data = carry
    key, perm_key, trials_key = jax.random.split(data.key, 3)
    trials = env.sample_trials(trials_key, num_trials) if resample_trials else data.trials
    order = jax.random.permutation(perm_key, num_trials)[:batches_per_epoch * batch_size]
    batches = jax.tree_util.tree_map(
        lambda x: x[order].reshape((batches_per_epoch, batch_size) + x.shape[1:]), trials)
    state, metrics = jax.lax.scan(update, state, batches)
    return (state, DataState(key=key, trials=trials)), metrics

  def train_epochs(state: TrainingState, data: DataState, num_epochs: int):
    (state, data), metrics = jax.lax.scan(epoch, (state, data), None, length=num_epochs)
    steps = metrics.pop('env_steps').sum()
    metrics = jax.tree_util.tree_map(jnp.mean, metrics)
    return state, data, dict(metrics, env_steps=steps)

  def train_epochs_all_seeds(state: TrainingState, data: DataState, num_epochs: int):
    return jax.vmap(lambda s, d: train_epochs(s, d, num_epochs))(state, data)

  return (jax.jit(jax.vmap(init_data)),
          jax.jit(train_epochs_all_seeds, static_argnums=2))
