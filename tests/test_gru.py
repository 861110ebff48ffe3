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
    (30, 12, 2, (50,)),  # Hennig et al.'s GRU(50): 2 columns past whole vectors of 16 (and
    # 8), weight gradients summed over 360 rows, more than one chunk of the kernel's 256
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
      # float32 sums over every step and sequence in another order: an error that grows
      # with the leaf's largest value (tens, over 360 rows), not with each element's own
      atol = max(2e-5, 5e-6 * float(np.abs(w).max()))
      np.testing.assert_allclose(np.asarray(a), np.asarray(w), atol=atol, rtol=2e-5,
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


# PyTorch's GRU as a core of value and policy networks (network.init='pytorch') -----------

def torch_gru_loop(weight_ih, weight_hh, bias_ih, bias_hh, x, first):
  """torch.nn.GRU's equations as its documentation writes them, PyTorch's layout (weights
  [3H, D] and [3H, H], gates r, z, n), the state zero before the first step and wherever
  `first`: h [T, B, H]."""
  hidden = weight_hh.shape[1]
  h = np.zeros((x.shape[1], hidden))
  out = []
  for t in range(x.shape[0]):
    h = np.where(first[t][:, None], 0.0, h)
    gi = x[t] @ weight_ih.T + bias_ih
    gh = h @ weight_hh.T + bias_hh
    r = _sigmoid(gi[:, :hidden] + gh[:, :hidden])
    z = _sigmoid(gi[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
    n = np.tanh(gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
    h = (1.0 - z) * n + z * h
    out.append(h)
  return np.stack(out)


def _torch_core_fns(hidden):
  import haiku as hk

  from metarl.networks import cores

  def whole(x, first):
    core = cores.make_core('gru', hidden, init='pytorch')
    return cores.unroll(core, x, first, core.initial_state(x.shape[1]))[0]

  def stepwise(x, first):
    core = cores.make_core('gru', hidden, init='pytorch')
    return hk.dynamic_unroll(core, (x, first), core.initial_state(x.shape[1]))[0]

  return hk.without_apply_rng(hk.transform(whole)), hk.without_apply_rng(
      hk.transform(stepwise))


@pytest.mark.parametrize('xla', [False, True])
def test_the_pytorch_gru_core_computes_pytorch_s_gru_with_resets(xla):
  t, b, d, hidden = 9, 3, 2, 5
  rng = np.random.default_rng(3)
  x = rng.normal(size=(t, b, d)).astype(np.float32)
  first = rng.random((t, b)) < 0.25
  first[0] = True
  whole, stepwise = _torch_core_fns(hidden)
  params = whole.init(jax.random.PRNGKey(0), x, first)
  p = {k: np.asarray(v, np.float64) for k, v in params['gru'].items()}
  expected = torch_gru_loop(p['w_i'].T, p['w_h'].T, p['b_i'], p['b_h'], x, first)
  with gru.xla_only() if xla else _nothing():
    got = jax.jit(whole.apply)(params, x, first)
  np.testing.assert_allclose(got, expected, atol=2e-5)
  np.testing.assert_allclose(stepwise.apply(params, x, first), expected, atol=2e-5)


def test_the_pytorch_gru_is_initialised_as_pytorch_initialises_it():
  """Every weight and bias of the core and of the value readout from U(-1/sqrt(H),
  +1/sqrt(H)) (PyTorch's nn.GRU and nn.Linear), unlike Haiku's input weights (fan-in scale:
  std ~0.7 for 2 inputs) and zero biases."""
  from metarl.networks.value import make_value_networks
  hidden = 50
  bound = 1.0 / np.sqrt(hidden)
  nets = make_value_networks((2,), core_type='gru', hidden_size=hidden, readout='linear',
                             core_init='pytorch')
  params = nets.init(jax.random.PRNGKey(1))
  leaves = {f'{m}/{n}': np.asarray(v) for m, group in params.items() for n, v in group.items()}
  assert sorted(leaves) == ['gru/b_h', 'gru/b_i', 'gru/w_h', 'gru/w_i', 'readout/b',
                            'readout/w']
  values = np.concatenate([v.ravel() for v in leaves.values()])
  assert np.abs(values).max() <= bound
  assert np.std(values) == pytest.approx(bound / np.sqrt(3), rel=0.05)  # uniform's SD
  haiku = make_value_networks((2,), core_type='gru', hidden_size=hidden, readout='linear')
  w_i = np.asarray(haiku.init(jax.random.PRNGKey(1))['gru']['w_i'])
  assert np.std(w_i) > 5 * np.std(leaves['gru/w_i'])
  # cell_bias sets the candidate state's input bias (gates r, z, n) and nothing else
  biased = make_value_networks((2,), core_type='gru', hidden_size=hidden, cell_bias=2.0,
                               core_init='pytorch').init(jax.random.PRNGKey(1))['gru']['b_i']
  np.testing.assert_array_equal(biased[2 * hidden:], 2.0)
  np.testing.assert_array_equal(biased[:2 * hidden], leaves['gru/b_i'][:2 * hidden])


def test_network_init_pytorch_is_for_gru_cores_and_reaches_the_policy_network():
  import main
  from metarl.agents import actor_critic
  from metarl.envs import registry as env_registry
  for name in ('value_td.py', 'bandit_train.py'):  # lstm cores
    with pytest.raises(SystemExit, match=r"network.init = 'pytorch' is invalid: 'haiku'"):
      main.load_config(['main.py', f'--config={ROOT}/configs/{name}',
                        '--config.network.init=pytorch'])
  config = main.load_config(['main.py', f'--config={ROOT}/configs/bandit_train.py',
                             '--config.network.core=gru', '--config.network.init=pytorch'])
  networks = actor_critic.make_networks(config, env_registry.make(config.env))
  params = networks.init(jax.random.PRNGKey(0))
  assert sorted(params['gru']) == ['b_h', 'b_i', 'w_h', 'w_i']
  assert np.abs(np.asarray(params['gru']['b_i'])).max() <= 1 / np.sqrt(48)
