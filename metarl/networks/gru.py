"""A stack of GRU layers unrolled over a sequence with a hand-written gradient.

The cell is PyTorch's and RLtools' GRU (the reset gate scales the hidden projection after
the matmul), gates ordered r, z, n:

  r = sigmoid(x W_ir + b_ir + h W_hr + b_hr)
  z = sigmoid(x W_iz + b_iz + h W_hz + b_hz)
  n = tanh(x W_in + b_in + r * (h W_hn + b_hn))
  h' = (1 - z) * n + z * h

Why hand-written: the networks of recurrent SAC are tiny (4 sequences, 16 units), so a
step costs what its kernels cost to launch, not their arithmetic. Haiku's GRU applied the
reset gate before a second matmul and JAX's automatic gradient of a scan adds a weight
gradient and residual writes per step: about 18 small matmuls per two-layer step, forward
and backward. Here one step of the forward pass is one matmul per layer (the first
layer's input projection is done for all steps at once, before the scan; a deeper layer's
input and hidden projections are one matmul on [x, h]), the backward pass is one matmul
per layer per step, and the weight gradients are a few large matmuls over all steps after
the backward scan. On a CPU even that is several microseconds per step of XLA's loop, so
there the two scans run in the native kernel of `metarl.networks.native` (one call per
sequence pass, forward or backward); the scans below are the reference it is tested
against and what runs elsewhere (`xla_only()` forces them).

Resets: `keep` [T, B] is 0 where the state restarts from zero before the step (an
episode's first step), 1 elsewhere; the gradient does not flow through a reset.
"""

import contextlib
from collections.abc import Sequence

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from metarl.networks import native
from metarl.types import Array

LayerParams = dict  # w_i [D, 3H], b_i [3H], w_h [H, 3H], b_h [3H]


def _combined(layer: LayerParams) -> tuple[Array, Array]:
  """For a layer above the first: W [D + H, 4H] and b [4H] such that [x, h] @ W + b is
  [r and z pre-activations (input and hidden parts summed), x W_in + b_in, h W_hn + b_hn]."""
  w_i, w_h = layer['w_i'], layer['w_h']
  hidden = w_h.shape[0]
  zeros_i = jnp.zeros((w_i.shape[0], hidden), w_i.dtype)
  zeros_h = jnp.zeros((hidden, hidden), w_h.dtype)
  top = jnp.concatenate([w_i[:, :2 * hidden], w_i[:, 2 * hidden:], zeros_i], axis=1)
  bottom = jnp.concatenate([w_h[:, :2 * hidden], zeros_h, w_h[:, 2 * hidden:]], axis=1)
  b_i, b_h = layer['b_i'], layer['b_h']
  bias = jnp.concatenate([b_i[:2 * hidden] + b_h[:2 * hidden], b_i[2 * hidden:],
                          b_h[2 * hidden:]])
  return jnp.concatenate([top, bottom], axis=0), bias


def _gates(pre_rz: Array, gi_n: Array, gh_n: Array, h: Array):
  """(h', r, z, n) from the summed r/z pre-activations and the two n projections."""
  hidden = h.shape[-1]
  rz = jax.nn.sigmoid(pre_rz)
  r, z = rz[..., :hidden], rz[..., hidden:]
  n = jnp.tanh(gi_n + r * gh_n)
  return n + z * (h - n), r, z, n


def _layer_step(layer: LayerParams, combined, gi: Array, x: Array, h: Array):
  """One step of one layer. Layer 0 passes its precomputed input projection `gi` [B, 3H];
  deeper layers pass their input `x` and their `combined` weights. Returns (h', r, z, n,
  gh_n)."""
  hidden = h.shape[-1]
  if combined is None:
    gh = h @ layer['w_h'] + layer['b_h']
    pre_rz = gi[..., :2 * hidden] + gh[..., :2 * hidden]
    gi_n, gh_n = gi[..., 2 * hidden:], gh[..., 2 * hidden:]
  else:
    w, b = combined
    g = jnp.concatenate([x, h], axis=-1) @ w + b
    pre_rz, gi_n, gh_n = g[..., :2 * hidden], g[..., 2 * hidden:3 * hidden], g[..., 3 * hidden:]
  new_h, r, z, n = _gates(pre_rz, gi_n, gh_n, h)
  return new_h, r, z, n, gh_n


def input_projection(layer: LayerParams, x: Array) -> Array:
  """The first layer's x W_i + b_i for every step at once, [..., 3H]."""
  return x @ layer['w_i'] + layer['b_i']


