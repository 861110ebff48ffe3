"""PPO learning: a rollout, then `epochs` passes over it in `minibatches` minibatches of
whole environment sequences, one clipped-gradient optimizer step each.

One PPO iteration is one "update" of the gradients trainer kind (`steps_per_update` =
num_envs x unroll_length env steps, the budget's unit); `train_many` fuses
`launch.updates_per_call` of them in one jitted `lax.scan`, and `train_many_seeds` vmaps it
over a leading seed axis. The training state is the gradients kind's (params, optimizer
state, optimizer steps, updates skipped in a row); its `step` counts optimizer steps, which
the learning-rate and entropy schedules follow.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from metarl.agents.gradients import TrainingState
from metarl.agents.optim import all_finite, keep_if_finite, next_bad_streak, scheduled_optimizer
from metarl.agents.ppo.losses import Batch, LossFn, score_rollout
from metarl.networks.policy_value import PolicyValueNetworks
from metarl.rollout import Rollout, RolloutState


def make_optimizer(agent_config, total_steps: int) -> optax.GradientTransformation:
  """Global-norm clipping of each minibatch's gradient, then Adam or RMSProp on a schedule
  over `total_steps` optimizer steps."""
  return optax.chain(optax.clip_by_global_norm(agent_config.max_grad_norm),
                     scheduled_optimizer(agent_config, total_steps))


def minibatch(batch: Batch, index) -> Batch:
  """The sequences of environments `index` ([b]): time-major arrays on their axis 1, the
  core states they start from on axis 0."""
  trajectory = batch.trajectory
  pick_t = lambda x: jnp.take(x, index, axis=1)  # noqa: E731
  trajectory = trajectory._replace(
      observation=pick_t(trajectory.observation), first=pick_t(trajectory.first),
      action=pick_t(trajectory.action), reward=pick_t(trajectory.reward),
      discount=pick_t(trajectory.discount), last=pick_t(trajectory.last),
      extras=jax.tree_util.tree_map(pick_t, trajectory.extras),
      core_state=jax.tree_util.tree_map(lambda x: jnp.take(x, index, axis=0),
                                        trajectory.core_state),
      env_state=None)
  return Batch(trajectory=trajectory, behaviour_logits=pick_t(batch.behaviour_logits),
               behaviour_value=pick_t(batch.behaviour_value),
               advantage=pick_t(batch.advantage), target=pick_t(batch.target))


class TrainCalls(NamedTuple):
  """PPO's jitted training calls (`make_train_many` says what each does)."""
  train_many: Callable
  train_many_seeds: Callable


def make_train_many(loss_fn: LossFn, optimizer: optax.GradientTransformation,
                    rollout: Rollout, networks: PolicyValueNetworks, agent_config,
                    updates_per_call: int) -> TrainCalls:
  """Returns the jitted `TrainCalls`.

  train_many(training_state, rollout_state) -> (training_state, rollout_state, metrics):
    `updates_per_call` PPO iterations; metrics averaged over every optimizer step of them,
    except `skipped_updates`, the optimizer steps skipped (NaN or Inf in the loss or the
    gradient: params and optimizer state stay as they were) and `mean_reward`, the rollouts'.
  train_many_seeds: the same vmapped over a leading seed axis of both states.
  """
  num_envs, epochs = agent_config.num_envs, agent_config.epochs
  minibatches = agent_config.minibatches
  per_minibatch = num_envs // minibatches
  grad_fn = jax.grad(loss_fn, has_aux=True)

  def optimizer_step(state: TrainingState, batch: Batch):
    grads, metrics = grad_fn(state.params, batch, state.step)
    ok = all_finite(grads, metrics['loss'])
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    new = (optax.apply_updates(state.params, updates), opt_state, state.step + 1)
    params, opt_state, step = keep_if_finite(ok, new, (state.params, state.opt_state,
                                                       state.step))
    state = TrainingState(params=params, opt_state=opt_state, step=step,
                          bad_streak=next_bad_streak(ok, state.bad_streak))
    metrics = dict(metrics, grad_norm=optax.tree.norm(grads),
                   skipped_updates=(~ok).astype(jnp.float32))
    return state, metrics

  def one_iteration(carry, _):
    state, rollout_state = carry
    rollout_state, trajectory = rollout.unroll(state.params, rollout_state)
    # V(o_T) where the next rollout starts, from the core state the rollout ended in
    out, _ = networks.step(state.params, rollout_state.timestep.observation,
                           rollout_state.timestep.first, rollout_state.core_state)
    batch = score_rollout(trajectory, out.value, agent_config.gamma,
                          agent_config.gae_lambda, agent_config.normalize_advantages,
                          agent_config.reward_scale, agent_config.task_group_size)
    key, shuffle_key = jax.random.split(rollout_state.key)
    rollout_state = rollout_state._replace(key=key)

    def one_epoch(state, epoch_key):
      order = jax.random.permutation(epoch_key, num_envs).reshape(minibatches,
                                                                  per_minibatch)
      return jax.lax.scan(lambda s, index: optimizer_step(s, minibatch(batch, index)),
                          state, order)

    state, metrics = jax.lax.scan(one_epoch, state, jax.random.split(shuffle_key, epochs))
    metrics = dict(metrics, mean_reward=jnp.broadcast_to(trajectory.reward.mean(),
                                                         metrics['loss'].shape))
    return (state, rollout_state), metrics

  def train_many(state: TrainingState, rollout_state: RolloutState):
    (state, rollout_state), metrics = jax.lax.scan(
        one_iteration, (state, rollout_state), None, length=updates_per_call)
    skipped = metrics.pop('skipped_updates').sum()
    metrics = jax.tree_util.tree_map(jnp.mean, metrics)
    return state, rollout_state, dict(metrics, skipped_updates=skipped)

  return TrainCalls(train_many=jax.jit(train_many, donate_argnums=(0, 1)),
                    train_many_seeds=jax.jit(jax.vmap(train_many), donate_argnums=(0, 1)))
