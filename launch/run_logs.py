"""A run's rows: train.csv and eval.csv, each row also to the other `Logger`s (with
`config.log.tensorboard` the same numeric cells as TensorBoard scalars, with
`config.log.wandb_project` as a Weights & Biases run's history), so a new sink is one more
`Logger`."""

import os
import re
import secrets
from collections.abc import Sequence
from typing import Any, Protocol

from metarl import io


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

  def __init__(self, settings, position: str, skip: Sequence[str], record: dict):
    self._settings, self._position, self._skip = settings, position, set(skip)
    self._record = record  # the run's config, as W&B shows it
    self._run = None

  def _open(self):
    import wandb  # only where a run logs to W&B
    run_dir = os.path.abspath(self._settings.run_dir)
    log = self._settings.log
    run = wandb.init(
        project=log.wandb_project, dir=run_dir, mode=log.wandb_mode,
        name=os.path.basename(run_dir), config=self._record,
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

  def __init__(self, settings, position: str = 'env_steps',
               not_scalars: Sequence[str] = ('env_steps',), record: dict | None = None):
    """`settings`: the run's (`launch.settings`; its run_dir and log section); `record`:
    its config as a dict, for the sinks that keep it (W&B)."""
    self._run_dir = settings.run_dir
    self._position = position
    self._csv: dict[str, io.CsvLog] = {}
    self.loggers: list[Logger] = []
    self._tensorboard = None
    if settings.log.tensorboard:
      self._tensorboard = TensorBoardLogger(settings.run_dir, not_scalars)
      self.loggers.append(self._tensorboard)
    if settings.log.wandb_project:
      self.loggers.append(WandbLogger(settings, position, not_scalars, record or {}))

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