def step(layers: list[LayerParams], x: Array, keep: Array, state: tuple[Array, ...]):
  """One step of the stack: x [B, D], keep [B] (0: restart from zero), state per layer.
  Returns (top output [B, H], new state)."""
  gi = input_projection(layers[0], x)
  new_state = []
  inp = None
  for i, layer in enumerate(layers):
    h = state[i] * keep[:, None].astype(state[i].dtype)
    combined = None if i == 0 else _combined(layer)
    inp, *_ = _layer_step(layer, combined, gi, inp, h)
    new_state.append(inp)
  return inp, tuple(new_state)


def _scan(layers, gi0, keep, h0, with_residuals: bool):
  """The forward scan. With residuals, each step also writes one array [B, sum 5H]: per
  layer [h', r, z, n, h W_hn + b_hn] (one write per step, not one per quantity)."""
  combined = [None] + [_combined(layer) for layer in layers[1:]]

  def body(hs, xs):
    gi, k = xs
    inp, new_hs, saved = None, [], []
    for i, layer in enumerate(layers):
      h = hs[i] * k
      inp, r, z, n, gh_n = _layer_step(layer, combined[i], gi, inp, h)
      new_hs.append(inp)
      saved += [inp, r, z, n, gh_n]
    out = jnp.concatenate(saved, axis=-1) if with_residuals else inp
    return tuple(new_hs), out

  return jax.lax.scan(body, tuple(h0), (gi0, keep[..., None]))


def _split_residuals(saved: Array, sizes: Sequence[int]):
  """Per layer (h' [T, B, H], gates [T, B, 4H]) from the forward scan's residual array."""
  out, start = [], 0
  for hidden in sizes:
    out.append((saved[..., start:start + hidden],
                saved[..., start + hidden:start + 5 * hidden]))
    start += 5 * hidden
  return out


def _previous_states(h0: tuple[Array, ...], outs: Sequence[Array]) -> list[Array]:
  """Per layer [T, B, H]: the state each step started from (before the reset mask): h0's
  at the first step, the layer's previous output after."""
  return [jnp.concatenate([h[None], out[:-1]], axis=0) for h, out in zip(h0, outs, strict=True)]


def _pack(layers: list[LayerParams]) -> Array:
  """The native kernels' flat weights: per layer w_i, b_i, w_h, b_h."""
  return jnp.concatenate([layer[key].reshape(-1) for layer in layers
                          for key in _KEYS]).astype(jnp.float32)


def _unpack(layers: list[LayerParams], flat: Array) -> list[LayerParams]:
  """`_pack`'s inverse, in the layers' dtypes."""
  out, start = [], 0
  for layer in layers:
    grad = {}
    for key in _KEYS:
      size = layer[key].size
      grad[key] = flat[start:start + size].reshape(layer[key].shape).astype(layer[key].dtype)
      start += size
    out.append(grad)
  return out


_KEYS = ('w_i', 'b_i', 'w_h', 'b_h')


def _sizes(layers) -> tuple[int, ...]:
  return tuple(layer['w_h'].shape[0] for layer in layers)


_XLA_ONLY = [False]


@contextlib.contextmanager
def xla_only():
  """Within: GRU stacks traced here run as XLA scans, not the native kernels (tests compare
  the two; a program traced inside keeps the choice)."""
  _XLA_ONLY.append(True)
  try:
    yield
  finally:
    _XLA_ONLY.pop()


def _use_native(x) -> bool:
  return x.dtype == jnp.float32 and not _XLA_ONLY[-1] and native.available()


def _native_forward(layers, x, keep, h0) -> Array:
  sizes = _sizes(layers)
  shape = x.shape[:2] + (5 * sum(sizes),)
  call = jax.ffi.ffi_call(native.FORWARD, jax.ShapeDtypeStruct(shape, jnp.float32),
                          vmap_method='broadcast_all')
  return call(x, keep.astype(jnp.float32), jnp.concatenate(h0, axis=-1).astype(jnp.float32),
              _pack(layers), sizes=np.asarray(sizes, np.int64))


def _native_backward(layers, x, keep, h0, saved, d_out):
  """The native backward: (d layers, d x, d h0 per layer)."""
  sizes = _sizes(layers)
  f32 = jnp.float32
  weights = _pack(layers)
  results = (jax.ShapeDtypeStruct(x.shape, f32),
             jax.ShapeDtypeStruct(x.shape[1:2] + (sum(sizes),), f32),
             jax.ShapeDtypeStruct(weights.shape, f32))
  call = jax.ffi.ffi_call(native.BACKWARD, results, vmap_method='broadcast_all')
  dx, dh0, dw = call(d_out.astype(f32), saved, x, keep.astype(f32),
                     jnp.concatenate(h0, axis=-1).astype(f32), weights,
                     sizes=np.asarray(sizes, np.int64))
  return _unpack(layers, dw), dx, tuple(jnp.split(dh0, np.cumsum(sizes)[:-1], axis=-1))


