"""The resettable LRU core: one step at a time equals the associative scan, resets equal
separate episodes, gradients stay finite over 1,000 steps, layers stack; a3c and td train
with it through main's loader."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.networks.cores import make_core, unroll

T, B, D, H = 40, 3, 5, 8


def transformed(num_layers=1):
  def scan(x, first, state):
    return unroll(make_core('lru', H, num_layers=num_layers), x, first, state)

  def step(x, first, state):
    return make_core('lru', H, num_layers=num_layers)((x, first), state)

  def initial(batch):
    return make_core('lru', H, num_layers=num_layers).initial_state(batch)

  return (hk.transform(scan), hk.without_apply_rng(hk.transform(step)),
          hk.without_apply_rng(hk.transform(initial)))


def data(seed=0, length=T):
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.standard_normal((length, B, D)), jnp.float32)
  first = jnp.asarray(rng.uniform(size=(length, B)) < 0.1).at[0].set(True)
  return x, first


@pytest.mark.parametrize('num_layers', [1, 2])
def test_steps_equal_the_scan_with_resets_and_a_state_carried_in(num_layers):
  scan, step, initial = transformed(num_layers)
  x, first = data()
  first = first.at[0].set(False)  # the first step continues the state carried in
  state0 = initial.apply({}, B)
  params = scan.init(jax.random.PRNGKey(0), x, first, state0)
  assert {k.split('/')[-1] for k in params if 'layer_' in k} >= {'layer_0'}
  assert any(f'layer_{num_layers - 1}' in k for k in params)
  # a non-zero state carried in from an earlier chunk
  _, state_in = scan.apply(params, None, x[:7], jnp.ones((7, B), bool), state0)
  out, state_out = scan.apply(params, None, x, first, state_in)
  state, steps = state_in, []
  for t in range(T):
    y, state = step.apply(params, x[t], first[t], state)
    steps.append(y)
  np.testing.assert_allclose(np.stack(steps), out, rtol=1e-4, atol=1e-5)
  for a, b in zip(state, state_out, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_resets_equal_separate_episodes():
  scan, _, initial = transformed(2)
  x, _ = data(1)
  first = jnp.zeros((T, B), bool).at[0].set(True).at[17].set(True)
  params = scan.init(jax.random.PRNGKey(1), x, first, initial.apply({}, B))
  together, _ = scan.apply(params, None, x, first, initial.apply({}, B))
  # garbage state carried in must not matter: the first step resets
  noise = tuple(jnp.full_like(s, 5.0) for s in initial.apply({}, B))
  first_part, _ = scan.apply(params, None, x[:17], first[:17], noise)
  second_part, _ = scan.apply(params, None, x[17:], first[17:], noise)
  np.testing.assert_allclose(together[:17], first_part, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(together[17:], second_part, rtol=1e-5, atol=1e-6)


def test_gradients_are_finite_over_1000_steps():
  scan, _, initial = transformed(2)
  x, first = data(2, 1000)
  first = jnp.zeros_like(first).at[0].set(True)  # one episode of 1,000 steps
  params = scan.init(jax.random.PRNGKey(2), x, first, initial.apply({}, B))

  def loss(p):
    out, _ = scan.apply(p, None, x, first, initial.apply({}, B))
    return jnp.mean(out[-1] ** 2)  # the last step depends on the first through the scan

  grads = jax.grad(loss)(params)
  leaves = jax.tree_util.tree_leaves(grads)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
  assert sum(float(jnp.abs(g).sum()) for g in leaves) > 0
  # the last output still sees the first input (memory over 1,000 steps)
  def last(x0):
    out, _ = scan.apply(params, None, x.at[0].set(x0), first, initial.apply({}, B))
    return out[-1].sum()
  assert float(jnp.abs(jax.grad(last)(x[0])).sum()) > 0


def test_lru_magnitudes_stay_below_one():
  scan, _, initial = transformed()
  x, first = data()
  params = scan.init(jax.random.PRNGKey(3), x, first, initial.apply({}, B))
  nu = [v['nu_log'] for k, v in params.items() if 'nu_log' in v][0]
  magnitude = np.exp(-np.exp(np.asarray(nu)))
  assert np.all(magnitude < 1) and np.all(magnitude >= 0.9 - 1e-6)


@pytest.mark.slow  # end to end, over 10 s: the slow step of CI
def test_a3c_with_lru_layers_trains_two_seeds_and_resumes_exactly(tmp_path):
  import os
  import signal

  from launch import manager
  from tests.test_checkpoints import resume_and_compare, small_config
  from tests.tools import faults

  def lru_config(run_dir):
    config = small_config(run_dir)
    config.network.core, config.network.hidden_size = 'lru', 16
    with config.unlocked():
      config.network.core_layers = 2
    config.num_seeds = 2
    return config

  whole, parts = str(tmp_path / 'whole'), str(tmp_path / 'parts')
  manager.train(lru_config(whole))

  def ctrl_c_in_the_6th_call(call, state, rollout_state):
    if call == 6:
      os.kill(os.getpid(), signal.SIGINT)
    return state, rollout_state

  with faults.around_training_calls(ctrl_c_in_the_6th_call), pytest.raises(KeyboardInterrupt):
    manager.train(lru_config(parts))
  resume_and_compare(lru_config(parts), whole, ('train.csv', 'eval.csv'))


@pytest.mark.slow  # end to end, over 10 s: the slow step of CI
def test_td_value_rnn_with_an_lru_learns_and_layers_are_refused_for_lstm(tmp_path):
  import main
  from launch.validation import validate
  from metarl.config_rules import ConfigError
  from tests.test_launch import ROOT
  config = main.load_config(['main.py', f'--config={ROOT}/configs/value_td.py',
                             '--config.network.core=lru', '--config.network.core_layers=2',
                             '--config.network.hidden_size=16',
                             '--config.network.readout=linear', '--config.num_seeds=2',
                             '--config.agent.epochs=60', '--config.log_every_epochs=30',
                             '--config.eval.every_epochs=30', '--config.checkpoint_every=0',
                             '--config.eval.analyze_at_end=False',
                             f'--config.run_dir={tmp_path / "run"}'])
  from launch import manager
  manager.train(config)
  import pandas as pd
  mse = pd.read_csv(tmp_path / 'run' / 'eval.csv').groupby('epoch').mse.max()
  assert mse.iloc[-1] < 0.5 * mse.iloc[0]  # every seed's value error falls
  bad = main.load_config(['main.py', f'--config={ROOT}/configs/value_td.py'])
  with bad.unlocked():
    bad.network.core_layers = 2
  with pytest.raises(ConfigError, match='network.core_layers'):
    validate(bad)


@pytest.mark.slow  # end to end, over 10 s: the slow step of CI
def test_rsac_with_an_lru_trains_on_the_memory_task(tmp_path):
  import pandas as pd

  import main
  from launch import manager
  from tests.test_launch import ROOT
  config = main.load_config([
      'main.py', f'--config={ROOT}/configs/memory_sac.py', '--config.network.core=lru',
      '--config.total_env_steps=600', '--config.log_every_env_steps=300',
      '--config.eval.every_env_steps=600', '--config.eval.num_episodes=2',
      '--config.launch.updates_per_call=100', '--config.checkpoint_every=0',
      '--config.agent.warmup_steps=100', '--config.agent.critic_warmup_steps=100',
      '--config.agent.actor_warmup_steps=200', f'--config.run_dir={tmp_path / "run"}'])
  manager.train(config)
  rows = pd.read_csv(tmp_path / 'run' / 'train.csv')
  assert rows.env_steps.iloc[-1] == 600 and rows.filter(like='loss').notna().all().all()
  from metarl import checkpoint
  saved = checkpoint.load_params(str(tmp_path / 'run' / 'params.pickle'))
  assert any(k.startswith('lru') for k in saved.params['actor'])


@pytest.mark.parametrize('parallel', [True, None])
def test_the_parallel_scan_and_the_native_kernel_agree_with_the_sequential_scan(parallel):
  """parallel=None on this CPU is the native kernel (metarl/networks/native/linear_scan.cc),
  forward and gradient; both are compared with the step-by-step scan."""
  from metarl.networks import native
  from metarl.networks.lru import LRU
  if parallel is None:
    assert native.available(), native.status()
  x, first = data(4)
  first = first.at[0].set(False)

  def scan(parallel):
    def f(x, first, state):
      return LRU(H, 2, parallel=parallel).unroll(x, first, state)
    return hk.transform(f)

  state0 = tuple(jnp.full((B, 2 * H), 0.3) for _ in range(2))  # a state carried in
  params = scan(True).init(jax.random.PRNGKey(4), x, first, state0)
  out_p, state_p = scan(parallel).apply(params, None, x, first, state0)
  out_s, state_s = scan(False).apply(params, None, x, first, state0)
  np.testing.assert_allclose(out_p, out_s, rtol=1e-4, atol=1e-5)
  for a, b in zip(state_p, state_s, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)

  def loss(p, state, par):  # the final states' gradient flows too
    out, last = scan(par).apply(p, None, x, first, state)
    return jnp.sum(out ** 2) + sum(jnp.sum(jnp.sin(h)) for h in last)

  grads = [jax.grad(loss, argnums=(0, 1))(params, state0, par) for par in (parallel, False)]
  for a, b in zip(jax.tree_util.tree_leaves(grads[0]), jax.tree_util.tree_leaves(grads[1]),
                  strict=True):
    np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-4)


def test_the_native_recurrence_matches_a_numpy_loop_under_vmap():
  """h_t = a_t h_{t-1} + v_t in complex numpy, for two problems stacked by vmap (the
  seeds' axis), against the native kernel, and its gradient against autodiff of the
  sequential scan."""
  from metarl.networks import lru, native
  assert native.available(), native.status()
  rng = np.random.default_rng(7)
  shape = (2, 30, 3, 4)  # seeds, T, B, N
  a = rng.uniform(0.5, 1.0, shape) * np.exp(1j * rng.uniform(0, 6.3, shape))
  a[:, 11, 1] = 0.0  # a reset mid-sequence
  v = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
  h0 = rng.standard_normal((2, 3, 4)) + 1j * rng.standard_normal((2, 3, 4))
  expected = np.zeros(shape, complex)
  for s in range(2):
    h = h0[s]
    for t in range(30):
      h = a[s, t] * h + v[s, t]
      expected[s, t] = h
  parts = [(jnp.asarray(z.real, jnp.float32), jnp.asarray(z.imag, jnp.float32))
           for z in (a, v, h0)]
  h_re, h_im = jax.vmap(lru._native_recurrence)(*parts)
  np.testing.assert_allclose(h_re, expected.real, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(h_im, expected.imag, rtol=1e-4, atol=1e-4)

  weights = jnp.asarray(rng.standard_normal(shape[1:]), jnp.float32)

  def loss(f):
    def value(a, v, h0):
      h_re, h_im = f(a, v, h0)
      return jnp.sum(weights * h_re * h_im) + jnp.sum(jnp.cos(h_re[-1]))
    return lambda *p: jnp.sum(jax.vmap(value)(*p))

  got = jax.grad(loss(lru._native_recurrence), argnums=(0, 1, 2))(*parts)
  want = jax.grad(loss(lru._sequential_recurrence), argnums=(0, 1, 2))(*parts)
  for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
    np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-3)


@pytest.mark.slow  # over 10 s: the slow step of CI
def test_the_long_memory_configs_hold_their_settings_and_run(tmp_path):
  """configs/memory_sac_long.py is RLtools' long variant (H 100, sequences of 500, 64 units)
  and configs/class_query_long.py the delay of 1,000 with one episode per chunk; both run
  through main for a few steps."""
  import pandas as pd

  import main
  from launch import manager
  from tests.test_launch import ROOT
  long_sac = main.load_config(['main.py', f'--config={ROOT}/configs/memory_sac_long.py'])
  assert (long_sac.env.horizon, long_sac.replay.sequence_length, long_sac.eval.sequence_length,
          tuple(long_sac.network.hidden_sizes), tuple(long_sac.network.torso_sizes),
          long_sac.total_env_steps, long_sac.agent.batch_size) == (
              100, 500, 500, (64, 64), (64,), 200_000, 4)
  assert long_sac.env.input_probability == 0.02
  query = main.load_config(['main.py', f'--config={ROOT}/configs/class_query_long.py'])
  assert (query.env.delay, query.agent.unroll_length, query.curriculum.enabled) == (
      1000, 1006, True)
  runs = {
      'sac': ['--config=configs/memory_sac_long.py', '--config.total_env_steps=300',
              '--config.log_every_env_steps=300', '--config.eval.every_env_steps=300',
              '--config.eval.num_episodes=1', '--config.eval.num_sequences=8',
              '--config.agent.warmup_steps=100', '--config.agent.critic_warmup_steps=100',
              '--config.agent.actor_warmup_steps=200', '--config.launch.updates_per_call=100',
              '--config.checkpoint_every=0'],
      'query': ['--config=configs/class_query_long.py', '--config.total_env_steps=100000',
                '--config.log_every_env_steps=50000', '--config.eval.every_env_steps=50000',
                '--config.eval.num_episodes=4', '--config.launch.updates_per_call=1',
                '--config.checkpoint_every=0'],
  }
  for name, args in runs.items():
    config = main.load_config(['main.py', *args, f'--config.run_dir={tmp_path / name}'])
    manager.train(config)
    evals = pd.read_csv(tmp_path / name / 'eval.csv')
    assert len(evals) >= 1 and evals.notna().all().all(), name
