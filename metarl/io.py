"""Run directories, CSV logs and pickles, written so that nothing is left half-written.

Every whole-file write goes to a temporary file in the same directory and is moved into place
with `os.replace` (atomic on POSIX). CSV rows are appended with a single `write` of a whole
line and flushed, so a crash can at worst lose the row being written; with
`config.log.tensorboard` their numeric cells also go, as written, to TensorBoard event files
(`TensorBoardLog`, flushed per row too).
"""

import csv
import datetime
import io
import json
import numbers
import os
import pickle
import tempfile
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from metarl import safe_pickle


class RunFileError(Exception):
  """A file given to metarl cannot be read as what it should be."""


def new_timestamped_dir(parent: str, name: str) -> str:
  """Creates and returns a new directory `parent/<YYYYmmdd-HHMMSS>_<name>[_k]`, made
  exclusively (`os.mkdir`): two processes starting in the same second get two folders."""
  stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
  path = os.path.join(parent, f'{stamp}_{name}')
  os.makedirs(parent, exist_ok=True)
  candidate, k = path, 1
  while True:
    try:
      os.mkdir(candidate)
      return candidate
    except FileExistsError:
      k += 1
      candidate = f'{path}_{k}'


def _file_mode() -> int:
  """The mode a new file gets from open() under this process's umask (mkstemp's are 0600)."""
  umask = os.umask(0)
  os.umask(umask)
  return 0o666 & ~umask


def atomic_write_bytes(path: str, data: bytes) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path) + '.',
                             suffix='.tmp')
  try:
    os.fchmod(fd, _file_mode())  # readable by whom the user's other files are
    with os.fdopen(fd, 'wb') as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def remove_stale_temp_files(run_dir: str) -> None:
  """Deletes the temporary files of writes a killed process never finished (in `run_dir`
  and its checkpoints folder): they are never read, only left behind."""
  for folder in (run_dir, os.path.join(run_dir, 'checkpoints')):
    if not os.path.isdir(folder):
      continue
    for name in os.listdir(folder):
      if name.startswith('.') and name.endswith('.tmp'):
        os.unlink(os.path.join(folder, name))


def save_pickle(path: str, obj: Any) -> None:
  """Pickles `obj` to `path` atomically."""
  atomic_write_bytes(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def save_json(path: str, obj: Any) -> None:
  atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) +
                            '\n').encode())


def load_pickle(path: str, required_keys: Iterable[str] = ()) -> Any:
  """Loads a pickle that holds only what metarl writes (containers, numbers, strings, numpy
  arrays; `safe_pickle`): anything else is refused before any of its code runs. Every way
  it can be wrong is one `RunFileError` line."""
  if not os.path.isfile(path):
    raise RunFileError(f'{path}: no such file')
  try:
    with open(path, 'rb') as f:
      obj = safe_pickle.load(f)
  except safe_pickle.UnsafePickle as e:
    raise RunFileError(f'{path}: refused, it holds what metarl never writes ({e}); a pickle '
                       'can run code when loaded, so metarl reads only its own kinds of '
                       'data') from e
  except Exception as e:  # corrupt, truncated or foreign pickles fail in many ways
    raise RunFileError(f'{path}: not a readable metarl pickle ({type(e).__name__}: {e})') from e
  missing = [k for k in required_keys if not (isinstance(obj, dict) and k in obj)]
  if missing:
    raise RunFileError(f'{path}: not a metarl params pickle (missing {missing})')
  return obj


def to_floats(metrics: dict[str, Any]) -> dict[str, float]:
  """A dict of scalar metrics (JAX or numpy) as Python floats (for CSVs and messages)."""
  import jax  # local: io is also used by code that never touches JAX arrays
  return {k: float(v) for k, v in jax.device_get(metrics).items()}


def to_numpy(tree: Any) -> Any:
  """A pytree with every array leaf as a numpy array (what crosses processes and disks)."""
  import jax  # local: io is also used by code that never touches JAX arrays
  return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))