@jax.custom_vjp
def unroll(layers: list[LayerParams], x: Array, keep: Array, h0: tuple[Array, ...]) -> Array:
  """The top layer's outputs [T, B, H] of the stack over a sequence.

  Args:
    layers: per layer {'w_i', 'b_i', 'w_h', 'b_h'}.
    x: [T, B, D] the first layer's inputs.
    keep: [T, B] float, 0 where the state restarts from zero before the step.
    h0: per layer [B, H], the state before the first step.
  """
  if _use_native(x):
    return _split_residuals(_native_forward(layers, x, keep, h0), _sizes(layers))[-1][0]
  _, out = _scan(layers, input_projection(layers[0], x), keep, h0, with_residuals=False)
  return out


def _unroll_fwd(layers, x, keep, h0):
  if _use_native(x):
    saved = _native_forward(layers, x, keep, h0)
  else:
    _, saved = _scan(layers, input_projection(layers[0], x), keep, h0, with_residuals=True)
  top = _split_residuals(saved, _sizes(layers))[-1][0]
  return top, (layers, x, keep, h0, saved)


def _scan_backward(layers, keep, h0, saved, d_out):
  """The backward pass as a reverse scan (what the native kernel computes)."""
  num_layers = len(layers)
  sizes = _sizes(layers)
  combined = [None] + [_combined(layer)[0] for layer in layers[1:]]
  parts = _split_residuals(saved, sizes)
  prevs = _previous_states(h0, [p[0] for p in parts])
  k = keep[..., None]

  def body(dhs, xs):
    d_top, gates, prev, kt = xs
    d = d_top
    new_dhs = [None] * num_layers
    grads = [None] * num_layers
    for i in reversed(range(num_layers)):
      d = d + dhs[i]
      hidden = prev[i].shape[-1]
      g = gates[i]
      r, z = g[..., :hidden], g[..., hidden:2 * hidden]
      n, gh_n = g[..., 2 * hidden:3 * hidden], g[..., 3 * hidden:]
      h = prev[i] * kt
      dz = d * (h - n)
      dh = d * z
      da = d * (1.0 - z) * (1.0 - n * n)  # through n = tanh(a)
      dpr = da * gh_n * r * (1.0 - r)
      dpz = dz * z * (1.0 - z)
      grads[i] = [dpr, dpz, da, da * r]
      if i == 0:
        dh = dh + jnp.concatenate([dpr, dpz, da * r], axis=-1) @ layers[0]['w_h'].T
      else:
        dxh = jnp.concatenate(grads[i], axis=-1) @ combined[i].T  # [B, D + H]
        dx, dh_extra = dxh[..., :-hidden], dxh[..., -hidden:]
        dh = dh + dh_extra
        d = dx  # flows into the output of the layer below
      new_dhs[i] = dh * kt
    return tuple(new_dhs), jnp.concatenate(sum(grads, []), axis=-1)

  zero = tuple(jnp.zeros_like(h) for h in h0)
  gates = tuple(p[1] for p in parts)
  dh0, grads = jax.lax.scan(body, zero, (d_out, gates, tuple(prevs), k), reverse=True)
  return grads, dh0


def _unroll_bwd(residuals, d_out):
  layers, x, keep, h0, saved = residuals
  if _use_native(x):
    d_layers, dx, dh0 = _native_backward(layers, x, keep, h0, saved, d_out)
    return d_layers, dx.astype(x.dtype), jnp.zeros_like(keep), dh0
  sizes = _sizes(layers)
  all_grads, dh0 = _scan_backward(layers, keep, h0, saved, d_out)
  outs = [p[0] for p in _split_residuals(saved, sizes)]  # per layer [T, B, H]
  prevs = _previous_states(h0, outs)
  k = keep[..., None]
  d_layers, start, dx = [], 0, None
  for i, layer in enumerate(layers):
    hidden = sizes[i]
    dg = all_grads[..., start:start + 4 * hidden]  # [dpr, dpz, da, da * r]
    start += 4 * hidden
    h_in = prevs[i] * k  # [T, B, H]
    dgi = dg[..., :3 * hidden]
    dgh = jnp.concatenate([dg[..., :2 * hidden], dg[..., 3 * hidden:]], axis=-1)
    inputs = x if i == 0 else outs[i - 1]
    grad = {'w_h': jnp.einsum('tbh,tbg->hg', h_in, dgh), 'b_h': dgh.sum((0, 1)),
            'w_i': jnp.einsum('tbd,tbg->dg', inputs, dgi), 'b_i': dgi.sum((0, 1))}
    if i == 0:
      dx = dgi @ layer['w_i'].T
    d_layers.append({key: grad[key].astype(layer[key].dtype) for key in layer})
  return d_layers, dx.astype(x.dtype), jnp.zeros_like(keep), tuple(dh0)


unroll.defvjp(_unroll_fwd, _unroll_bwd)


