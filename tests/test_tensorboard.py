"""TensorBoard logs (config.log.tensorboard): read back with metarl.runs.read_scalars, the
scalars of run_dir/tensorboard are the numeric cells of train.csv and eval.csv, row for row,
on an a3c run (also after a resume) and a td run; off, nothing is written or imported."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from configs import value_td
from launch.manager import train
from launch.validation import validate
from metarl import checkpoint, io, runs
from tests.test_checkpoints import small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def csv_scalars(run, step: str, seeded: bool = False) -> pd.DataFrame:
  """What TensorBoard should hold: every numeric CSV cell as (tag, step, value), tagged
  table/column (seed_<seed>/table/column for td's rows, one per seed)."""
  frames = []
  for table in ('train', 'eval'):
    frame = getattr(run, table)
    ids = [step, 'seed'] if seeded else [step]
    columns = [c for c in frame.select_dtypes('number').columns if c not in ids]
    long = frame.melt(id_vars=ids, value_vars=columns, var_name='column')
    prefix = 'seed_' + long['seed'].astype(str) + '/' if seeded else ''
    frames.append(pd.DataFrame(dict(tag=prefix + table + '/' + long['column'],
                                    step=long[step], value=long['value'])))
  return pd.concat(frames, ignore_index=True)


def assert_same_scalars(run_dir: str, step: str, seeded: bool = False) -> pd.DataFrame:
  run = runs.load(run_dir)
  expected = csv_scalars(run, step, seeded).sort_values(['tag', 'step'], ignore_index=True)
  logged = run.tensorboard().sort_values(['tag', 'step'], ignore_index=True)
  assert set(logged['tag']) == set(expected['tag'])
  assert list(logged['step']) == list(expected['step']) and list(logged['tag']) == list(
      expected['tag'])
  np.testing.assert_allclose(logged['value'], expected['value'].astype(np.float32),
                             rtol=2**-23)  # the CSV's value, stored as float32
  return logged


def test_an_a3c_run_logs_its_csv_rows_and_a_resume_replaces_the_rows_it_writes_again(
    tmp_path):
  config = small_config(str(tmp_path / 'a3c'))  # checkpoints at 1600, 3200 and 4000
  config.log.tensorboard = True
  run_dir = train(config)
  logged = assert_same_scalars(run_dir, 'env_steps')
  run = runs.load(run_dir)
  assert {'train/loss', 'train/updates', 'train/wall_time', 'eval/mean_reward_per_trial',
          'eval/updates'} <= set(logged['tag'])
  assert not any(tag.endswith('/env_steps') for tag in logged['tag'])  # it is the step
  assert len(logged) == sum(
      len(table) * (table.select_dtypes('number').shape[1] - 1)
      for table in (run.train, run.eval))
  # Killed after its checkpoint at 3200 env steps: the resume writes the rows after it
  # again, into a new event file whose purge step hides the old ones from TensorBoard.
  os.unlink(checkpoint.latest(run_dir))
  config.resume = True
  validate(config)
  train(config)
  assert len(os.listdir(os.path.join(run_dir, io.TENSORBOARD_DIR))) == 2
  assert_same_scalars(run_dir, 'env_steps')


def td_config(run_dir: str, tensorboard: bool):
  config = value_td.get_config()
  config.run_dir = run_dir
  config.num_seeds, config.agent.epochs = 2, 40
  config.agent.num_trials, config.agent.batch_size = 24, 12
  config.log_every_epochs = config.eval.every_epochs = 20
  config.eval.num_episodes, config.eval.analyze_at_end = 20, False
  config.checkpoint_every = 0
  config.log.tensorboard = tensorboard
  return config


def test_a_td_run_logs_every_seed_row_at_its_epoch(tmp_path):
  run_dir = train(td_config(str(tmp_path / 'td'), tensorboard=True))
  logged = assert_same_scalars(run_dir, 'epoch', seeded=True)
  assert {'seed_0/train/td_loss', 'seed_1/train/td_loss', 'seed_1/eval/mse',
          'seed_0/train/env_steps'} <= set(logged['tag'])
  assert sorted(set(logged['step'])) == [20, 40]


def test_off_nothing_is_written_or_imported(tmp_path):
  run_dir = train(td_config(str(tmp_path / 'off'), tensorboard=False))
  assert os.path.isfile(os.path.join(run_dir, 'train.csv'))
  assert not os.path.exists(os.path.join(run_dir, io.TENSORBOARD_DIR))
  assert runs.load(run_dir).tensorboard().empty
  code = ('import sys, main, launch.trainers, launch.manager, metarl.runs; '
          "sys.exit('tensorboardX' in sys.modules)")
  assert subprocess.run([sys.executable, '-c', code], cwd=ROOT).returncode == 0


def test_the_reader_stops_at_a_record_cut_short_and_refuses_a_corrupt_one(tmp_path):
  log = io.TensorBoardLog(str(tmp_path))
  for step in (1, 2):
    log.write({'train/loss': 0.5 * step}, step)
  log.close()
  (path,) = [os.path.join(tmp_path, io.TENSORBOARD_DIR, name)
             for name in os.listdir(tmp_path / io.TENSORBOARD_DIR)]
  with open(path, 'rb') as f:
    data = f.read()
  with open(path, 'wb') as f:
    f.write(data[:-5])  # the last event half written (a killed run)
  assert runs.read_scalars(str(tmp_path)).values.tolist() == [['train/loss', 1, 0.5]]
  with open(path, 'wb') as f:
    f.write(data[:-9] + bytes([data[-9] ^ 1]) + data[-8:])
  with pytest.raises(io.RunFileError, match='corrupt record'):
    runs.read_scalars(str(tmp_path))
