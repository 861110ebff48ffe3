"""The optional Weights & Biases sink (`log.wandb_project`): in offline mode, the W&B run in
run_dir/wandb holds every numeric cell of train.csv and eval.csv, against env_steps."""

import csv
import glob
import json
import os
import struct

import pytest

from configs import bandit_train
from launch import manager
from launch.validation import validate
from metarl.config_rules import ConfigError

wandb = pytest.importorskip('wandb')  # requirements.txt installs it


def wandb_history(run_dir):
  """The history rows of the offline W&B runs in run_dir/wandb: the .wandb file is a log of
  protobuf Records in 32 kB blocks (LevelDB's log format after a 7-byte header)."""
  from wandb.proto import wandb_internal_pb2
  rows = []
  for path in sorted(glob.glob(os.path.join(run_dir, 'wandb', 'offline-run-*', '*.wandb'))):
    with open(path, 'rb') as f:
      raw = f.read()
    pos, chunk = 7, b''
    while pos + 7 <= len(raw):
      left = 32768 - pos % 32768
      if left < 7:
        pos += left
        continue
      _, length, kind = struct.unpack('<IHB', raw[pos:pos + 7])
      if length == 0 and kind == 0:  # the rest of the block is padding
        pos += left
        continue
      chunk += raw[pos + 7:pos + 7 + length]
      pos += 7 + length
      if kind in (1, 4):  # a whole record, or a record's last piece
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        chunk = b''
        if record.WhichOneof('record_type') == 'history':
          rows.append({item.key or '/'.join(item.nested_key): json.loads(item.value_json)
                       for item in record.history.item})
  return rows


def small_config(run_dir):
  config = bandit_train.get_config('a3c')
  config.run_dir = run_dir
  config.agent.num_envs = 16
  config.launch.updates_per_call = 5
  config.launch.num_evaluators = 0
  config.total_env_steps, config.log_every_env_steps = 32000, 8000
  config.eval.every_env_steps, config.eval.num_episodes = 16000, 20
  config.log.wandb_project = 'metarl-test'
  return config


def read(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def test_offline_w_and_b_gets_every_row_of_train_csv_and_eval_csv(tmp_path):
  run_dir = str(tmp_path / 'run')
  manager.train(small_config(run_dir))
  history = wandb_history(run_dir)
  for table in ('train', 'eval'):
    logged = [{k.split('/', 1)[1]: v for k, v in row.items() if k.startswith(f'{table}/')}
              | {'env_steps': row['env_steps']}
              for row in history if any(k.startswith(f'{table}/') for k in row)]
    written = read(os.path.join(run_dir, f'{table}.csv'))
    assert len(logged) == len(written) >= 2, table
    for got, row in zip(logged, written, strict=True):
      assert got['env_steps'] == int(row['env_steps'])
      for key, value in got.items():
        assert value == pytest.approx(float(row[key]), rel=1e-6), (table, key)
      assert set(got) == set(row), table  # every column, the step included


def test_w_and_b_settings_are_checked_before_anything_starts(hide_package, tmp_path):
  config = small_config(str(tmp_path / 'run'))
  config.log.wandb_mode = 'cloud'
  with pytest.raises(ConfigError, match="config.log.wandb_mode = 'cloud'.*'offline', 'online'"):
    validate(config)
  config.log.wandb_mode, config.log.wandb_project = 'offline', 'team/project'
  with pytest.raises(ConfigError, match="config.log.wandb_project = 'team/project'"):
    validate(config)
  config.log.wandb_project = 'metarl-test'
  hide_package('wandb')
  with pytest.raises(ConfigError, match='wandb is not installed'):
    validate(config)
  assert not os.path.exists(tmp_path / 'run')


def test_the_w_and_b_id_is_random_and_kept_in_the_run_folder(tmp_path):
  from launch.run_logs import WANDB_ID_FILE, wandb_run_id
  first = wandb_run_id(str(tmp_path))
  assert wandb_run_id(str(tmp_path)) == first  # a resume goes on in the same W&B run
  with open(tmp_path / WANDB_ID_FILE) as f:
    assert f.read().strip() == first
  os.remove(tmp_path / WANDB_ID_FILE)  # a new run in the same path: a new W&B run
  assert wandb_run_id(str(tmp_path)) != first