class GRUStack(hk.Module):
  """Haiku module: stacked GRU layers of `hidden_sizes` units (params per layer under
  'layer_i'), applied to a whole sequence (`unroll`) or one step (`step`)."""

  def __init__(self, hidden_sizes: Sequence[int], name=None):
    super().__init__(name=name)
    self.hidden_sizes = tuple(hidden_sizes)

  def _params(self, input_size: int, dtype) -> list[LayerParams]:
    layers = []
    size = input_size
    for i, hidden in enumerate(self.hidden_sizes):
      with hk.experimental.name_scope(f'layer_{i}'):
        w_init = hk.initializers.VarianceScaling(1.0, 'fan_in', 'uniform')
        layers.append({
            'w_i': hk.get_parameter('w_i', [size, 3 * hidden], dtype, init=w_init),
            'b_i': hk.get_parameter('b_i', [3 * hidden], dtype, init=jnp.zeros),
            'w_h': hk.get_parameter('w_h', [hidden, 3 * hidden], dtype, init=w_init),
            'b_h': hk.get_parameter('b_h', [3 * hidden], dtype, init=jnp.zeros)})
      size = hidden
    return layers

  def initial_state(self, batch_size: int) -> tuple[Array, ...]:
    return tuple(jnp.zeros((batch_size, h), jnp.float32) for h in self.hidden_sizes)

  def unroll(self, x: Array, reset: Array) -> Array:
    """x [T, B, D], reset [T, B] bool -> top outputs [T, B, H], from the zero state."""
    chex.assert_rank([x, reset], [3, 2])
    chex.assert_type(reset, bool)
    chex.assert_equal_shape_prefix([x, reset], 2)
    layers = self._params(x.shape[-1], x.dtype)
    keep = 1.0 - reset.astype(x.dtype)
    return unroll(layers, x, keep, self.initial_state(x.shape[1]))

  def step(self, x: Array, reset: Array, state: tuple[Array, ...]):
    """x [B, D], reset [B] bool -> (top output [B, H], new state)."""
    layers = self._params(x.shape[-1], x.dtype)
    return step(layers, x, 1.0 - reset.astype(x.dtype), state)


def torch_uniform(hidden_size: int) -> hk.initializers.Initializer:
  """PyTorch's default for every weight and bias of `nn.GRU` (and `nn.Linear` reading H
  inputs): U(-1/sqrt(H), +1/sqrt(H))."""
  bound = 1.0 / np.sqrt(hidden_size)
  return hk.initializers.RandomUniform(-bound, bound)


class TorchGRU(hk.RNNCore):
  """One GRU layer as PyTorch's `nn.GRU` computes and initialises it (Hennig et al. 2023's
  value RNNs): the cell above (the reset gate applied to W_hn h + b_hn) with every weight
  and bias drawn from U(-1/sqrt(H), +1/sqrt(H)). Haiku's `hk.GRU` applies the reset gate to
  h before its matmul and draws its input weights with a fan-in scale (std ~0.7 for two
  inputs, against PyTorch's ~0.08), which changes what an untrained network's activity
  holds.

  A resettable core: inputs (x [B, D], first [B] bool), the state restarting from zero
  where `first`; `unroll` runs a whole sequence through `unroll` above (on a CPU the native
  kernel), step by step the same cell.
  """

  def __init__(self, hidden_size: int, name=None):
    super().__init__(name=name or 'gru')
    self.hidden_size = hidden_size

  def _layer(self, input_size: int, dtype) -> LayerParams:
    h = self.hidden_size
    init = torch_uniform(h)
    return {'w_i': hk.get_parameter('w_i', [input_size, 3 * h], dtype, init=init),
            'b_i': hk.get_parameter('b_i', [3 * h], dtype, init=init),
            'w_h': hk.get_parameter('w_h', [h, 3 * h], dtype, init=init),
            'b_h': hk.get_parameter('b_h', [3 * h], dtype, init=init)}

  def initial_state(self, batch_size: int | None) -> Array:
    shape = (self.hidden_size,) if batch_size is None else (batch_size, self.hidden_size)
    return jnp.zeros(shape, jnp.float32)

  def __call__(self, inputs, state: Array):
    """inputs (x [B, D], first [B] bool), state [B, H] -> (h' [B, H], h')."""
    x, first = inputs
    layer = self._layer(x.shape[-1], x.dtype)
    out, _ = step([layer], x, 1.0 - first.astype(x.dtype), (state,))
    return out, out

  def unroll(self, x: Array, first: Array, state: Array) -> tuple[Array, Array]:
    """x [T, B, D], first [T, B] bool, state [B, H] -> (h [T, B, H], the last h)."""
    layer = self._layer(x.shape[-1], x.dtype)
    hs = unroll([layer], x, 1.0 - first.astype(x.dtype), (state.astype(x.dtype),))
    return hs, hs[-1]