class CsvLog:
  """Appends rows with fixed columns to a CSV file, one flushed line per row."""

  def __init__(self, path: str, columns: Iterable[str]):
    self.path = path
    self.columns = list(columns)
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    if not new:  # a resumed run appends under the header already there
      with open(path, newline='', encoding='utf-8') as f:
        self.columns = next(csv.reader(f), self.columns)
    self._file = open(path, 'a', encoding='utf-8', newline='')
    if new:
      self._write_line(self.columns)

  def _write_line(self, values) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator='\n').writerow(values)
    self._file.write(buf.getvalue())
    self._file.flush()

  def write(self, row: dict[str, Any]) -> dict[str, float]:
    """Appends `row` (its values under the file's columns; a missing one is left empty).

    Returns:
      The row's numeric cells as written (floats rounded as in the file), by column: what
      other logs of the same row (TensorBoard) record, so that they cannot disagree.
    """
    cells = [_fmt(row.get(c, '')) for c in self.columns]
    self._write_line(cells)
    return {c: float(cell) for c, cell in zip(self.columns, cells, strict=True)
            if _is_number(row.get(c))}

  def close(self) -> None:
    if not self._file.closed:
      self._file.close()


TENSORBOARD_DIR = 'tensorboard'  # in the run directory


class TensorBoardLog:
  """Scalars written to a new TensorBoard event file in `run_dir/tensorboard`.

  Written with tensorboardX's `SummaryWriter` (imported here, so nothing of it is loaded when
  TensorBoard logging is off). Its background thread writes each event as it comes and
  flushes the file within a second (`flush_secs=1`); `close`, which every way out of a run
  reaches, writes what is left. The CSVs stay the run's record: a process killed outright may
  lose the last second of events, and those after the last checkpoint are written again by
  the resume. A resumed run opens a new file in the same folder; its `purge_step` (the
  checkpoint's step + 1) tells TensorBoard to drop the events of earlier files at that step
  or later, as the resume drops those CSV rows (they are written again).
  """

  def __init__(self, run_dir: str, purge_step: int | None = None):
    from tensorboardX import SummaryWriter
    # File names start with the second they were opened at; the nanoseconds after it keep
    # them unique and in the order TensorBoard must read them (by name) when a run resumes
    # within the second it started.
    self._writer = SummaryWriter(
        os.path.join(run_dir, TENSORBOARD_DIR), flush_secs=1,
        purge_step=None if purge_step is None else int(purge_step),
        filename_suffix=f'.{time.time_ns()}')

  def write(self, scalars: dict[str, float], step: int) -> None:
    """Writes `scalars` (tag -> value) at `step`, one event each."""
    wall_time = time.time()
    for tag, value in scalars.items():
      self._writer.add_scalar(tag, value, int(step), walltime=wall_time)

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None


def save_csv(path: str, rows: Iterable[dict[str, Any]],
             columns: Iterable[str] | None = None) -> None:
  """Writes a whole table atomically. Columns: every key of the rows, in the order they
  first appear (a row without one leaves its cell empty), unless given."""
  rows = list(rows)
  columns = (list(columns) if columns is not None else
             list(dict.fromkeys(k for row in rows for k in row)))
  buf = io.StringIO()
  writer = csv.writer(buf, lineterminator='\n')
  writer.writerow(columns)
  for row in rows:
    writer.writerow([_fmt(row.get(c, '')) for c in columns])
  atomic_write_bytes(path, buf.getvalue().encode())


def truncate_csv(path: str, max_value: float, column: str = 'env_steps') -> None:
  """Drops the rows of a run's CSV whose `column` (env_steps, or e.g. epoch) exceeds
  `max_value` (atomically); nothing if the file does not exist."""
  if not os.path.isfile(path):
    return
  with open(path, newline='', encoding='utf-8') as f:
    reader = csv.DictReader(f)
    columns = list(reader.fieldnames or [])
    rows = [r for r in reader if float(r.get(column) or 0) <= max_value]
  save_csv(path, rows, columns)


def _is_number(value: Any) -> bool:
  """An int or float (Python or numpy), not a bool: a cell TensorBoard can plot."""
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fmt(value: Any) -> Any:
  if isinstance(value, (float, np.floating)):
    return f'{float(value):.6g}'
  if isinstance(value, np.integer):
    return int(value)
  return value


def config_to_dict(config) -> dict[str, Any]:
  """A plain, JSON-able dict of a ConfigDict (tuples become lists)."""
  return json.loads(config.to_json_best_effort())
