"""Recurrent SAC losses on replayed sequences (Haarnoja et al. 2018; RLtools' variant).

Sequences are batch-major in the replay ([B, L + 1]) and time-major here ([L + 1, B]).
Every network starts from the zero state at position 0; the online critic sees the
replayed actions, the target critic and the actor loss see actions of the current policy
(as RLtools does). Masked means divide by the number of positions the mask keeps.
"""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from metarl.networks.sac import SACNetworks, squashed_gaussian
from metarl.replay.sequence import SequenceBatch
from metarl.types import Array, Params, PRNGKey


class LossConfig(NamedTuple):
  gamma: float = 0.99
  target_entropy: float = -1.0
  entropy_bonus: bool = True  # subtract alpha * log pi(a'|h') in the target
  critic_prev_action_reward: bool = False
  mask_non_terminal: bool = False  # actor gradient only through the final action


def masked_mean(x: Array, mask: Array) -> Array:
  return (x * mask).sum() / jnp.maximum(mask.sum(), 1.0)


def time_major(batch: SequenceBatch) -> SequenceBatch:
  """Swaps the [B, T] axes of every field of a sampled batch to [T, B]."""
  swap = lambda x: jnp.swapaxes(x, 0, 1) if jnp.ndim(x) >= 2 else x  # noqa: E731
  return jax.tree_util.tree_map(swap, batch)


def critic_inputs(observation: Array, action: Array, prev_action: Array,
                  prev_reward: Array, with_prev: bool) -> Array:
  """[obs, action (, previous action, previous reward)] along the last axis, [T, B, D]."""
  parts = [observation.reshape(observation.shape[:2] + (-1,)), action]
  if with_prev:
    parts += [prev_action, prev_reward[..., None]]
  return jnp.concatenate(parts, axis=-1).astype(jnp.float32)


def assert_batch(batch: SequenceBatch) -> None:
  """chex checks of a time-major batch of B sequences of L steps: steps and valid
  [L + 1, B, ...], the masks [L, B] float, target_reset [L + 1, B] bool."""
  steps = batch.steps
  chex.assert_rank([batch.valid, batch.critic_mask, batch.actor_mask, batch.target_reset],
                   2)
  chex.assert_equal_shape([batch.critic_mask, batch.actor_mask])
  chex.assert_equal_shape([batch.valid, batch.target_reset])
  chex.assert_tree_shape_prefix(steps, batch.valid.shape)
  chex.assert_shape(batch.critic_mask, (batch.valid.shape[0] - 1, batch.valid.shape[1]))
  chex.assert_type([batch.critic_mask, steps.reward, steps.discount], float)
  chex.assert_type([batch.valid, batch.target_reset], bool)


def _start_reset(batch: SequenceBatch) -> Array:
  """[T, B]: True at position 0 only (zero hidden state at every sequence's start)."""
  positions = jnp.arange(batch.valid.shape[0])[:, None]
  return jnp.broadcast_to(positions == 0, batch.valid.shape)


def critic_loss(critic_params: Params, actor_params: Params, target_params: Params,
                log_alpha: Array, batch: SequenceBatch, key: PRNGKey,
                networks: SACNetworks, config: LossConfig) -> tuple[Array, dict[str, Array]]:
  """0.5 * masked MSE of both critics to the soft Bellman target (batch time-major)."""
  assert_batch(batch)
  chex.assert_rank(log_alpha, 0)
  steps = batch.steps
  length = batch.critic_mask.shape[0]
  alpha = jnp.exp(log_alpha)
  # Recurrent targets read the window from position 0 (their history); memoryless ones
  # only need the next observations, positions 1..L.
  first = 0 if networks.recurrent else 1
  obs, reset = steps.observation[first:], batch.target_reset[first:]
  mean, log_std = networks.actor_unroll(actor_params, obs, reset)
  next_action, next_logp = squashed_gaussian(mean, log_std).sample_and_log_prob(seed=key)
  target_in = critic_inputs(obs, next_action, steps.prev_action[first:],
                            steps.prev_reward[first:], config.critic_prev_action_reward)
  q_target = networks.critic_unroll(target_params, target_in, reset).min(0)
  if config.entropy_bonus:
    q_target = q_target - alpha * next_logp
  q_next = q_target[1 - first:]  # [L, B]: the value after each step
  target = steps.reward[:length] + config.gamma * steps.discount[:length] * q_next
  target = jax.lax.stop_gradient(target)
  reset = _start_reset(batch)[:length]
  q_in = critic_inputs(steps.observation[:length], steps.action[:length],
                       steps.prev_action[:length], steps.prev_reward[:length],
                       config.critic_prev_action_reward)
  q = networks.critic_unroll(critic_params, q_in, reset)  # [2, L, B]
  loss = 0.5 * sum(masked_mean(jnp.square(q[i] - target), batch.critic_mask)
                   for i in range(2))
  return loss, {'critic_loss': loss, 'q_mean': masked_mean(q.mean(0), batch.critic_mask),
                'target_mean': masked_mean(target, batch.critic_mask)}


def actor_loss(actor_params: Params, critic_params: Params, log_alpha: Array,
               batch: SequenceBatch, key: PRNGKey, networks: SACNetworks,
               config: LossConfig) -> tuple[Array, dict[str, Array]]:
  """Masked mean of alpha * log pi(a|h) - min_i Q_i(h, a), a reparameterised."""
  assert_batch(batch)
  chex.assert_rank(log_alpha, 0)
  steps = batch.steps
  length = batch.actor_mask.shape[0]
  reset = _start_reset(batch)[:length]
  mean, log_std = networks.actor_unroll(actor_params, steps.observation[:length], reset)
  action, logp = squashed_gaussian(mean, log_std).sample_and_log_prob(seed=key)
  if config.mask_non_terminal:  # earlier actions cannot change: no gradient through them
    keep = batch.actor_mask[..., None] > 0
    action = jnp.where(keep, action, jax.lax.stop_gradient(action))
  q_in = critic_inputs(steps.observation[:length], action, steps.prev_action[:length],
                       steps.prev_reward[:length], config.critic_prev_action_reward)
  q = networks.critic_unroll(jax.lax.stop_gradient(critic_params), q_in, reset).min(0)
  alpha = jax.lax.stop_gradient(jnp.exp(log_alpha))
  loss = masked_mean(alpha * logp - q, batch.actor_mask)
  logp_mean = masked_mean(logp, batch.actor_mask)
  return loss, {'actor_loss': loss, 'entropy': -logp_mean,
                'logp_mean': jax.lax.stop_gradient(logp_mean)}


def alpha_loss(log_alpha: Array, logp_mean: Array, target_entropy: float) -> Array:
  """Temperature loss: its gradient raises alpha while the entropy is below the target."""
  chex.assert_rank([log_alpha, logp_mean], 0)
  return -log_alpha * jax.lax.stop_gradient(logp_mean + target_entropy)
