"""Fault tolerance of the td agent (issue 7): checkpoints, exact resume after a real SIGINT,
refusal of corrupt or foreign checkpoints, and skipping of updates with NaN or Inf.

Every trainer here shares one compiled agent and evaluator (`shared_compilation`): a td run
compiles in ~10 s on 2 cores, its epochs take milliseconds.
"""

import csv
import os
import pickle
import shutil
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.value_td import get_config
from launch.manager import TrainingDiverged
from launch.trainers import make_trainer
from metarl import checkpoint, envs, io
from metarl.agents import td
from metarl.io import RunFileError

EPOCHS = 60
INTERRUPTED_CALL = 3  # SIGINT while epochs 20-30 run (calls are 10 epochs)


def small_config(run_dir, **overrides):
  config = get_config()
  config.run_dir = run_dir
  config.num_seeds = 2
  config.agent.epochs = EPOCHS
  config.agent.num_trials, config.agent.batch_size = 24, 12  # 2 updates per epoch
  config.agent.resample_trials = False  # a poisoned trial stays in the training set
  config.log_every_epochs, config.eval.every_epochs = 20, 30  # calls of 10 epochs
  config.eval.num_episodes = 20
  config.eval.analyze_at_end = False
  config.checkpoint_every = 7000  # env steps; seed 0 takes 400 per epoch, seed 1 fewer
  config.keep_checkpoints = 2
  for key, value in overrides.items():
    section, _, name = key.rpartition('.')
    (config[section] if section else config)[name] = value
  if run_dir:
    os.makedirs(run_dir, exist_ok=True)
  return config


_AGENTS, _EVALUATORS = {}, {}


@pytest.fixture(scope='module', autouse=True)
def shared_compilation():
  """td.make_agent and td.make_value_evaluator, memoized: the same jitted functions (so one
  compilation) for every trainer of this module."""
  make_agent, make_evaluator = td.make_agent, td.make_value_evaluator

  def cached_agent(config, env):
    key = (config.env.to_json(), config.network.to_json(), config.agent.to_json())
    if key not in _AGENTS:
      _AGENTS[key] = make_agent(config, env)
    return _AGENTS[key]

  def cached_evaluator(env, networks, gamma, num_trials):
    key = (id(networks), gamma, num_trials)
    if key not in _EVALUATORS:
      _EVALUATORS[key] = make_evaluator(env, networks, gamma, num_trials)
    return _EVALUATORS[key]

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(td, 'make_agent', cached_agent)
    patch.setattr(td, 'make_value_evaluator', cached_evaluator)
    yield


