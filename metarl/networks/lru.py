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
same numbers up to float rounding (tests/test_lru.py). The input and output projections of
`unroll` run on all steps at once; only the elementwise recurrence is a scan: an associative
one (logarithmic depth, for accelerators) or, on a CPU, one call of the native kernel
(`metarl/networks/native/linear_scan.cc`; a sequential XLA scan where it is not built).
"""


import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from metarl.networks import native
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

  def __init__(self, hidden_size: int, num_layers: int = 1, name=None, parallel=None):
    """`parallel`: unroll the recurrence with an associative scan (True) or step by step
    (False); None: on a CPU the native kernel of `metarl.networks.native` where it is
    built (else step by step: a layer of 16 units over 500 steps of 32 sequences, 6.5
    against 11 ms forward and backward for the associative scan), elsewhere parallel."""
    super().__init__(name=name or 'lru')
    self.hidden_size = hidden_size
    self.num_layers = num_layers
    self.parallel = parallel

  # Parameters ---------------------------------------------------------------------------

  def _layer(self, i: int):
    """The layer's parameters as real arrays: lambda (re, im), gamma, B (re, im), C (re,
    im), D and its layer norm. The complex products are written out in real and imaginary
    parts: XLA's CPU backend multiplies complex64 matrices at about half the speed."""
    n = self.hidden_size
    nu_init, theta_init = _ring_init(R_MIN, R_MAX, MAX_PHASE)
    with hk.experimental.name_scope(f'layer_{i}'):
      nu_log = hk.get_parameter('nu_log', [n], jnp.float32, init=nu_init)
      theta_log = hk.get_parameter('theta_log', [n], jnp.float32, init=theta_init)
      b_init = hk.initializers.RandomNormal(1.0 / np.sqrt(2 * n))
      c_init = hk.initializers.RandomNormal(1.0 / np.sqrt(n))
      b = (hk.get_parameter('b_re', [n, n], jnp.float32, init=b_init),
           hk.get_parameter('b_im', [n, n], jnp.float32, init=b_init))
      c = (hk.get_parameter('c_re', [n, n], jnp.float32, init=c_init),
           hk.get_parameter('c_im', [n, n], jnp.float32, init=c_init))
      d = hk.get_parameter('d', [n], jnp.float32, init=hk.initializers.RandomNormal())
      norm = hk.LayerNorm(-1, create_scale=True, create_offset=True, name='norm')
    magnitude = jnp.exp(-jnp.exp(nu_log))
    phase = jnp.exp(theta_log)
    lam = (magnitude * jnp.cos(phase), magnitude * jnp.sin(phase))
    gamma = jnp.sqrt(1.0 - magnitude ** 2)
    return lam, gamma, b, c, d, norm

  def _encode(self, x: Array) -> Array:
    return hk.Linear(self.hidden_size, name='encoder')(x)

  # State --------------------------------------------------------------------------------

  def initial_state(self, batch_size: int) -> tuple[Array, ...]:
    return tuple(jnp.zeros((batch_size, 2 * self.hidden_size), jnp.float32)
                 for _ in range(self.num_layers))

  @staticmethod
  def _parts(state: Array):
    n = state.shape[-1] // 2
    return state[..., :n], state[..., n:]

  # One step and a whole sequence --------------------------------------------------------

  @staticmethod
  def _input(u: Array, gamma: Array, b) -> tuple[Array, Array]:
    return gamma * (u @ b[0].T), gamma * (u @ b[1].T)  # gamma * (B u)

  @staticmethod
  def _output(h_re: Array, h_im: Array, c, d: Array, u: Array) -> Array:
    return h_re @ c[0].T - h_im @ c[1].T + d * u  # Re(C h) + D u

  def __call__(self, inputs, state):
    """inputs (x [B, D], first [B] bool) -> (features [B, H], new state)."""
    x, first = inputs
    x = self._encode(x)
    keep = 1.0 - first.astype(jnp.float32)[:, None]
    new_state = []
    for i, layer_state in enumerate(state):
      (l_re, l_im), gamma, b, c, d, norm = self._layer(i)
      u = norm(x)
      v_re, v_im = self._input(u, gamma, b)
      h_re, h_im = self._parts(layer_state)
      h_re, h_im = (keep * (l_re * h_re - l_im * h_im) + v_re,
                    keep * (l_re * h_im + l_im * h_re) + v_im)
      x = x + jax.nn.gelu(self._output(h_re, h_im, c, d, u))
      new_state.append(jnp.concatenate([h_re, h_im], axis=-1))
    return x, tuple(new_state)

  def unroll(self, x: Array, first: Array, state) -> tuple[Array, tuple]:
    """x [T, B, D], first [T, B] bool, state (per layer [B, 2N]) -> (features [T, B, H],
    the state after the last step). The projections run on all steps at once; the
    elementwise recurrence is one call of the native kernel (on a CPU where it is built),
    an associative scan (`parallel`) or a sequential one."""
    x = self._encode(x)
    keep = 1.0 - first.astype(jnp.float32)[..., None]  # [T, B, 1]
    recurrence = _recurrence(self.parallel)
    new_state = []
    for i, layer_state in enumerate(state):
      (l_re, l_im), gamma, b, c, d, norm = self._layer(i)
      u = norm(x)
      a = (l_re * keep, l_im * keep)  # the multiplier of h_{t-1}, 0 at a reset
      v = self._input(u, gamma, b)
      h0 = self._parts(layer_state)  # the state carried in
      h_re, h_im = recurrence(a, v, h0)
      x = x + jax.nn.gelu(self._output(h_re, h_im, c, d, u))
      new_state.append(jnp.concatenate([h_re[-1], h_im[-1]], axis=-1))
    return x, tuple(new_state)


