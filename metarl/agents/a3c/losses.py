"""The n-step advantage actor-critic loss (Mnih et al. 2016, "Asynchronous methods for deep
reinforcement learning"), as used for meta-RL by Wang et al. (2016, 2018).

For each time t of a [T, B] trajectory, with discounts gamma * discount_t (0 across an
episode end) and the value V(o_T) bootstrapping at the end of the chunk:
  Psi_t    = the advantage estimate of `agent.advantage` (`ADVANTAGES`, Bartunov's lecture):
               'mc'        G_t, the Monte-Carlo return (to the episode end, else V(o_T))
               'baseline'  G_t - V(o_t)
               'kstep'     G^K_t - V(o_t), the K-step bootstrapped return (K = n_step)
               'gae'       sum_k (gamma lambda)^k delta_{t+k}, i.e. G^lambda_t - V(o_t)
               'immediate' r_t (the last resort of Bartunov's lecture: memory still carries
               credit back)
  y_t      = the value target: G^K_t for 'kstep', G^lambda_t for 'gae', else G_t
  (with `normalize_advantages`, Psi_t is then standardised over the chunk's [T, B] batch)
  loss     = -mean_t[log pi(a_t | o_t) * stop_grad(Psi_t)]         policy gradient
             + value_coef * mean_t[0.5 * (stop_grad(y_t) - V(o_t))^2] value regression
             - entropy_coef * mean_t[H(pi(. | o_t))]                 exploration bonus
All means are over time and batch (nathanwispinski/meta-rl summed the entropy term: here it
is averaged, so its coefficient does not scale with the unroll length). The recurrent state
a chunk starts from is a constant of the loss (truncated BPTT: no gradient crosses a chunk
boundary).
"""

from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import optax
import rlax

from metarl.networks.policy_value import PolicyValueNetworks
from metarl.rollout import Trajectory, assert_trajectory
from metarl.types import Array, Params

LossFn = Callable[[Params, Trajectory, Array], tuple[Array, dict[str, Array]]]


ADVANTAGES = ('mc', 'baseline', 'kstep', 'gae', 'immediate')


def estimate(advantage: str, reward: Array, discount: Array, values: Array,
             n_step: int = 1, gae_lambda: float = 1.0) -> tuple[Array, Array]:
  """The policy-gradient weight Psi_t and the value target y_t of one sequence (rlax).

  Args:
    advantage: one of `ADVANTAGES` (see the module docstring).
    reward: [T] rewards r_t.
    discount: [T] discounts gamma * discount_t.
    values: [T + 1] V(o_0) .. V(o_T); the last bootstraps the end of the chunk.
    n_step: K of 'kstep' (clipped to T: K >= T is the Monte-Carlo return of the chunk).
    gae_lambda: lambda of 'gae'.

  Returns:
    (psi [T], target [T]), both without gradient.
  """
  chex.assert_rank([reward, discount, values], 1)
  chex.assert_type([reward, discount, values], float)
  chex.assert_equal_shape([reward, discount])
  chex.assert_shape(values, (reward.shape[0] + 1,))
  values = jax.lax.stop_gradient(values)
  if advantage == 'kstep':
    target = rlax.n_step_bootstrapped_returns(reward, discount, values[1:],
                                              n=min(n_step, reward.shape[0]))
  elif advantage == 'gae':
    target = values[:-1] + rlax.truncated_generalized_advantage_estimation(
        reward, discount, gae_lambda, values)
  elif advantage in ('mc', 'baseline', 'immediate'):
    target = rlax.lambda_returns(reward, discount, values[1:], lambda_=1.0)
  else:
    raise ValueError(f'advantage must be one of {ADVANTAGES}, got {advantage!r}')
  if advantage == 'mc':
    psi = target
  elif advantage == 'immediate':
    psi = reward
  else:
    psi = target - values[:-1]
  return psi, target


def make_loss(networks: PolicyValueNetworks, gamma: float, n_step: int,
              value_coef: float, entropy_schedule: optax.Schedule,
              advantage: str = 'kstep', gae_lambda: float = 1.0,
              normalize_advantages: bool = False, reward_scale: float = 1.0) -> LossFn:
  """Returns `loss_fn(params, trajectory, step) -> (loss, metrics)`.

  Args:
    networks: the policy-value network; its `unroll` replays the trajectory from the core
      state it started from, resetting where `first` is true.
    gamma: discount factor.
    n_step: K, the bootstrap horizon of 'kstep' (>= the unroll length gives full-chunk
      returns, as in A3C).
    value_coef: weight of the value loss.
    entropy_schedule: entropy coefficient as a function of the update step.
    advantage: the estimator of Psi_t, one of `ADVANTAGES`.
    gae_lambda: lambda of 'gae'.
    normalize_advantages: Psi to mean 0 and standard deviation 1 over the chunk's [T, B]
      batch before the policy gradient (PPO's habit: the policy term keeps its scale
      whatever the scale of the returns, e.g. over whole episodes at gamma near 1).
    reward_scale: the rewards are multiplied by it, so the value predicts scaled returns
      (a value head of bounded features learns returns of order 1 far sooner than returns
      of order 50, a whole bandit episode's at gamma 1).
  """
  if advantage not in ADVANTAGES:
    raise ValueError(f'advantage must be one of {ADVANTAGES}, got {advantage!r}')

  def per_sequence(logits, values, action, reward, discount, psi=None):
    # One unbatched sequence: logits [T, A], values [T + 1], the rest [T]; `psi` given
    # (normalised over the batch) replaces the sequence's own estimate.
    own_psi, target = estimate(advantage, reward, gamma * discount, values, n_step,
                               gae_lambda)
    psi = own_psi if psi is None else psi
    weights = jnp.ones_like(reward)
    pg_loss = rlax.policy_gradient_loss(logits, action, psi, weights)
    entropy = -rlax.entropy_loss(logits, weights)
    value_loss = 0.5 * jnp.mean((target - values[:-1]) ** 2)
    return pg_loss, value_loss, entropy, psi

  def loss_fn(params: Params, trajectory: Trajectory, step: Array):
    assert_trajectory(trajectory)
    chex.assert_rank(step, 0)
    if reward_scale != 1.0:
      trajectory = trajectory._replace(reward=reward_scale * trajectory.reward)
    start_state = jax.lax.stop_gradient(trajectory.core_state)
    outputs, _ = networks.unroll(params, trajectory.observation, trajectory.first,
                                 start_state)
    chex.assert_equal_shape_prefix([outputs.logits, outputs.value, trajectory.first], 2)
    inputs = (outputs.logits[:-1], outputs.value, trajectory.action, trajectory.reward,
              trajectory.discount)
    if normalize_advantages:
      psi, _ = jax.vmap(estimate, in_axes=(None, 1, 1, 1, None, None), out_axes=1)(
          advantage, trajectory.reward, gamma * trajectory.discount, outputs.value, n_step,
          gae_lambda)
      inputs += ((psi - psi.mean()) / (psi.std() + 1e-8),)
    pg_loss, value_loss, entropy, advantage_used = jax.vmap(
        per_sequence, in_axes=1, out_axes=0)(*inputs)
    entropy_coef = entropy_schedule(step)
    pg_loss, value_loss, entropy = pg_loss.mean(), value_loss.mean(), entropy.mean()
    loss = pg_loss + value_coef * value_loss - entropy_coef * entropy
    metrics = dict(loss=loss, policy_loss=pg_loss, value_loss=value_loss,
                   entropy=entropy, entropy_coef=entropy_coef,
                   mean_value=outputs.value.mean(), mean_advantage=advantage_used.mean())
    return loss, metrics

  return loss_fn
