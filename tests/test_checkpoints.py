"""Checkpoints and exact resume of single-process A3C and recurrent SAC runs: a run stopped
by a real SIGINT mid-training and resumed ends bit-identical to one never stopped, with
train.csv and eval.csv continued without duplicate or missing rows (rsac: with its replay
contents in the checkpoint; without them it refills the replay first)."""

import csv
import json
import os
import pickle
import signal

import jax
import numpy as np
import pytest

from configs import bandit_train, memory_sac
from launch import manager
from launch.trainers import ReplayTrainer, make_trainer
from launch.validation import validate
from metarl import checkpoint
from metarl.config_rules import ConfigError
from metarl.io import RunFileError
from tests.tools import faults


def small_config(run_dir):
  config = bandit_train.get_config('a3c')
  config.run_dir = run_dir
  config.agent.num_envs, config.agent.unroll_length = 8, 10
  config.launch.updates_per_call = 5  # 400 env steps per call
  config.total_env_steps = 4000
  config.log_every_env_steps = 1200
  config.checkpoint_every = 1600
  config.keep_checkpoints = 2
  config.launch.num_evaluators = 0
  config.eval.every_env_steps = 800
  config.eval.num_episodes = 8  # the tests' one size: compiled once (tests/conftest.py)
  return config


def read_rows(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def leaves(run_dir):
  with open(os.path.join(run_dir, 'params.pickle'), 'rb') as f:
    return jax.tree_util.tree_leaves(pickle.load(f)['params'])


def resume_and_compare(config, whole, tables):
  """Resumes the run of `config` and checks it ends as the uninterrupted run in `whole`:
  params bit for bit, the rows of `tables` equal apart from their timing columns."""
  config.resume = True
  validate(config)
  manager.train(config)
  for a, b in zip(leaves(whole), leaves(config.run_dir), strict=True):
    np.testing.assert_array_equal(a, b)
  timing = {'wall_time', 'env_steps_per_sec'}
  for name in tables:
    rows_a, rows_b = (read_rows(os.path.join(d, name)) for d in (whole, config.run_dir))
    assert [{k: v for k, v in r.items() if k not in timing} for r in rows_a] == [
        {k: v for k, v in r.items() if k not in timing} for r in rows_b]


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
  whole, parts = str(tmp_path / 'whole'), str(tmp_path / 'parts')
  manager.train(small_config(whole))

  def ctrl_c_in_the_6th_call(call, state, rollout_state):
    if call == 6:  # a real SIGINT while the 6th call runs
      os.kill(os.getpid(), signal.SIGINT)
    return state, rollout_state

  with faults.around_training_calls(ctrl_c_in_the_6th_call), pytest.raises(KeyboardInterrupt):
    manager.train(small_config(parts))
  # the call running when the signal came finished: its state, counters and logs are in
  # the final checkpoint; only the newest 2 checkpoints are kept
  names = [os.path.basename(p) for p in checkpoint.list_checkpoints(parts)]
  assert names == ['ckpt_000000000001600.pickle', 'ckpt_000000000002400.pickle']
  assert int(read_rows(os.path.join(parts, 'eval.csv'))[-1]['env_steps']) == 2400

  resume_and_compare(small_config(parts), whole, ('train.csv', 'eval.csv'))
  assert os.path.basename(checkpoint.latest(parts)) == 'ckpt_000000000004000.pickle'
  with open(os.path.join(parts, 'config.json')) as f:
    assert json.load(f)['resume'] is True  # config.json: the config the run went on with


def test_resume_needs_a_checkpoint_and_refuses_a_foreign_one(tmp_path):
  config = small_config(str(tmp_path / 'none'))
  config.resume = True
  with pytest.raises(ConfigError, match='with a checkpoint'):
    validate(config)
  os.makedirs(checkpoint.directory(config.run_dir))
  with open(os.path.join(checkpoint.directory(config.run_dir),
                         'ckpt_000000000000010.pickle'), 'wb') as f:
    f.write(b'not a pickle')
  validate(config)  # it exists; reading it is what fails, with one line
  with pytest.raises(RunFileError, match='not a readable metarl pickle'):
    make_trainer(config)


def small_sac_config(run_dir, checkpoint_replay=True):
  config = memory_sac.get_config()
  config.run_dir = run_dir
  config.network.torso_sizes, config.network.hidden_sizes = (8,), (8,)
  config.agent.num_envs = 2
  config.agent.batch_size = 4
  config.agent.warmup_steps = 100
  config.agent.critic_warmup_steps = config.agent.actor_warmup_steps = 100
  config.replay.capacity = 2000
  config.replay.sequence_length = 10
  config.total_env_steps = 1200
  config.launch.updates_per_call = 50  # 100 env steps per call
  config.log_every_env_steps = 300
  config.checkpoint_every = 400
  config.checkpoint_replay = checkpoint_replay
  config.eval.every_env_steps = 600
  config.eval.num_sequences = 8
  return config


def interrupt_sac_at_call(monkeypatch, k):
  """A real SIGINT while the k-th training call of an rsac run is being recorded."""
  calls = []
  real_record = ReplayTrainer._record

  def record(self, metrics, ticks):
    calls.append(1)
    if len(calls) == k:
      os.kill(os.getpid(), signal.SIGINT)
    return real_record(self, metrics, ticks)
  monkeypatch.setattr(ReplayTrainer, '_record', record)


@pytest.mark.slow
def test_rsac_resumed_with_its_replay_equals_an_uninterrupted_run(tmp_path, monkeypatch):
  whole, parts = str(tmp_path / 'whole'), str(tmp_path / 'parts')
  manager.train(small_sac_config(whole))
  interrupt_sac_at_call(monkeypatch, 7)
  with pytest.raises(KeyboardInterrupt):
    manager.train(small_sac_config(parts))
  monkeypatch.undo()
  assert os.path.basename(checkpoint.latest(parts)) == 'ckpt_000000000000700.pickle'
  payload = checkpoint.load(checkpoint.latest(parts))
  saved = payload['parts']
  assert saved['replay']['contents'] and saved['actor'] and saved['learner']
  resume_and_compare(small_sac_config(parts), whole, ('train.csv',))


@pytest.mark.slow
def test_rsac_resumed_without_its_replay_refills_it_first(tmp_path, monkeypatch):
  run_dir = str(tmp_path / 'noreplay')
  interrupt_sac_at_call(monkeypatch, 7)
  with pytest.raises(KeyboardInterrupt):
    manager.train(small_sac_config(run_dir, checkpoint_replay=False))
  monkeypatch.undo()
  payload = checkpoint.load(checkpoint.latest(run_dir))
  assert payload['parts']['replay']['contents'] is None
  config = small_sac_config(run_dir, checkpoint_replay=False)
  config.resume = True
  manager.train(config)
  rows = read_rows(os.path.join(run_dir, 'train.csv'))
  after = [r for r in rows if int(r['env_steps']) > 700]
  # the replay starts empty again: its size restarts from the resume point
  assert float(after[0]['replay_size']) <= int(after[0]['env_steps']) - 700
  assert int(rows[-1]['env_steps']) == 1200 and float(rows[-1]['critic_updates']) > 0


def test_params_of_an_older_run_get_the_defaults_of_fields_added_since(tmp_path):
  """The shipped bandit_a3c params were saved before a3c had normalize_advantages and
  reward_scale: they load with the defaults that keep the old behaviour."""
  config = bandit_train.get_config('a3c')
  del config.agent['normalize_advantages'], config.agent['reward_scale']
  path = str(tmp_path / 'params.pickle')
  checkpoint.save_params(path, 'a3c', config, 10, 1, {'w': np.zeros(2)}, [0])
  loaded = checkpoint.load_params(path).config
  assert loaded.agent.normalize_advantages is False and loaded.agent.reward_scale == 1.0
  assert loaded.agent.gamma == config.agent.gamma  # what was saved stays
