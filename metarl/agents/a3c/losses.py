"""The n-step advantage actor-critic loss (Mnih et al. 2016, "Asynchronous methods for deep
reinforcement learning"), as used for meta-RL by Wang et al. (2016, 2018).

For each time t of a [T, B] trajectory:
  G_t      = n-step bootstrapped return, discount gamma * discount_t (0 across an episode end)
  A_t      = G_t - V(o_t)                               (no gradient into G_t)
  loss     = -mean_t[log pi(a_t | o_t) * stop_grad(A_t)]         policy gradient
             + value_coef * mean_t[0.5 * A_t^2]                     value regression
             - entropy_coef * mean_t[H(pi(. | o_t))]                 exploration bonus
All means are over time and batch (seed 001 summed the entropy term: here it is averaged, so
its coefficient does not scale with the unroll length).
"""

from typing import Callable, Dict, Tuple

import jax
import jax.numpy as jnp
import optax
import rlax

from metarl.networks.policy_value import PolicyValueNetworks
from metarl.rollout import Trajectory
from metarl.types import Array, Params

LossFn = Callable[[Params, Trajectory, Array], Tuple[Array, Dict[str, Array]]]


def make_loss(networks: PolicyValueNetworks, gamma: float, n_step: int,
              value_coef: float, entropy_schedule: optax.Schedule) -> LossFn:
  """Returns `loss_fn(params, trajectory, step) -> (loss, metrics)`.

  Args:
    networks: the policy-value network; its `unroll` replays the trajectory from the core
      state it started from, resetting where `first` is true.
    gamma: discount factor.
    n_step: bootstrap horizon (>= the unroll length gives full-chunk returns, as in A3C).
    value_coef: weight of the value loss.
    entropy_schedule: entropy coefficient as a function of the update step.
  """

  def per_sequence(logits, values, action, reward, discount):
    # One unbatched sequence: logits [T, A], values [T + 1], the rest [T].
    returns = rlax.n_step_bootstrapped_returns(
        reward, gamma * discount, values[1:], n=min(n_step, reward.shape[0]),
        stop_target_gradients=True)
    advantage = returns - values[:-1]
    weights = jnp.ones_like(reward)
    pg_loss = rlax.policy_gradient_loss(logits, action, advantage, weights)
    entropy = -rlax.entropy_loss(logits, weights)
    value_loss = 0.5 * jnp.mean(advantage ** 2)
    return pg_loss, value_loss, entropy, advantage

  def loss_fn(params: Params, trajectory: Trajectory, step: Array):
    outputs, _ = networks.unroll(params, trajectory.observation, trajectory.first,
                                 trajectory.core_state)
    pg_loss, value_loss, entropy, advantage = jax.vmap(
        per_sequence, in_axes=1, out_axes=0)(
            outputs.logits[:-1], outputs.value, trajectory.action, trajectory.reward,
            trajectory.discount)
    entropy_coef = entropy_schedule(step)
    pg_loss, value_loss, entropy = pg_loss.mean(), value_loss.mean(), entropy.mean()
    loss = pg_loss + value_coef * value_loss - entropy_coef * entropy
    metrics = dict(loss=loss, policy_loss=pg_loss, value_loss=value_loss,
                   entropy=entropy, entropy_coef=entropy_coef,
                   mean_value=outputs.value.mean(), mean_advantage=advantage.mean())
    return loss, metrics

  return loss_fn
