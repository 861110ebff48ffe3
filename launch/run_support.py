"""What every training run needs, whatever its trainer kind (its folder: `launch.run_folder`):
the log file, deferred Ctrl-C, the progress line, the CSV and TensorBoard rows, and checkpoints with
one payload schema.

Rows go through `RunLogs` to each `Logger` (train.csv / eval.csv, and with
`config.log.tensorboard` the same numeric cells as TensorBoard scalars, with
`config.log.wandb_project` as a Weights & Biases run's history), so a new sink is one more
`Logger`. A checkpoint payload is always

  agent, config, env_steps, updates      what and how far
  schedule    {next_eval, next_checkpoint, next_log}: the run's cadences
  counters    the trainer kind's own counters (epoch, calls, ...)
  logs        the periodic train-metric sums of an unfinished logging period
  curriculum  where a curriculum stands (None without one)
  arrays      {name: numpy leaves} of the array states (`metarl.checkpoint.tree_leaves`)
"""

import contextlib
import logging as py_logging
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from absl import logging

from launch import run_folder
from metarl import checkpoint as checkpoint_lib
from metarl import io

CHECKPOINT_SCHEMA = 2  # the payload above; version 1 was one layout per agent


class TrainingDiverged(RuntimeError):
  """`config.max_bad_updates` updates in a row had a NaN or Inf in their loss or gradient."""


def diverged_message(run_dir: str, streak: int, env_steps: int,
                     good_checkpoint: str | None) -> str:
  """The message a run stops with when its updates keep being skipped."""
  where = (f'the last checkpoint written before it is {good_checkpoint}' if good_checkpoint
           else 'no checkpoint was written before it')
  return (f'{streak} updates in a row had a NaN or Inf in their loss or gradient and were '
          f'skipped (config.max_bad_updates); the run stopped at {env_steps} env steps in '
          f'{run_dir}; {where}')


class StopRequest:
  requested = False


@contextlib.contextmanager
def deferred_interrupts():
  """Within the block, SIGINT and SIGTERM only set `.requested` on the yielded object (the
  loop stops at its next boundary); outside the main thread nothing changes."""
  stop = StopRequest()
  if threading.current_thread() is not threading.main_thread():
    yield stop
    return

  def request(signum, frame):
    del signum, frame
    stop.requested = True

  previous = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield stop
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)


def add_log_file(path: str):
  """Sends absl logging (INFO and up) to `path`; returns the handler (remove it when done).

  The console keeps only warnings and errors (the progress line is the console's); the log
  file has every row and message.
  """
  handler = py_logging.FileHandler(path)
  handler.setFormatter(logging.PythonFormatter())
  handler.setLevel(py_logging.INFO)
  logging.get_absl_logger().addHandler(handler)
  logging.set_verbosity(logging.INFO)
  return handler


class Progress:
  """A one-line progress display (tqdm) with the rate and the latest evaluation."""

  def __init__(self, total: int, unit: str = 'step', rate_label: str = 'env-steps/s'):
    from tqdm import tqdm
    self._bar = tqdm(total=total, unit=unit, unit_scale=True, dynamic_ncols=True,
                     mininterval=1.0, file=sys.stderr)
    self._rate_label = rate_label
    self._rate: float | None = None  # until the first training row measures it
    self._eval = ''

  def update(self, position: int, rate: float | None = None,
             eval_metrics: dict[str, float] | None = None) -> None:
    if rate is not None:
      self._rate = rate
    if eval_metrics:
      self._eval = ' '.join(f'{k}={v:.3g}' for k, v in eval_metrics.items())
    rate = '-' if self._rate is None else f'{self._rate:,.1f}'
    self._bar.set_postfix_str(f'{rate} {self._rate_label} | eval: {self._eval or "-"}',
                              refresh=False)
    self._bar.update(max(0, min(position, self._bar.total) - self._bar.n))

  def note(self, text: str) -> None:
    """One short line above the bar, without breaking it."""
    self._bar.write(text, file=sys.stderr)

  def close(self) -> None:
    self._bar.close()

  def discard(self) -> None:
    """Closes the bar and clears its line (a run that stops before training shows its
    one-line reason, not a bar at 0)."""
    self._bar.leave = False
    self._bar.close()


