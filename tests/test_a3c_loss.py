"""The A3C loss against numbers derived by hand (see the comments for the arithmetic)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metarl.agents.a3c import make_loss
from metarl.networks.policy_value import PolicyValueNetworks, PolicyValueOutput
from metarl.rollout import Trajectory

LN_HALF, LN_3Q = math.log(0.5), math.log(0.75)


def fixed_output_networks():
  """A 'network' whose outputs are its params: logits [T+1, A], values [T+1]."""

  def unroll(params, obs, first, state):
    del obs, first
    return PolicyValueOutput(logits=params['logits'][:, None], value=params['values'][:, None],
                             hidden=None), state

  return PolicyValueNetworks(init=None, initial_state=lambda b: (), step=None, unroll=unroll)


def example():
  # T = 3 steps, one sequence. The episode ends after step 2 (discount 0 there).
  params = dict(
      logits=jnp.array([[0.0, 0.0], [math.log(3.0), 0.0], [0.0, math.log(3.0)], [0.0, 0.0]]),
      values=jnp.array([0.5, 0.2, 0.4, 0.9]))  # v0..v3; v3 is the bootstrap value
  traj = Trajectory(
      observation=jnp.zeros((4, 1, 1)), first=jnp.zeros((4, 1), bool),
      action=jnp.array([[0], [0], [1]]), reward=jnp.array([[1.0], [0.0], [1.0]]),
      discount=jnp.array([[1.0], [1.0], [0.0]]), last=jnp.array([[False], [False], [True]]),
      extras={}, core_state=())
  return params, traj


def test_full_return_loss_matches_hand_numbers():
  params, traj = example()
  loss_fn = make_loss(fixed_output_networks(), gamma=0.9, n_step=3, value_coef=0.05,
                      entropy_schedule=optax.constant_schedule(0.01))
  loss, m = loss_fn(params, traj, 0)
  # Returns: G2 = 1 + 0.9*0*v3 = 1; G1 = 0 + 0.9*G2 = 0.9; G0 = 1 + 0.9*0.9 = 1.81.
  # Advantages: [1.81-0.5, 0.9-0.2, 1-0.4] = [1.31, 0.7, 0.6].
  # pi(a_t): 0.5, 0.75, 0.75 -> policy loss = -(1.31 ln.5 + 0.7 ln.75 + 0.6 ln.75) / 3.
  pg = -(1.31 * LN_HALF + 0.7 * LN_3Q + 0.6 * LN_3Q) / 3
  # Entropies: ln 2 and twice -(.75 ln .75 + .25 ln .25).
  h34 = -(0.75 * LN_3Q + 0.25 * math.log(0.25))
  entropy = (math.log(2) + 2 * h34) / 3
  value = 0.5 * (1.31 ** 2 + 0.7 ** 2 + 0.6 ** 2) / 3
  np.testing.assert_allclose(m['policy_loss'], pg, rtol=1e-5)
  np.testing.assert_allclose(pg, 0.427337, rtol=1e-5)
  np.testing.assert_allclose(m['entropy'], entropy, rtol=1e-5)
  np.testing.assert_allclose(m['value_loss'], value, rtol=1e-5)
  np.testing.assert_allclose(loss, pg + 0.05 * value - 0.01 * entropy, rtol=1e-5)
  np.testing.assert_allclose(loss, 0.442662, rtol=1e-5)


def test_one_step_returns_bootstrap_from_next_value():
  params, traj = example()
  loss_fn = make_loss(fixed_output_networks(), gamma=0.9, n_step=1, value_coef=1.0,
                      entropy_schedule=optax.constant_schedule(0.0))
  _, m = loss_fn(params, traj, 0)
  # G = [1 + .9*.2, 0 + .9*.4, 1 + 0] = [1.18, .36, 1.0]; A = [.68, .16, .6].
  np.testing.assert_allclose(m['value_loss'], 0.5 * (0.68**2 + 0.16**2 + 0.6**2) / 3,
                             rtol=1e-5)
  np.testing.assert_allclose(m['mean_advantage'], (0.68 + 0.16 + 0.6) / 3, rtol=1e-5)


def test_gradients_do_not_flow_into_targets_or_through_advantages():
  params, traj = example()
  loss_fn = make_loss(fixed_output_networks(), gamma=0.9, n_step=3, value_coef=0.05,
                      entropy_schedule=optax.constant_schedule(0.0))
  grads, _ = jax.grad(loss_fn, has_aux=True)(params, traj, 0)
  # d/dv_t of 0.05 * 0.5 * mean(A^2) = -0.05 * A_t / 3; the bootstrap value v3 gets none.
  np.testing.assert_allclose(grads['values'], [-0.05 * 1.31 / 3, -0.05 * 0.7 / 3,
                                               -0.05 * 0.6 / 3, 0.0], rtol=1e-5, atol=1e-8)
  # d/dlogits of -A ln pi(a): -A (onehot(a) - pi) / T; the last row is never used.
  expected = -np.array([1.31 * np.array([0.5, -0.5]), 0.7 * np.array([0.25, -0.25]),
                        0.6 * np.array([-0.25, 0.25]), [0.0, 0.0]]) / 3
  np.testing.assert_allclose(grads['logits'], expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize('step,expected', [(0, 0.05), (50, 0.025), (100, 0.0)])
def test_entropy_schedule_follows_the_update_step(step, expected):
  params, traj = example()
  loss_fn = make_loss(fixed_output_networks(), 0.9, 3, 0.05,
                      optax.linear_schedule(0.05, 0.0, transition_steps=100))
  _, m = loss_fn(params, traj, step)
  np.testing.assert_allclose(m['entropy_coef'], expected, atol=1e-7)