def _sequential_recurrence(a, v, h0):
  """h_t = a_t h_{t-1} + v_t (complex, as (re, im) pairs), one step after another."""

  def step(h, inputs):
    (h_re, h_im), (a_re, a_im, v_re, v_im) = h, inputs
    h = (a_re * h_re - a_im * h_im + v_re, a_re * h_im + a_im * h_re + v_im)
    return h, h

  _, (h_re, h_im) = jax.lax.scan(step, h0, (*a, *v))
  return h_re, h_im


def _parallel_recurrence(a, v, h0):
  """The same recurrence in one associative scan (logarithmic depth): the pairs (a, v)
  compose as (a_l, v_l) then (a_r, v_r) -> (a_r a_l, a_r v_l + v_r)."""
  (a_re, a_im), (v_re, v_im), (h_re, h_im) = a, v, h0
  v_re = v_re.at[0].add(a_re[0] * h_re - a_im[0] * h_im)  # the state carried in
  v_im = v_im.at[0].add(a_re[0] * h_im + a_im[0] * h_re)

  def combine(left, right):
    (ar_l, ai_l, vr_l, vi_l), (ar_r, ai_r, vr_r, vi_r) = left, right
    return (ar_r * ar_l - ai_r * ai_l, ar_r * ai_l + ai_r * ar_l,
            ar_r * vr_l - ai_r * vi_l + vr_r, ar_r * vi_l + ai_r * vr_l + vi_r)

  _, _, h_re, h_im = jax.lax.associative_scan(combine, (a_re, a_im, v_re, v_im), axis=0)
  return h_re, h_im


def _recurrence(parallel):
  """The implementation of h_t = a_t h_{t-1} + v_t that `parallel` asks for (None: the
  fastest here)."""
  if parallel is None:
    if jax.default_backend() != 'cpu':
      return _parallel_recurrence
    return _native_recurrence if native.available() else _sequential_recurrence
  return _parallel_recurrence if parallel else _sequential_recurrence


def _scan_call(name, outputs, *args):
  """Runs native kernel `name` on float32 `args`; `outputs` results of the shapes (in
  order) of the arguments that match them."""
  args = [x.astype(jnp.float32) for x in args]
  shapes = tuple(jax.ShapeDtypeStruct(shape, jnp.float32) for shape in outputs)
  return jax.ffi.ffi_call(name, shapes, vmap_method='broadcast_all')(*args)


@jax.custom_vjp
def _native_recurrence(a, v, h0):
  """The recurrence as one call of the native kernel (metarl/networks/native/
  linear_scan.cc), its gradient as another."""
  return _native_forward(a, v, h0)


def _native_forward(a, v, h0):
  """a, v: (re, im) of [T, B, N] (as for the other two scans); h0: (re, im) of [B, N]."""
  return _scan_call(native.SCAN_FORWARD, (v[0].shape,) * 2, *a, *v, *h0)


def _native_fwd(a, v, h0):
  h = _native_forward(a, v, h0)
  return h, (a, h0, h)


def _native_bwd(residuals, g):
  """The kernel returns dL/dv_t = G_t, where G_t = g_t + conj(a_{t+1}) G_{t+1}, dL/da_t =
  G_t conj(h_{t-1}) and dL/dh0 = conj(a_0) G_0."""
  a, h0, h = residuals
  shape, state = h[0].shape, h0[0].shape
  dv_re, dv_im, da_re, da_im, dh0_re, dh0_im = _scan_call(
      native.SCAN_BACKWARD, (shape,) * 4 + (state,) * 2, *a, *g, *h0, *h)
  return (da_re, da_im), (dv_re, dv_im), (dh0_re, dh0_im)


_native_recurrence.defvjp(_native_fwd, _native_bwd)