# Rows ---------------------------------------------------------------------------------------

class Logger(Protocol):
  """A sink of a run's rows: `table` is 'train' or 'eval'; `cells` are the row's numeric
  cells as the CSV wrote them; `tag_prefix` groups rows (td: 'seed_<n>/')."""

  def write(self, table: str, cells: dict[str, float], step: int, tag_prefix: str) -> None:
    ...

  def close(self) -> None:
    ...


class TensorBoardLogger:
  """The numeric cells of every row as scalars `<prefix><table>/<column>` at the row's step
  (opened with the first row; a resumed run's `purge_step` hides the rows it rewrites)."""

  def __init__(self, run_dir: str, skip: Sequence[str], purge_step: int | None = None):
    self._run_dir, self._skip, self.purge_step = run_dir, set(skip), purge_step
    self._log: io.TensorBoardLog | None = None

  def write(self, table: str, cells: dict[str, float], step: int, tag_prefix: str) -> None:
    if self._log is None:
      self._log = io.TensorBoardLog(self._run_dir, self.purge_step)
    self._log.write({f'{tag_prefix}{table}/{k}': v for k, v in cells.items()
                     if k not in self._skip}, step)

  def close(self) -> None:
    if self._log is not None:
      self._log.close()


WANDB_ID_FILE = 'wandb_run_id.txt'


def wandb_run_id(run_dir: str) -> str:
  """The W&B run id of the run in `run_dir`: the one kept there, or a new random one
  (then kept there)."""
  path = os.path.join(run_dir, WANDB_ID_FILE)
  if os.path.isfile(path):
    with open(path, encoding='ascii') as f:
      kept = f.read().strip()
    if re.fullmatch(r'[0-9a-f]{16}', kept):
      return kept
  new = secrets.token_hex(8)
  io.atomic_write_bytes(path, f'{new}\n'.encode())
  return new


class WandbLogger:
  """The numeric cells of every row to a Weights & Biases run (opened with the first row,
  in run_dir/wandb; `log.wandb_mode` offline or online), as `<prefix><table>/<column>`
  against the row's position column (`env_steps`, or `epoch` for td). The W&B run's id is
  random, drawn when the run first logs and kept in run_dir/`WANDB_ID_FILE`, so a resumed
  run goes on in the same W&B run and a new run is a new W&B run, wherever its folder is."""

  def __init__(self, config, position: str, skip: Sequence[str]):
    self._config, self._position, self._skip = config, position, set(skip)
    self._run = None

  def _open(self):
    import wandb  # only where a run logs to W&B
    run_dir = os.path.abspath(self._config.run_dir)
    run = wandb.init(
        project=self._config.log.wandb_project, dir=run_dir, mode=self._config.log.wandb_mode,
        name=os.path.basename(run_dir), config=io.config_to_dict(self._config),
        id=wandb_run_id(run_dir), resume='allow',
        settings=wandb.Settings(silent=True, console='off'))
    run.define_metric(self._position)
    run.define_metric('*', step_metric=self._position)
    return run

  def write(self, table: str, cells: dict[str, float], step: int, tag_prefix: str) -> None:
    if self._run is None:
      self._run = self._open()
    row = {f'{tag_prefix}{table}/{k}': v for k, v in cells.items() if k not in self._skip}
    self._run.log(dict(row, **{self._position: step}))

  def close(self) -> None:
    if self._run is not None:
      self._run.finish()
      self._run = None


