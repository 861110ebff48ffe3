"""Reading runs: one run directory in a line, many runs in one tidy table.

    from metarl import runs
    run = runs.load('runs/20261121-101500_bandit_a3c')
    run.config.env.name, run.train.tail(), run.eval['mean_reward_per_trial'].iloc[-1]
    params = run.params()          # the numpy params of params.pickle
    data = run.eval_data()         # eval_data.pickle (value_data.pickle for td), if written
    table = runs.compare(['runs/A', 'runs/B'])   # every eval.csv row, tagged by run
    scalars = run.tensorboard()    # run_dir/tensorboard (log.tensorboard=True): tag, step, value

Works for every agent's training directory and for evaluation directories (configs/eval.py:
no train.csv, so `.train` is an empty DataFrame) and for play directories (configs/play.py).
`.summary` is the analysis's table: eval_summary.csv (bandit, and envs without their own
analysis), stay_probability.csv (two-step tasks) or success_by_delay.csv (class query).

    runs.compare(['runs/X_eval', 'runs/Y_play_bandit'], table='summary')  # agent vs person
"""

import glob
import json
import os
import struct
from collections.abc import Iterable
from typing import Any

import ml_collections
import pandas as pd

from metarl.io import TENSORBOARD_DIR, RunFileError, load_pickle

ANALYSIS_FILES = ('eval_data.pickle', 'value_data.pickle')
SUMMARY_FILES = ('eval_summary.csv', 'stay_probability.csv', 'success_by_delay.csv')
TABLES = ('eval', 'train', 'summary')


def _read_csv(path: str) -> pd.DataFrame:
  if not os.path.isfile(path):
    return pd.DataFrame()
  try:
    return pd.read_csv(path)
  except pd.errors.EmptyDataError:
    return pd.DataFrame()
  except (pd.errors.ParserError, UnicodeDecodeError) as e:
    raise RunFileError(f'{path}: not a readable CSV ({e})') from e


class Run:
  """One run directory: its config and tables, with its pickles loaded on demand."""

  def __init__(self, run_dir: str):
    self.dir = os.path.abspath(run_dir)
    path = os.path.join(self.dir, 'config.json')
    if not os.path.isfile(path):
      raise RunFileError(f'{run_dir}: not a run directory (no config.json)')
    try:
      with open(path) as f:
        self.config = ml_collections.ConfigDict(json.load(f))
    except (OSError, ValueError, TypeError) as e:
      raise RunFileError(f'{path}: cannot be read ({e})') from e
    self.train = _read_csv(os.path.join(self.dir, 'train.csv'))
    self.eval = _read_csv(os.path.join(self.dir, 'eval.csv'))
    self.summary = pd.DataFrame()
    for name in SUMMARY_FILES:
      if os.path.isfile(os.path.join(self.dir, name)):
        self.summary = _read_csv(os.path.join(self.dir, name))
        break

  @property
  def name(self) -> str:
    return os.path.basename(self.dir)

  def params(self) -> Any:
    """The params of params.pickle (numpy leaves)."""
    return load_pickle(os.path.join(self.dir, 'params.pickle'),
                       required_keys=('params',))['params']

  def eval_data(self) -> dict[str, Any]:
    """What the analysis of an evaluation wrote (eval_data.pickle; value_data.pickle for
    the td agent)."""
    for name in ANALYSIS_FILES:
      path = os.path.join(self.dir, name)
      if os.path.isfile(path):
        return load_pickle(path)
    raise RunFileError(f'{self.dir}: no {" or ".join(ANALYSIS_FILES)} (written by an '
                       'evaluation: configs/eval.py, or at the end of a td run)')

  def tensorboard(self) -> pd.DataFrame:
    """The scalars of run_dir/tensorboard (see `read_scalars`)."""
    return read_scalars(self.dir)

  def __repr__(self) -> str:
    return (f'Run({self.dir!r}: {len(self.train)} train rows, {len(self.eval)} eval rows)')


def _records(path: str):
  """The records of a TFRecord file: uint64 length, uint32 masked CRC of the length, the
  data, uint32 masked CRC of the data (little-endian). A record cut short at the end (a
  writer killed mid-write) ends the file; a wrong checksum is a `RunFileError`."""
  from tensorboardX.record_writer import masked_crc32c
  with open(path, 'rb') as f:
    blob = f.read()
  pos = 0
  while pos + 12 <= len(blob):
    length, header_crc = struct.unpack_from('<QI', blob, pos)
    end = pos + 12 + length + 4
    if end > len(blob):
      return
    data = blob[pos + 12:end - 4]
    if (header_crc != masked_crc32c(blob[pos:pos + 8]) or
        struct.unpack_from('<I', blob, end - 4)[0] != masked_crc32c(data)):
      raise RunFileError(f'{path}: a corrupt record at byte {pos}')
    yield data
    pos = end


def read_scalars(run_dir: str) -> pd.DataFrame:
  """The scalars of the TensorBoard event files in `run_dir/tensorboard`, as TensorBoard
  shows them: one row (tag, step, value) per point, files read in name order, and a
  resumed run's restart (a SessionLog START event at step S) dropping the earlier points at
  step S or later. Empty if the run wrote no TensorBoard files (needs tensorboardX)."""
  paths = sorted(glob.glob(os.path.join(run_dir, TENSORBOARD_DIR, '*tfevents*')))
  if not paths:
    return pd.DataFrame(columns=['tag', 'step', 'value'])
  from tensorboardX.proto.event_pb2 import Event, SessionLog
  rows: list[tuple] = []
  for path in paths:
    for record in _records(path):
      event = Event.FromString(record)
      if event.HasField('session_log') and event.session_log.status == SessionLog.START:
        rows = [row for row in rows if row[1] < event.step]
      elif event.HasField('summary'):
        rows += [(v.tag, event.step, v.simple_value) for v in event.summary.value
                 if v.HasField('simple_value')]
  return pd.DataFrame(rows, columns=['tag', 'step', 'value'])


def load(run_dir: str) -> Run:
  """The run in `run_dir` (`RunFileError` if it is not one)."""
  return Run(run_dir)


def compare(run_dirs: Iterable[str], table: str = 'eval') -> pd.DataFrame:
  """One tidy DataFrame of `table` ('eval', 'train' or 'summary') across runs: every row of
  every run, with columns run (directory name), config (config.name), agent, env and seed
  (the row's own seed column where the run has one per seed, as td does, else config.seed).
  """
  if table not in TABLES:
    raise ValueError(f'table must be one of {TABLES}, got {table!r}')
  frames: list[pd.DataFrame] = []
  for run_dir in run_dirs:
    run = load(run_dir)
    frame = getattr(run, table).copy()
    tags: dict[str, Any | None] = dict(
        run=run.name, config=run.config.get('name'),
        agent=run.config.get('agent', {}).get('name'),
        env=run.config.get('env', {}).get('name'))
    if 'seed' not in frame:
      tags['seed'] = run.config.get('seed')
    for i, (key, value) in enumerate(tags.items()):
      frame.insert(i, key, value)
    frames.append(frame)
  if not frames:
    return pd.DataFrame()
  return pd.concat(frames, ignore_index=True, sort=False)
