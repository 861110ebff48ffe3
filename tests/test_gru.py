"""The GRU stack of recurrent SAC (metarl/networks/gru.py) and its native CPU kernels.

A numpy loop of PyTorch's GRU equations is the reference: both implementations (the native
kernels and the XLA scans) must match it, step by step, with resets inside sequences and a
non-zero initial state, and their gradients must match JAX's gradient of the same loop.
"""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.networks import gru, native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = [  # (T, B, D, hidden sizes)
    (7, 3, 5, (4, 6, 3)),  # uneven sizes, 3 layers, a batch that is not a multiple of 4
    (5, 4, 1, (4,)),  # a single input feature and a layer narrower than it is deep
    (6, 5, 16, (16, 16)),  # RLtools' memory agent: whole vectors
    (4, 9, 3, (20, 32)),  # sizes with a remainder of vector lanes
    (1, 1, 2, (8,)),  # one step of one sequence
]


def _params(key, d, sizes):
  layers = []
  for h in sizes:
    key, *ks = jax.random.split(key, 5)
    layers.append({'w_i': 0.5 * jax.random.normal(ks[0], (d, 3 * h)),
                   'b_i': 0.3 * jax.random.normal(ks[1], (3 * h,)),
                   'w_h': 0.5 * jax.random.normal(ks[2], (h, 3 * h)),
                   'b_h': 0.3 * jax.random.normal(ks[3], (3 * h,))})
    d = h
  return layers


def _inputs(t, b, d, sizes, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(t, b, d)).astype(np.float32)
  keep = (rng.random((t, b)) > 0.3).astype(np.float32)  # resets inside the sequences
  h0 = tuple(rng.normal(size=(b, h)).astype(np.float32) for h in sizes)
  return jnp.asarray(x), jnp.asarray(keep), tuple(jnp.asarray(h) for h in h0)


def _sigmoid(v):
  return 1.0 / (1.0 + np.exp(-v))


def numpy_gru(layers, x, keep, h0):
  """PyTorch's GRU (gates r, z, n) in a plain loop over steps and layers."""
  layers = [{k: np.asarray(v, np.float64) for k, v in layer.items()} for layer in layers]
  hs = [np.asarray(h, np.float64) for h in h0]
  outs = []
  for t in range(x.shape[0]):
    inp = np.asarray(x[t], np.float64)
    for i, p in enumerate(layers):
      h = hs[i] * np.asarray(keep[t], np.float64)[:, None]
      size = h.shape[-1]
      gi, gh = inp @ p['w_i'] + p['b_i'], h @ p['w_h'] + p['b_h']
      r = _sigmoid(gi[:, :size] + gh[:, :size])
      z = _sigmoid(gi[:, size:2 * size] + gh[:, size:2 * size])
      n = np.tanh(gi[:, 2 * size:] + r * gh[:, 2 * size:])
      hs[i] = (1 - z) * n + z * h
      inp = hs[i]
    outs.append(inp)
  return np.stack(outs)


def jax_loop(layers, x, keep, h0):
  """The same loop in JAX, for JAX's own gradient."""
  hs, outs = list(h0), []
  for t in range(x.shape[0]):
    inp = x[t]
    for i, p in enumerate(layers):
      h = hs[i] * keep[t][:, None]
      size = h.shape[-1]
      gi, gh = inp @ p['w_i'] + p['b_i'], h @ p['w_h'] + p['b_h']
      r = jax.nn.sigmoid(gi[:, :size] + gh[:, :size])
      z = jax.nn.sigmoid(gi[:, size:2 * size] + gh[:, size:2 * size])
      n = jnp.tanh(gi[:, 2 * size:] + r * gh[:, 2 * size:])
      hs[i] = (1 - z) * n + z * h
      inp = hs[i]
    outs.append(inp)
  return jnp.stack(outs)


def _implementations():
  out = [('xla', gru.xla_only)]
  if native.available():
    out.append(('native', _nothing))
  return out


class _nothing:
  def __enter__(self):
    return self

  def __exit__(self, *exc):
    return False


