"""Recurrent resets inside an unroll against a plain step-by-step Python loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.networks import make_policy_value_networks


@pytest.mark.parametrize('core', ['lstm', 'gru'])
def test_unroll_with_resets_equals_step_by_step_loop(core):
  T, B, D = 12, 3, 4
  nets = make_policy_value_networks(num_actions=2, observation_shape=(D,), core_type=core,
                                    hidden_size=5, torso_sizes=(6,))
  params = nets.init(jax.random.PRNGKey(0))
  obs = jax.random.normal(jax.random.PRNGKey(1), (T, B, D))
  first = np.zeros((T, B), bool)
  first[[0, 4, 9], 0] = True
  first[[3], 1] = True
  first[[0, 7, 8], 2] = True
  # A non-zero start state, so a missing reset would show.
  start = jax.tree_util.tree_map(lambda x: x + 0.5, nets.initial_state(B))
  out, final = nets.unroll(params, obs, jnp.asarray(first), start)

  state = start
  zero = nets.initial_state(1)
  for t in range(T):
    for b in range(B):
      s_b = jax.tree_util.tree_map(lambda x, b=b: x[b:b + 1], state)
      if first[t, b]:  # reset by hand: the initial state, as at an episode start
        s_b = zero
      o, s_b = nets.step(params, obs[t, b:b + 1], jnp.zeros((1,), bool), s_b)
      np.testing.assert_allclose(out.logits[t, b], o.logits[0], rtol=1e-5, atol=1e-6)
      np.testing.assert_allclose(out.value[t, b], o.value[0], rtol=1e-5, atol=1e-6)
      state = jax.tree_util.tree_map(lambda x, y, b=b: x.at[b].set(y[0]), state, s_b)
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), final, state)


def test_step_and_unroll_agree():
  nets = make_policy_value_networks(3, (4,), 'lstm', 8)
  params = nets.init(jax.random.PRNGKey(0))
  obs = jax.random.normal(jax.random.PRNGKey(2), (5, 2, 4))
  first = jnp.zeros((5, 2), bool).at[0].set(True)
  out, _ = nets.unroll(params, obs, first, nets.initial_state(2))
  state = nets.initial_state(2)
  for t in range(5):
    o, state = nets.step(params, obs[t], first[t], state)
    np.testing.assert_allclose(out.logits[t], o.logits, rtol=1e-5, atol=1e-6)
