"""The Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for
Long Sequences"), resettable for reinforcement learning (as Lu et al. 2023 reset S5), unrolled
over a sequence with an associative scan: logarithmic depth instead of one step at a time.

One layer, for input u_t (after a layer norm):

  h_t = lambda * h_{t-1} * (1 - first_t) + gamma * (B u_t)       complex, diagonal lambda
  y_t = Re(C h_t) + D * u_t
  x_t <- x_t + GELU(y_t)                                         (residual)

lambda = exp(-exp(nu) + i exp(theta)) keeps |lambda| < 1 for any nu; at initialisation
|lambda| is uniform on the ring [r_min, r_max] (0.9 to 0.999: slow modes for memory) with
phases in [0, max_phase]; gamma = sqrt(1 - |lambda|^2) normalises the input. A first layer
maps the observation to `hidden_size` features; layers are stacked with `num_layers`.

Resets: where `first_t` is true the state restarts from zero before step t, inside the scan
(the recurrence's multiplier is 0 there), so episodes in one sequence never see each other.
The state is kept as real numbers, [B, 2N] per layer (real parts, then imaginary parts).
`__call__` steps one observation (acting); `unroll` runs a whole sequence (learning): the
same numbers up to float rounding (tests/test_lru.py).
"""

from typing import Tuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from metarl.types import Array

R_MIN, R_MAX, MAX_PHASE = 0.9, 0.999, 2 * np.pi


def _ring_init(r_min: float, r_max: float, max_phase: float):
  """Initialisers of nu_log and theta_log: |lambda| uniform on the ring, phase uniform."""

  def nu_log(shape, dtype):
    u = jax.random.uniform(hk.next_rng_key(), shape)
    return jnp.log(-0.5 * jnp.log(u * (r_max ** 2 - r_min ** 2) + r_min ** 2)).astype(dtype)

  def theta_log(shape, dtype):
    u = jax.random.uniform(hk.next_rng_key(), shape)
    return jnp.log(max_phase * u + 1e-8).astype(dtype)

  return nu_log, theta_log


class LRU(hk.RNNCore):
  """Stacked resettable LRU layers of `hidden_size` features (state size = features)."""

  def __init__(self, hidden_size: int, num_layers: int = 1, name=None):
    super().__init__(name=name or 'lru')
    self.hidden_size = hidden_size
    self.num_layers = num_layers

  # Parameters ---------------------------------------------------------------------------

  def _layer(self, i: int):
    n = self.hidden_size
    nu_init, theta_init = _ring_init(R_MIN, R_MAX, MAX_PHASE)
    with hk.experimental.name_scope(f'layer_{i}'):
      nu_log = hk.get_parameter('nu_log', [n], jnp.float32, init=nu_init)
      theta_log = hk.get_parameter('theta_log', [n], jnp.float32, init=theta_init)
      b_init = hk.initializers.RandomNormal(1.0 / np.sqrt(2 * n))
      c_init = hk.initializers.RandomNormal(1.0 / np.sqrt(n))
      b = (hk.get_parameter('b_re', [n, n], jnp.float32, init=b_init) +
           1j * hk.get_parameter('b_im', [n, n], jnp.float32, init=b_init))
      c = (hk.get_parameter('c_re', [n, n], jnp.float32, init=c_init) +
           1j * hk.get_parameter('c_im', [n, n], jnp.float32, init=c_init))
      d = hk.get_parameter('d', [n], jnp.float32, init=hk.initializers.RandomNormal())
      norm = hk.LayerNorm(-1, create_scale=True, create_offset=True, name='norm')
    magnitude = jnp.exp(-jnp.exp(nu_log))
    lam = magnitude * jnp.exp(1j * jnp.exp(theta_log))
    gamma = jnp.sqrt(1.0 - magnitude ** 2)
    return lam, gamma, b, c, d, norm

  def _encode(self, x: Array) -> Array:
    return hk.Linear(self.hidden_size, name='encoder')(x)

  # State --------------------------------------------------------------------------------

  def initial_state(self, batch_size: int) -> Tuple[Array, ...]:
    return tuple(jnp.zeros((batch_size, 2 * self.hidden_size), jnp.float32)
                 for _ in range(self.num_layers))

  @staticmethod
  def _complex(state: Array) -> Array:
    n = state.shape[-1] // 2
    return state[..., :n] + 1j * state[..., n:]

  @staticmethod
  def _real(h: Array) -> Array:
    return jnp.concatenate([h.real, h.imag], axis=-1).astype(jnp.float32)

  # One step and a whole sequence --------------------------------------------------------

  def __call__(self, inputs, state):
    """inputs (x [B, D], first [B] bool) -> (features [B, H], new state)."""
    x, first = inputs
    x = self._encode(x)
    keep = 1.0 - first.astype(jnp.float32)[:, None]
    new_state = []
    for i, layer_state in enumerate(state):
      lam, gamma, b, c, d, norm = self._layer(i)
      u = norm(x)
      h = lam * self._complex(layer_state) * keep + gamma * (u @ b.T)
      x = x + jax.nn.gelu((h @ c.T).real + d * u)
      new_state.append(self._real(h))
    return x, tuple(new_state)

  def unroll(self, x: Array, first: Array, state) -> Tuple[Array, tuple]:
    """x [T, B, D], first [T, B] bool, state (per layer [B, 2N]) -> (features [T, B, H],
    the state after the last step), all steps of a layer in one associative scan."""
    x = self._encode(x)
    keep = 1.0 - first.astype(jnp.float32)[..., None]  # [T, B, 1]
    new_state = []
    for i, layer_state in enumerate(state):
      lam, gamma, b, c, d, norm = self._layer(i)
      u = norm(x)
      a = lam * keep  # [T, B, N]: the multiplier of h_{t-1}, 0 at a reset
      v = gamma * (u @ b.T)
      v = v.at[0].add(a[0] * self._complex(layer_state))  # the state carried in

      def combine(left, right):
        a_l, v_l = left
        a_r, v_r = right
        return a_r * a_l, a_r * v_l + v_r

      _, h = jax.lax.associative_scan(combine, (a, v), axis=0)
      x = x + jax.nn.gelu((h @ c.T).real + d * u)
      new_state.append(self._real(h[-1]))
    return x, tuple(new_state)