def test_native_kernels_build_where_a_compiler_is_present():
  if native._compiler() is None:
    pytest.skip('no C++ compiler here: the XLA scans are used (tested below)')
  assert native.available(), native.status()
  assert native.status() == 'in use'


@pytest.mark.parametrize('shape', SHAPES)
def test_unroll_and_step_match_the_numpy_loop(shape):
  t, b, d, sizes = shape
  layers = _params(jax.random.PRNGKey(1), d, sizes)
  x, keep, h0 = _inputs(t, b, d, sizes)
  want = numpy_gru(layers, x, keep, h0)
  for name, context in _implementations():
    with context():
      got = jax.jit(gru.unroll)(layers, x, keep, h0)
    np.testing.assert_allclose(np.asarray(got), want, atol=2e-6, err_msg=name)
  state, steps = h0, []
  for i in range(t):  # acting: one step at a time, the same numbers
    out, state = gru.step(layers, x[i], keep[i], state)
    steps.append(out)
  np.testing.assert_allclose(np.stack(steps), want, atol=2e-6)


@pytest.mark.parametrize('shape', SHAPES)
def test_gradients_match_jax_autodiff_of_the_loop(shape):
  t, b, d, sizes = shape
  layers = _params(jax.random.PRNGKey(2), d, sizes)
  x, keep, h0 = _inputs(t, b, d, sizes, seed=1)
  weights = jax.random.normal(jax.random.PRNGKey(3), (t, b, sizes[-1]))

  def loss(f):
    return lambda p, xs, h: (f(p, xs, keep, h) * weights).sum()
  want = jax.grad(loss(jax_loop), argnums=(0, 1, 2))(layers, x, h0)
  for name, context in _implementations():
    with context():
      got = jax.jit(jax.grad(loss(gru.unroll), argnums=(0, 1, 2)))(layers, x, h0)
    for a, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
      np.testing.assert_allclose(np.asarray(a), np.asarray(w), atol=2e-5, rtol=2e-5,
                                 err_msg=name)


@pytest.mark.slow  # over 10 s: the slow step of CI
def test_twin_networks_under_vmap_are_two_independent_stacks():
  t, b, d, sizes = 6, 4, 3, (16, 8)
  one, two = _params(jax.random.PRNGKey(4), d, sizes), _params(jax.random.PRNGKey(5), d, sizes)
  twin = jax.tree_util.tree_map(lambda a, c: jnp.stack([a, c]), one, two)
  x, keep, h0 = _inputs(t, b, d, sizes, seed=2)

  def loss(p):
    return jax.vmap(gru.unroll, in_axes=(0, None, None, None))(p, x, keep, h0).sum()
  for name, context in _implementations():
    with context():
      outs = jax.vmap(gru.unroll, in_axes=(0, None, None, None))(twin, x, keep, h0)
      grads = jax.grad(loss)(twin)
    for i, single in enumerate((one, two)):
      np.testing.assert_allclose(np.asarray(outs[i]), numpy_gru(single, x, keep, h0),
                                 atol=2e-6, err_msg=name)
      want = jax.grad(lambda p: jax_loop(p, x, keep, h0).sum())(single)
      got = jax.tree_util.tree_map(lambda a, i=i: a[i], grads)
      for a, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(w), atol=2e-5, rtol=2e-5,
                                   err_msg=name)


def test_without_the_native_kernels_the_networks_say_why_and_still_run(tmp_path):
  code = ('import jax.numpy as jnp\n'
          'from metarl.networks import gru, native\n'
          'layers = [dict(w_i=jnp.ones((2, 9)), b_i=jnp.zeros(9), w_h=jnp.ones((3, 9)),'
          ' b_h=jnp.zeros(9))]\n'
          'out = gru.unroll(layers, jnp.ones((4, 2, 2)), jnp.ones((4, 2)), (jnp.zeros((2, 3)),))\n'
          'print(native.status(), out.shape)\n')
  env = dict(os.environ, METARL_NATIVE='0', METARL_NATIVE_CACHE=str(tmp_path))
  result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'not used (METARL_NATIVE=0)' in result.stdout and '(4, 2, 3)' in result.stdout
  assert not os.listdir(tmp_path)  # nothing built
