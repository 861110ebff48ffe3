"""Proximal policy optimisation's losses on recurrent sequences (Schulman et al. 2017,
"Proximal policy optimization algorithms"; the recurrent form of PureJaxRL, popjaxrl and
Stoix).

A rollout of B environments x T steps is scored once, with the params that acted (r_t
multiplied by `reward_scale`: V predicts scaled returns):
  delta_t  = r_t + gamma_t V(o_{t+1}) - V(o_t)       gamma_t = gamma * discount_t (0 at an end)
  A_t      = sum_k prod(gamma lambda) delta_{t+k}     GAE(lambda), truncated at the rollout's end
  y_t      = A_t + V(o_t)                             the value target
With environments in groups of K on one task (`task_group_size`), each A_t then has the
mean of its group's A_t at the same step subtracted: the group's other episodes, played on
the same task but independently of this one's actions, are a baseline that removes what the
task itself adds to every return (e.g. a bandit whose arms both pay well); A_t less the mean
over all K is (K - 1) / K times A_t less the mean of the other K - 1, the same after the
normalisation. A is normalised to mean 0, standard deviation 1 over the rollout's batch.
The loss of a minibatch, replayed from the core state its sequences started from (whole
sequences: no cut inside a rollout), with rho_t = pi(a_t | o_t) / pi_old(a_t | o_t):
  loss = -mean_t min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t)          clipped surrogate
         + value_coef * mean_t 0.5 (V(o_t) - y_t)^2                           value regression
           (with value_clip_eps > 0: 0.5 max((V - y)^2, (V_old + clip(V - V_old) - y)^2))
         - entropy_coef * mean_t H(pi(. | o_t))                               exploration
"""

from collections.abc import Callable
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax
import rlax

from metarl.networks.policy_value import PolicyValueNetworks
from metarl.rollout import Trajectory, assert_trajectory
from metarl.types import Array, Params


class Batch(NamedTuple):
  """A scored rollout ([T, B] unless said): what every epoch and minibatch reads."""
  trajectory: Trajectory  # as collected; core_state [B, ...] is where each sequence starts
  behaviour_logits: Array  # [T, B, A] the logits the actions were sampled from
  behaviour_value: Array  # [T, B] V_old(o_t)
  advantage: Array  # [T, B] A_t (normalised when asked)
  target: Array  # [T, B] y_t


def gae(reward: Array, discount: Array, values: Array, gae_lambda: float,
        ) -> tuple[Array, Array]:
  """GAE(lambda) advantages and value targets of one sequence (rlax).

  Args:
    reward: [T] r_t.
    discount: [T] gamma * discount_t.
    values: [T + 1] V(o_0) .. V(o_T); the last bootstraps the end of the sequence.
    gae_lambda: lambda.

  Returns:
    (advantage [T], target [T] = advantage + V(o_t)).
  """
  chex.assert_rank([reward, discount, values], 1)
  chex.assert_type([reward, discount, values], float)
  chex.assert_equal_shape([reward, discount])
  chex.assert_shape(values, (reward.shape[0] + 1,))
  advantage = rlax.truncated_generalized_advantage_estimation(reward, discount, gae_lambda,
                                                              values)
  return advantage, advantage + values[:-1]