class RunLogs:
  """train.csv and eval.csv of a run, each row also to the other `Logger`s.

  `position` is the column a resume truncates the CSVs by (env_steps, or epoch for td);
  `not_scalars` are columns that are a row's step or tag rather than a scalar.
  """

  def __init__(self, config, position: str = 'env_steps',
               not_scalars: Sequence[str] = ('env_steps',)):
    self._run_dir = config.run_dir
    self._position = position
    self._csv: dict[str, io.CsvLog] = {}
    self.loggers: list[Logger] = []
    self._tensorboard = None
    if io.tensorboard_on(config):
      self._tensorboard = TensorBoardLogger(config.run_dir, not_scalars)
      self.loggers.append(self._tensorboard)
    if io.wandb_on(config):
      self.loggers.append(WandbLogger(config, position, not_scalars))

  def write(self, table: str, row: dict[str, Any], step: int, tag_prefix: str = '') -> None:
    """Appends `row` to `table`.csv (its columns fixed by its first row), then to the
    loggers at `step`."""
    if table not in self._csv:
      self._csv[table] = io.CsvLog(os.path.join(self._run_dir, f'{table}.csv'), list(row))
    cells = self._csv[table].write(row)
    for logger in self.loggers:
      logger.write(table, cells, step, tag_prefix)

  def resume(self, position: int) -> None:
    """Drops the rows after `position` (they will be written again)."""
    for table in ('train', 'eval'):
      io.truncate_csv(os.path.join(self._run_dir, f'{table}.csv'), position,
                      column=self._position)
    if self._tensorboard is not None:
      self._tensorboard.purge_step = position + 1

  def close(self) -> None:
    for log in list(self._csv.values()) + self.loggers:
      log.close()


def format_row(row: dict[str, Any]) -> str:
  return ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                  for k, v in row.items())


class TrainMetrics:
  """The periodic aggregation of training metrics into train.csv rows (env-step kinds).

  `columns`: metrics that get a column from the first row on, even when not reported in it
  (e.g. episode_return before an episode ended); `latest`: logged with their newest value
  instead of the period's mean; `summed`: counts, logged as their sum over the period.
  """

  def __init__(self, logs: RunLogs, log_every: int, start_time: float,
               columns: Sequence[str] = (), latest: Sequence[str] = (),
               summed: Sequence[str] = ('skipped_updates',), seed: int | None = None):
    self._logs = logs
    self._seed = seed  # a run of several seeds: the rows' seed column and TensorBoard group
    self._latest, self._summed = set(latest), set(summed)
    self._log_every = log_every
    self.next_log = log_every
    self._start = start_time
    self._columns = list(columns)
    self._sums: dict[str, float] = {}
    self._counts: dict[str, int] = {}
    self._count = 0
    self._last_steps, self._last_time = 0, start_time
    self.steps_per_sec = 0.0

  def elapsed(self) -> float:
    return time.time() - self._start

  def state_dict(self) -> dict[str, Any]:
    """What a checkpoint needs to continue: the period's partial sums."""
    return dict(sums=dict(self._sums), counts=dict(self._counts), count=self._count,
                next_log=self.next_log, last_steps=self._last_steps, elapsed=self.elapsed())

  def load_state_dict(self, state: dict[str, Any]) -> None:
    self._sums, self._counts = dict(state['sums']), dict(state['counts'])
    self._count, self.next_log = state['count'], state['next_log']
    self._last_steps = state['last_steps']
    self._start = time.time() - state['elapsed']

  def add(self, metrics: dict[str, float], env_steps: int, updates: int) -> None:
    """Adds one call's metrics; writes a train.csv row once a logging period is over.
    Each metric is averaged over the calls that reported it."""
    for k, v in metrics.items():
      keep = k in self._latest
      self._sums[k] = (0.0 if keep else self._sums.get(k, 0.0)) + float(v)
      self._counts[k] = 1 if keep else self._counts.get(k, 0) + 1
    self._count += 1
    if env_steps >= self.next_log:
      self.flush(env_steps, updates)

  def flush(self, env_steps: int, updates: int) -> None:
    """Writes the row of the metrics gathered since the last one, if any."""
    if not self._count:
      return
    now = time.time()
    self.steps_per_sec = (env_steps - self._last_steps) / max(now - self._last_time, 1e-9)
    row = dict(env_steps=env_steps, updates=updates, wall_time=now - self._start)
    if self._seed is not None:
      row['seed'] = self._seed
    row['env_steps_per_sec'] = self.steps_per_sec
    row.update({k: float('nan') for k in self._columns})
    row.update({k: v if k in self._summed else v / self._counts[k]
                for k, v in sorted(self._sums.items())})
    self._logs.write('train', row, env_steps,
                     tag_prefix='' if self._seed is None else f'seed_{self._seed}/')
    logging.info('train: %s', format_row(row))
    self._sums, self._counts, self._count = {}, {}, 0
    self._last_steps, self._last_time = env_steps, now
    while self.next_log <= env_steps:
      self.next_log += self._log_every