def read_rows(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def saved_params(run_dir):
  with open(os.path.join(run_dir, 'params.pickle'), 'rb') as f:
    return pickle.load(f)['params']


def assert_same_leaves(a, b):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
    np.testing.assert_array_equal(x, y)


def trainer_with(config, on_call):
  """A seeds-kind trainer whose i-th call of train_epochs (from 1; the call of every seed,
  however the seeds are split over the CPU devices) first runs `on_call(i, data)`, which may
  return new data."""
  trainer = make_trainer(config)
  over_seeds, calls = trainer.devices.over_seeds, []

  def wrapped(fn, in_specs, vmapped=True):
    call = over_seeds(fn, in_specs, vmapped)

    def train(state, data):
      calls.append(1)
      data = on_call(len(calls), data) or data
      return call(state, data)
    return train

  trainer.devices.over_seeds = wrapped
  return trainer


def resume(run_dir):
  config = small_config(run_dir, resume=True)
  return make_trainer(config).run()


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """An uninterrupted run, and one stopped by a real SIGINT during its 3rd call."""
  root = tmp_path_factory.mktemp('td_runs')
  whole, parts = str(root / 'whole'), str(root / 'parts')
  make_trainer(small_config(whole)).run()

  def interrupt(call, data):
    if call == INTERRUPTED_CALL:
      os.kill(os.getpid(), signal.SIGINT)

  with pytest.raises(KeyboardInterrupt):
    trainer_with(small_config(parts), interrupt).run()
  stopped = str(root / 'stopped')  # the interrupted run as it was left
  shutil.copytree(parts, stopped)
  return dict(whole=whole, parts=parts, stopped=stopped)


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(runs, tmp_path):
  whole, parts, stopped = runs['whole'], runs['parts'], runs['stopped']
  # The call running when SIGINT came finished: its rows, params and a checkpoint at its
  # end (epoch 30) were saved; epoch 20 had the periodic one (7000 env steps).
  last = checkpoint.load(checkpoint.latest(stopped))
  assert last['parts']['counters']['epoch'] == 30 and last['agent'] == 'td'
  epochs = [checkpoint.load(p)['parts']['counters']['epoch'] for p in checkpoint.list_checkpoints(stopped)]
  assert epochs == [20, 30]
  assert [r['epoch'] for r in read_rows(os.path.join(stopped, 'eval.csv'))] == ['30', '30']
  # A crash (no final checkpoint): the rows of epoch 30 are dropped and written again.
  crashed = str(tmp_path / 'crashed')
  shutil.copytree(stopped, crashed)
  os.unlink(checkpoint.latest(crashed))
  for run_dir in (parts, crashed):
    resume(run_dir)
    assert_same_leaves(saved_params(whole), saved_params(run_dir))
    # Everything else a run holds, too: optimizer state, step, RNG key and trials.
    ends = [checkpoint.load(checkpoint.latest(d)) for d in (whole, run_dir)]
    assert ends[0]['parts']['counters']['epoch'] == ends[1]['parts']['counters']['epoch'] == EPOCHS
    assert_same_leaves(*[[end['parts']['learner'], end['parts']['data']] for end in ends])
    for name in ('train.csv', 'eval.csv'):
      rows_a, rows_b = (read_rows(os.path.join(d, name)) for d in (whole, run_dir))
      assert len(rows_a) == len(rows_b) > 0
      for ra, rb in zip(rows_a, rows_b, strict=True):
        assert ra.pop('wall_time') and rb.pop('wall_time')
        assert ra == rb
    # The wall clock goes on from the checkpoint's time instead of starting again.
    times = [float(r['wall_time']) for r in read_rows(os.path.join(run_dir, 'train.csv'))]
    assert times == sorted(times)
  assert read_rows(os.path.join(whole, 'train.csv'))[0]['skipped_updates'] == '0'


def test_checkpoints_are_pruned_and_written_atomically(runs, tmp_path, monkeypatch):
  for run_dir in (runs['whole'], runs['parts']):
    paths = checkpoint.list_checkpoints(run_dir)
    # Periodic ones at epochs 20, 40 (past 7000, 14000 env steps), (30 for the interrupted
    # run) and the final one: the newest 2 are kept, named by the furthest seed's env steps.
    assert [checkpoint.load(p)['parts']['counters']['epoch'] for p in paths] == [40, EPOCHS]
    steps = max(int(r['env_steps']) for r in read_rows(os.path.join(run_dir, 'train.csv')))
    assert os.path.basename(paths[-1]) == f'ckpt_{steps:015d}.pickle'
    assert sorted(os.listdir(checkpoint.directory(run_dir))) == [
        os.path.basename(p) for p in paths]  # no temp files left behind
  # A write that fails halfway leaves no checkpoint file and no temp file: the previous
  # checkpoint is still the newest, and a resume starts from it.
  run_dir = str(tmp_path / 'failed_write')
  shutil.copytree(runs['stopped'], run_dir)
  before = checkpoint.list_checkpoints(run_dir)
  trainer = make_trainer(small_config(run_dir, resume=True))

  def disk_full(fd):
    raise OSError(28, 'No space left on device')

  monkeypatch.setattr(io.os, 'fsync', disk_full)
  with pytest.raises(OSError, match='No space'):
    trainer.run()
  monkeypatch.undo()
  assert checkpoint.list_checkpoints(run_dir) == before
  assert sorted(os.listdir(checkpoint.directory(run_dir))) == [
      os.path.basename(p) for p in before]
  assert checkpoint.load(checkpoint.latest(run_dir))['parts']['counters']['epoch'] == 30


def newest_checkpoint_copy(runs, tmp_path):
  run_dir = str(tmp_path / 'run')
  shutil.copytree(runs['stopped'], run_dir)
  return run_dir, checkpoint.latest(run_dir)


@pytest.mark.parametrize('damage', ['garbage', 'truncated', 'missing_array', 'a3c',
                                    'old_layout', 'missing_part', 'bad_counters'])
def test_a_bad_checkpoint_is_refused_with_one_line(runs, tmp_path, damage):
  run_dir, path = newest_checkpoint_copy(runs, tmp_path)
  with open(path, 'rb') as f:
    data = f.read()
  payload = pickle.loads(data)
  if damage == 'garbage':
    data = b'\x80\x05 not a pickle at all'
  elif damage == 'truncated':
    data = data[:len(data) // 2]
  elif damage == 'missing_array':  # e.g. the run of another network or config
    payload['parts']['learner'] = payload['parts']['learner'][1:]
    data = pickle.dumps(payload)
  elif damage == 'old_layout':  # layout 2: the arrays and counters by trainer hook
    parts = payload.pop('parts')
    payload.update(schema=2, arrays=dict(state=parts['learner'], data=parts['data']),
                   counters=parts['counters'], schedule=parts['schedule'])
    data = pickle.dumps(payload)
  elif damage == 'missing_part':
    del payload['parts']['data']
    data = pickle.dumps(payload)
  elif damage == 'bad_counters':
    payload['parts']['counters']['env_steps_per_seed'] = [0, 0, 0]  # 3 seeds, not 2
    data = pickle.dumps(payload)
  else:
    payload['agent'] = 'a3c'
    data = pickle.dumps(payload)
  with open(path, 'wb') as f:
    f.write(data)
  with pytest.raises(RunFileError) as error:
    make_trainer(small_config(run_dir, resume=True))
  message = str(error.value)
  assert '\n' not in message and message.startswith(path), message
  expected = {'garbage': 'not a readable metarl pickle',
              'truncated': 'not a readable metarl pickle',
              'missing_array': 'training state does not fit this config',
              'a3c': "'a3c' agent",
              'old_layout': 'layout 2, this one reads 3',
              'missing_part': "holds the parts ['counters', 'learner', 'schedule'], a td run "
                              "of this config has ['counters', 'data', 'learner', 'schedule']",
              'bad_counters': 'counters do not fit this run (ValueError: 3 seeds'}[damage]
  assert expected in message


def poison(data, seed, trials=slice(None)):
  """NaN rewards in `trials` of one seed's training set."""
  rewards = data.trials.rewards.at[seed, trials].set(jnp.nan)
  return data._replace(trials=data.trials._replace(rewards=rewards))


def test_updates_with_nan_are_skipped_and_counted():
  config = small_config('')
  env = envs.make(config.env)
  agent = td.make_agent(config, env)
  params_keys, data_keys = td.seed_keys(0, 2)
  start, data = agent.init(params_keys), agent.init_data(data_keys)
  clean, _, clean_metrics = agent.train_epochs(start, data, 10)
  # Every trial of seed 1: its 20 updates are all skipped, seed 0 trains as before.
  state, _, metrics = agent.train_epochs(start, poison(data, 1), 10)
  seed = lambda tree, s: jax.tree_util.tree_map(lambda x: x[s], tree)  # noqa: E731
  before, after = seed(start, 1), seed(state, 1)
  assert_same_leaves((before.params, before.opt_state, before.step),
                     (after.params, after.opt_state, after.step))
  assert int(after.bad_streak) == 20 and int(state.bad_streak[0]) == 0
  assert_same_leaves(seed(clean, 0), seed(state, 0))
  np.testing.assert_array_equal(metrics['skipped_updates'], [0, 20])
  assert metrics['td_loss'][0] == clean_metrics['td_loss'][0]
  assert np.isnan(metrics['td_loss'][1])  # no update applied: nothing to average
  # One trial of seed 1: the one update per epoch that holds it is skipped, the rest apply.
  state, _, metrics = agent.train_epochs(start, poison(data, 1, 0), 10)
  np.testing.assert_array_equal(metrics['skipped_updates'], [0, 10])
  np.testing.assert_array_equal(state.step, [20, 10])
  assert np.isfinite(metrics['td_loss'][1]) and metrics['max_bad_streak'][1] <= 2
  assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(state))
  assert not np.array_equal(state.params['lstm/linear']['w'][1],
                            start.params['lstm/linear']['w'][1])


def test_persistent_nan_stops_the_run_naming_the_last_good_checkpoint(tmp_path):
  run_dir = str(tmp_path / 'nan')
  config = small_config(run_dir, checkpoint_every=1, keep_checkpoints=5, max_bad_updates=30,
                        log_every_epochs=10, **{'eval.every_epochs': 10})
  # Seed 1's training set gets NaN rewards before the 3rd call: 20 skipped updates a call.
  trainer = trainer_with(config, lambda call, data: poison(data, 1) if call == 3 else None)
  with pytest.raises(TrainingDiverged) as error:
    trainer.run()
  # One checkpoint after every call but the one that stopped the run.
  paths = checkpoint.list_checkpoints(run_dir)
  assert [checkpoint.load(p)['parts']['counters']['epoch'] for p in paths] == [10, 20, 30]
  message = str(error.value)
  # The streak (40) reached max_bad_updates during the 4th call; the checkpoint of epoch 30
  # was written while seed 1 was skipping, so the one of epoch 20 is the good one.
  assert f'last checkpoint written before it is {paths[1]}' in message, message
  assert message.startswith('40 updates in a row') and '\n' not in message
  rows = read_rows(os.path.join(run_dir, 'train.csv'))
  assert [(r['epoch'], r['seed'], r['skipped_updates']) for r in rows] == [
      ('10', '0', '0'), ('10', '1', '0'), ('20', '0', '0'), ('20', '1', '0'),
      ('30', '0', '0'), ('30', '1', '20'), ('40', '0', '0'), ('40', '1', '20')]
  assert np.isfinite(float(rows[-2]['td_loss'])) and rows[-1]['td_loss'] == 'nan'
  # params.pickle is saved: seed 1 kept its epoch-20 params, seed 0 went on training.
  good = checkpoint.load(paths[1])['parts']['learner']
  good_params = jax.tree_util.tree_unflatten(
      jax.tree_util.tree_structure(trainer.learner.state), good).params
  params = saved_params(run_dir)
  for saved, kept in zip(jax.tree_util.tree_leaves(params),
                         jax.tree_util.tree_leaves(good_params), strict=True):
    np.testing.assert_array_equal(saved[1], kept[1])
  assert not np.array_equal(params['lstm/linear']['w'][0], good_params['lstm/linear']['w'][0])
