"""Several seeds in one compiled call (`num_seeds`) for the env-step agents: each seed's
numbers equal a run of its own, rows per seed, per-seed NaN skipping, exact resume, the
seed axis in params.pickle, offline evaluation of one seed or all, and the refusals."""

import os
import pickle
import signal

import jax
import ml_collections
import numpy as np
import pandas as pd
import pytest

import main
from launch import manager
from launch.evaluator import run_offline_evaluation
from launch.validation import validate
from metarl import runs
from metarl.config_rules import ConfigError
from tests.test_checkpoints import (
  interrupt_sac_at_call,
  read_rows,
  resume_and_compare,
  small_sac_config,
)
from tests.test_checkpoints import small_config as small_a3c
from tests.test_ppo import small_config as small_ppo
from tests.tools import faults

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMING = ('wall_time', 'env_steps_per_sec')


def seeds_config(make, run_dir, num_seeds=3, seed=5):
  config = make(run_dir)
  config.seed, config.num_seeds = seed, num_seeds
  return config


def saved(run_dir):
  with open(os.path.join(run_dir, 'params.pickle'), 'rb') as f:
    return pickle.load(f)


def without_timing(rows):
  return [{k: v for k, v in r.items() if k not in TIMING + ('seed',)} for r in rows]


# the quick suite checks one agent (ppo); the slow step a3c and rsac too
@pytest.mark.parametrize('make', [pytest.param(small_a3c, marks=pytest.mark.slow), small_ppo,
                                  pytest.param(small_sac_config, marks=pytest.mark.slow)],
                         ids=['a3c', 'ppo', 'rsac'])
def test_each_vmapped_seed_equals_its_own_run(tmp_path, make):
  together = seeds_config(make, str(tmp_path / 'together'))
  together.launch.num_evaluators = 1  # one evaluator is for one seed: evaluated here
  manager.train(together)
  with open(os.path.join(together.run_dir, 'log.txt')) as f:
    log = f.read()
  assert 'started evaluator' not in log and '3 seeds: each evaluated in this process' in log
  if jax.local_device_count() == 2:  # the tests see the cores as main.py does (conftest)
    assert '3 seeds spread over 2 CPU devices (2 + 1)' in log
  params = saved(together.run_dir)
  assert params['seeds'] == [5, 6, 7] and params['seed_axis']
  train = read_rows(os.path.join(together.run_dir, 'train.csv'))
  evals = read_rows(os.path.join(together.run_dir, 'eval.csv'))
  assert [r['seed'] for r in train[:3]] == ['5', '6', '7']
  assert len(evals) % 3 == 0 and {r['seed'] for r in evals} == {'5', '6', '7'}
  for i, seed in ((0, 5), (2, 7)):  # on 2 devices: the first of the 2 and the 1 alone
    alone = make(str(tmp_path / f'alone_{seed}'))
    alone.seed = seed
    manager.train(alone)
    for a, b in zip(jax.tree_util.tree_leaves(params['params']),
                    jax.tree_util.tree_leaves(saved(alone.run_dir)['params']), strict=True):
      np.testing.assert_allclose(a[i], b, rtol=1e-4, atol=1e-5)
    mine = [r for r in evals if r['seed'] == str(seed)]
    theirs = read_rows(os.path.join(alone.run_dir, 'eval.csv'))
    assert [r['env_steps'] for r in mine] == [r['env_steps'] for r in theirs]
    for a, b in zip(without_timing(mine), without_timing(theirs), strict=True):
      for k in b:
        assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-3, abs=1e-4), k
  # the seeds really differ
  first = jax.tree_util.tree_leaves(params['params'])[0]
  assert not np.allclose(first[0], first[1])


def test_a_nan_skips_the_update_of_its_seed_only(tmp_path):
  config = seeds_config(small_a3c, str(tmp_path / 'nan'))

  calls = []

  def poison_seed_1_in_call_4(call, state, rollout_state):
    # each device computes its share of the seeds (on 2 cores: 5 and 6 on the first, 7 on
    # the second): count the calls of the first device, whose share holds seed 6 at index 1
    del call
    if next(iter(jax.tree_util.tree_leaves(state)[0].devices())).id != 0:
      return state, rollout_state
    calls.append(1)
    if len(calls) == 4:
      core = jax.tree_util.tree_map(lambda x: x.at[1].set(np.nan), rollout_state.core_state)
      rollout_state = rollout_state._replace(core_state=core)
    return state, rollout_state

  with faults.around_training_calls(poison_seed_1_in_call_4):
    manager.train(config)
  train = pd.read_csv(os.path.join(config.run_dir, 'train.csv'))
  skipped = train.groupby('seed')['skipped_updates'].sum()
  assert skipped[6] == 5 and skipped[5] == 0 and skipped[7] == 0
  leaves = jax.tree_util.tree_leaves(saved(config.run_dir)['params'])
  assert all(np.isfinite(x).all() for x in leaves)