def score_rollout(trajectory: Trajectory, bootstrap_value: Array, gamma: float,
                  gae_lambda: float, normalize: bool, reward_scale: float = 1.0,
                  task_group_size: int = 1) -> Batch:
  """The rollout's advantages and targets from the values its actor recorded.

  Args:
    trajectory: [T, B] with extras `logits` [T, B, A] and `value` [T, B].
    bootstrap_value: [B] V(o_T), where the next rollout starts.
    gamma: discount factor.
    gae_lambda: lambda of GAE.
    normalize: advantages to mean 0 and standard deviation 1 over the whole batch.
    reward_scale: the rewards are multiplied by it (the value then predicts scaled returns:
      a value head of bounded features learns returns of order 1 in far fewer steps than
      returns of order 50, such as a whole bandit episode's at gamma near 1).
    task_group_size: K; environments [gK, (g + 1)K) played the same tasks: each advantage
      less its group's mean at the same step (the value targets are not changed).
  """
  assert_trajectory(trajectory)
  values = trajectory.extras['value']
  chex.assert_rank([values, bootstrap_value], [2, 1])
  chex.assert_equal_shape([values, trajectory.reward])
  chex.assert_shape(bootstrap_value, values.shape[1:])
  chex.assert_equal_shape_prefix([trajectory.extras['logits'], values], 2)
  all_values = jnp.concatenate([values, bootstrap_value[None]])
  advantage, target = jax.vmap(gae, in_axes=(1, 1, 1, None), out_axes=1)(
      reward_scale * trajectory.reward, gamma * trajectory.discount, all_values, gae_lambda)
  if task_group_size > 1:
    steps, envs = advantage.shape
    grouped = advantage.reshape(steps, envs // task_group_size, task_group_size)
    advantage = (grouped - grouped.mean(-1, keepdims=True)).reshape(steps, envs)
  if normalize:
    advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
  return Batch(trajectory=trajectory, behaviour_logits=trajectory.extras['logits'],
               behaviour_value=values, advantage=jax.lax.stop_gradient(advantage),
               target=jax.lax.stop_gradient(target))


def clipped_value_loss(value: Array, old_value: Array, target: Array,
                       clip_eps: float) -> Array:
  """0.5 (V - y)^2, or with `clip_eps` > 0 the larger of it and the loss of V kept within
  clip_eps of V_old (PPO's value clipping); elementwise."""
  loss = 0.5 * (value - target) ** 2
  if clip_eps <= 0:
    return loss
  clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
  return jnp.maximum(loss, 0.5 * (clipped - target) ** 2)


LossFn = Callable[[Params, Batch, Array], tuple[Array, dict[str, Array]]]


def make_loss(networks: PolicyValueNetworks, clip_eps: float, value_clip_eps: float,
              value_coef: float, entropy_schedule: optax.Schedule) -> LossFn:
  """Returns `loss_fn(params, batch, step) -> (loss, metrics)` of a minibatch.

  Args:
    networks: the policy-value network; its `unroll` replays each sequence from the core
      state it started from, resetting where `first` is true.
    clip_eps: epsilon of the ratio's clip.
    value_clip_eps: epsilon of the value's clip around V_old (0: none).
    value_coef: weight of the value loss.
    entropy_schedule: the entropy coefficient as a function of the optimizer step.
  """

  def loss_fn(params: Params, batch: Batch, step: Array):
    trajectory = batch.trajectory
    assert_trajectory(trajectory)
    chex.assert_rank(step, 0)
    chex.assert_rank([batch.advantage, batch.target, trajectory.action], 2)
    chex.assert_equal_shape([batch.advantage, batch.target, batch.behaviour_value,
                             trajectory.action])
    start = jax.lax.stop_gradient(trajectory.core_state)
    outputs, _ = networks.unroll(params, trajectory.observation[:-1],
                                 trajectory.first[:-1], start)
    logits, value = outputs.logits, outputs.value  # [T, B, A], [T, B]
    chex.assert_equal_shape([logits, batch.behaviour_logits])
    action = trajectory.action
    new_log_prob = _chosen(jax.nn.log_softmax(logits), action)
    old_log_prob = _chosen(jax.nn.log_softmax(batch.behaviour_logits), action)
    ratio = jnp.exp(new_log_prob - old_log_prob)
    pg_loss = rlax.clipped_surrogate_pg_loss(ratio.reshape(-1), batch.advantage.reshape(-1),
                                             clip_eps)
    value_loss = clipped_value_loss(value, batch.behaviour_value, batch.target,
                                    value_clip_eps).mean()
    entropy = -rlax.entropy_loss(logits.reshape(-1, logits.shape[-1]),
                                 jnp.ones(action.size))
    entropy_coef = entropy_schedule(step)
    loss = pg_loss + value_coef * value_loss - entropy_coef * entropy
    log_ratio = new_log_prob - old_log_prob
    metrics = dict(loss=loss, policy_loss=pg_loss, value_loss=value_loss, entropy=entropy,
                   entropy_coef=entropy_coef, mean_value=value.mean(),
                   approx_kl=jnp.mean(jnp.expm1(log_ratio) - log_ratio),
                   clip_fraction=jnp.mean(jnp.abs(ratio - 1.0) > clip_eps))
    return loss, metrics

  return loss_fn


def _chosen(log_probs: Array, action: Array) -> Array:
  """log pi(a_t) of the actions taken: [T, B, A], [T, B] -> [T, B]."""
  return jnp.take_along_axis(log_probs, action[..., None].astype(jnp.int32), axis=-1)[..., 0]