class SeedsTrainMetrics:
  """`TrainMetrics` of the seeds of a vmapped run: `add` takes metrics with a leading seed
  axis (scalars count for every seed) and each seed writes its own train.csv rows."""

  def __init__(self, seeds: Sequence[int], *args, **kwargs):
    self.per_seed = [TrainMetrics(*args, seed=seed, **kwargs) for seed in seeds]

  @property
  def next_log(self) -> int:
    return self.per_seed[0].next_log

  @property
  def steps_per_sec(self) -> float:
    """Env steps per second of all seeds together (the progress line's rate)."""
    return sum(m.steps_per_sec for m in self.per_seed)

  def elapsed(self) -> float:
    return self.per_seed[0].elapsed()

  def state_dict(self) -> dict[str, Any]:
    return dict(seeds=[m.state_dict() for m in self.per_seed])

  def load_state_dict(self, state: dict[str, Any]) -> None:
    states = state.get('seeds') if isinstance(state, dict) else None
    if not isinstance(states, list) or len(states) != len(self.per_seed):
      raise ValueError(f'the checkpoint\'s train.csv state is not one of {len(self.per_seed)} '
                       'seeds')
    for m, s in zip(self.per_seed, states, strict=True):
      m.load_state_dict(s)

  def add(self, metrics, env_steps: int, updates: int) -> None:
    """`metrics`: {name: [seeds] array or a scalar for all}, or a list of each seed's."""
    for i, m in enumerate(self.per_seed):
      mine = (metrics[i] if isinstance(metrics, list) else
              {k: v if np.ndim(v) == 0 else v[i] for k, v in metrics.items()})
      m.add(mine, env_steps, updates)

  def flush(self, env_steps: int, updates: int) -> None:
    for m in self.per_seed:
      m.flush(env_steps, updates)


class RunCheckpointer:
  """Writes and reads a run's checkpoints (`metarl.checkpoint`) with the payload above."""

  def __init__(self, config):
    self._config = config
    self.every = config.get('checkpoint_every', 0) or None  # None: no checkpoints
    self.good: str | None = None  # the newest one written while nothing was skipped

  def save(self, payload: dict[str, Any], clean: bool) -> str:
    """Writes `payload` (plus agent, config and schema) as the newest checkpoint; `clean`:
    no update was being skipped (a run that diverges names the last clean one)."""
    payload = dict(payload, agent=self._config.agent.name, schema=CHECKPOINT_SCHEMA,
                   config=io.config_to_dict(self._config))
    start = time.time()
    path = checkpoint_lib.save(self._config.run_dir, payload,
                               self._config.get('keep_checkpoints', 3))
    if clean:
      self.good = path
    logging.info('checkpoint at %d env steps: %s (%.3fs)', payload['env_steps'], path,
                 time.time() - start)
    return path

  def load_newest(self) -> tuple[str, dict[str, Any]]:
    """The newest checkpoint of this run to resume from (`io.RunFileError`, one line, if
    there is none, it is unreadable, another agent's, of another layout or of a config
    that differs in more than `run_folder.MAY_CHANGE_ON_RESUME`)."""
    path, payload = checkpoint_lib.load_for_resume(self._config.run_dir,
                                                   self._config.agent.name)
    if payload.get('schema') != CHECKPOINT_SCHEMA:
      raise io.RunFileError(f'{path}: a checkpoint of an older metarl (layout '
                            f'{payload.get("schema", 1)}, this one reads {CHECKPOINT_SCHEMA})')
    if not isinstance(payload['config'], dict):
      raise io.RunFileError(f'{path}: not a metarl checkpoint (its config is not a dict)')
    run_folder.check_same_run(payload['config'], self._config.agent.name, self._config, path)
    return path, payload