def test_interrupted_seeds_resume_exactly(tmp_path):
  whole, parts = str(tmp_path / 'whole'), str(tmp_path / 'parts')
  manager.train(seeds_config(small_a3c, whole))

  def ctrl_c_in_the_6th_call(call, state, rollout_state):
    if call == 6:
      os.kill(os.getpid(), signal.SIGINT)
    return state, rollout_state

  with faults.around_training_calls(ctrl_c_in_the_6th_call), pytest.raises(KeyboardInterrupt):
    manager.train(seeds_config(small_a3c, parts))
  resume_and_compare(seeds_config(small_a3c, parts), whole, ('train.csv', 'eval.csv'))


@pytest.mark.slow
def test_interrupted_rsac_seeds_resume_exactly_with_and_without_replay(tmp_path, monkeypatch):
  whole, parts = str(tmp_path / 'whole'), str(tmp_path / 'parts')
  manager.train(seeds_config(small_sac_config, whole, num_seeds=2))
  interrupt_sac_at_call(monkeypatch, 7)
  with pytest.raises(KeyboardInterrupt):
    manager.train(seeds_config(small_sac_config, parts, num_seeds=2))
  monkeypatch.undo()
  resume_and_compare(seeds_config(small_sac_config, parts, num_seeds=2), whole,
                     ('train.csv',))
  # without the replay contents each seed refills its replay from the resume point
  empty = str(tmp_path / 'empty')
  interrupt_sac_at_call(monkeypatch, 7)
  with pytest.raises(KeyboardInterrupt):
    manager.train(seeds_config(lambda d: small_sac_config(d, checkpoint_replay=False), empty,
                               num_seeds=2))
  monkeypatch.undo()
  config = seeds_config(lambda d: small_sac_config(d, checkpoint_replay=False), empty,
                        num_seeds=2)
  config.resume = True
  manager.train(config)
  rows = read_rows(os.path.join(empty, 'train.csv'))
  after = [r for r in rows if int(r['env_steps']) > 700]
  assert {r['seed'] for r in after} == {'5', '6'}
  assert all(float(r['replay_size']) <= int(r['env_steps']) - 700 for r in after[:2])


@pytest.mark.slow  # over 10 s: the slow step of CI
def test_offline_evaluation_of_one_seed_or_all(tmp_path):
  config = seeds_config(small_a3c, str(tmp_path / 'run'), num_seeds=2)
  manager.train(config)
  params_path = os.path.join(config.run_dir, 'params.pickle')

  def evaluate(out, *extra):
    return run_offline_evaluation(main.load_config([
        'main.py', f'--config={ROOT}/configs/eval.py', f'--config.params_path={params_path}',
        f'--config.run_dir={tmp_path / out}', '--config.num_episodes=40', *extra]))

  every = evaluate('all')
  summary = pd.read_csv(os.path.join(every, 'eval_summary.csv'))
  assert sorted(summary['seed'].unique()) == [5, 6]
  for seed in (5, 6):
    mine = pd.read_csv(os.path.join(every, f'seed_{seed}', 'eval_summary.csv'))
    pd.testing.assert_frame_equal(
        summary[summary['seed'] == seed].drop(columns='seed').reset_index(drop=True), mine)
  assert runs.load(every).summary.shape[0] == summary.shape[0]
  one = evaluate('one', '--config.params_seed=6')
  alone = pd.read_csv(os.path.join(one, 'eval_summary.csv'))
  pd.testing.assert_frame_equal(alone, pd.read_csv(os.path.join(every, 'seed_6',
                                                                'eval_summary.csv')))
  with pytest.raises(Exception, match='holds seeds \\[5, 6\\]'):
    evaluate('none', '--config.params_seed=9')
  # runs.compare reads the per-seed rows of the training too
  table = runs.compare([config.run_dir], table='eval')
  assert sorted(table['seed'].unique()) == [5, 6]


SPREAD_RUNS = {
    'a3c': ['--config=configs/bandit_train.py:a3c', '--config.total_env_steps=20000',
            '--config.log_every_env_steps=6400', '--config.eval.every_env_steps=10000',
            '--config.eval.num_episodes=8', '--config.agent.num_envs=8',
            '--config.launch.updates_per_call=25'],
    'rsac': ['--config=configs/memory_sac.py', '--config.network.torso_sizes=8',
             '--config.network.hidden_sizes=8', '--config.agent.num_envs=2',
             '--config.agent.batch_size=4', '--config.agent.warmup_steps=100',
             '--config.agent.critic_warmup_steps=100', '--config.agent.actor_warmup_steps=100',
             '--config.replay.capacity=2000', '--config.replay.sequence_length=10',
             '--config.total_env_steps=1200', '--config.launch.updates_per_call=50',
             '--config.log_every_env_steps=300', '--config.eval.every_env_steps=600',
             '--config.eval.num_sequences=8'],
}


def runs_on_one_and_two_devices(tmp_path, args) -> dict[int, str]:
  """main.py with `args` twice, XLA showing 1 and then 2 CPU devices: {devices: run_dir}."""
  import subprocess
  import sys
  runs = {}
  for devices in (1, 2):
    run_dir = str(tmp_path / f'devices_{devices}')
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'main.py'), *args, f'--config.run_dir={run_dir}'],
        env=dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}'),
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    runs[devices] = run_dir
  return runs


@pytest.mark.slow  # 4 processes; in the quick suite test_each_vmapped_seed_equals_its_own_run
@pytest.mark.parametrize('agent,num_seeds', [('a3c', 3), ('rsac', 2)])  # splits 3 seeds
def test_seeds_spread_over_cpu_devices_equal_seeds_on_one(tmp_path, agent, num_seeds):
  """main.py shows XLA each core as a device; seeds spread over two (evenly, or 2 + 1 when
  the devices do not divide them) equal seeds on one."""
  runs = runs_on_one_and_two_devices(tmp_path, [
      *SPREAD_RUNS[agent], f'--config.num_seeds={num_seeds}',
      '--config.launch.num_evaluators=0'])
  with open(os.path.join(runs[2], 'log.txt')) as f:
    assert ('2 seeds spread over 2 CPU devices' if num_seeds == 2 else
            '3 seeds spread over 2 CPU devices (2 + 1)') in f.read()
  for a, b in zip(jax.tree_util.tree_leaves(saved(runs[1])['params']),
                  jax.tree_util.tree_leaves(saved(runs[2])['params']), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert without_timing(read_rows(os.path.join(runs[1], 'eval.csv'))) == without_timing(
      read_rows(os.path.join(runs[2], 'eval.csv')))


@pytest.mark.slow  # 4 processes
@pytest.mark.parametrize('num_seeds, split', [(4, '4 seeds spread over 2 CPU devices'),
                                              (3, '3 seeds spread over 2 CPU devices (2 + 1)')])
def test_td_seeds_spread_over_cpu_devices_equal_seeds_on_one(tmp_path, num_seeds, split):
  """The td trainer splits its seeds over the cores as the env-step kinds do: each seed's
  params and evaluations as on one device, up to float rounding (XLA vectorises a share of
  2 seeds otherwise than one of 4)."""
  runs = runs_on_one_and_two_devices(tmp_path, [
      '--config=configs/value_td.py', f'--config.num_seeds={num_seeds}',
      '--config.agent.epochs=20', '--config.log_every_epochs=10',
      '--config.eval.every_epochs=10', '--config.eval.num_episodes=20',
      '--config.eval.analyze_at_end=False'])
  with open(os.path.join(runs[2], 'log.txt')) as f:
    assert split in f.read()
  for a, b in zip(jax.tree_util.tree_leaves(saved(runs[1])['params']),
                  jax.tree_util.tree_leaves(saved(runs[2])['params']), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  one, two = (read_rows(os.path.join(runs[d], 'eval.csv')) for d in (1, 2))
  assert [(r['epoch'], r['seed']) for r in one] == [(r['epoch'], r['seed']) for r in two]
  np.testing.assert_allclose([float(r['mse']) for r in one], [float(r['mse']) for r in two],
                             rtol=1e-4)


def test_seeds_with_workers_or_a_curriculum_are_refused_in_one_line(tmp_path):
  config = seeds_config(small_a3c, str(tmp_path / 'w'))
  config.launch.num_workers = 2
  with pytest.raises(ConfigError, match='num_seeds.*trains one seed'):
    validate(config)
  config = seeds_config(small_a3c, str(tmp_path / 'big'), seed=2 ** 32 - 2)
  with pytest.raises(ConfigError, match='num_seeds.*the last must be'):
    validate(config)
  config = seeds_config(small_a3c, str(tmp_path / 'curriculum'))
  config.curriculum = ml_collections.ConfigDict(dict(
      enabled=True, field='trials_per_episode', start=10, metric='mean_reward_per_trial',
      threshold=0.5, window=1, growth_factor=2.0, min_increment=1))
  with pytest.raises(ConfigError, match='num_seeds.*curriculum'):
    validate(config)
