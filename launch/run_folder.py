"""A run's folder: made exclusively, held by one process for the run's life, and resumed
only by the config it was started with.

- A new run's folder is new (a timestamped name is made with `os.mkdir`, retried under the
  next name) or the empty folder `config.run_dir` names.
- `RUN_LOCK` in the folder is locked (`fcntl.flock`) while the run goes on; a second process
  on the same folder, a resume of a run that is still going included, is refused in one
  line naming the holder's pid. The kernel drops the lock when the process ends, however it
  ends, so a killed run can be resumed at once.
- Nothing in the folder may be a symbolic link: logs, CSVs, checkpoints and the cleanup of
  temporary files would act on whatever the link points at.
- A resume compares the config it is given with the run's own (config.json, and the
  checkpoint's): only the fields in `MAY_CHANGE_ON_RESUME` may differ; config.json then
  records the config the run goes on with.
"""

import errno
import fcntl
import json
import os
from typing import Any

from metarl import checkpoint as checkpoint_lib
from metarl import io

RUN_LOCK = '.metarl.lock'

# Fields (or sections, ending in '.') a resumed run may change: its budget, cadences,
# checkpointing, logs and how it is launched; anything else would make another run.
MAY_CHANGE_ON_RESUME = (
    'total_env_steps', 'agent.epochs', 'log_every_env_steps', 'log_every_epochs',
    'eval.every_env_steps', 'eval.every_epochs', 'eval.analyze_at_end', 'checkpoint_every',
    'keep_checkpoints', 'checkpoint_replay', 'max_bad_updates', 'resume', 'run_dir', 'name',
    'launch.', 'log.')


class RunFolder:
  """A run folder this process holds (its lock); `release()` when the run ends."""

  def __init__(self, path: str, fd: int | None):
    self.path, self._fd = path, fd

  def release(self) -> None:
    if self._fd is not None:
      os.close(self._fd)  # closing the file drops the lock
      self._fd = None

  def __del__(self):
    self.release()


def _lock(run_dir: str) -> int | None:
  """Locks `run_dir/RUN_LOCK` (made 0600, never through a link) and writes this pid in it;
  None where the file system has no locks."""
  path = os.path.join(run_dir, RUN_LOCK)
  fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    holder = os.read(fd, 32).decode(errors='replace').strip() or 'unknown'
    os.close(fd)
    raise io.RunFileError(f'{run_dir}: another metarl process (pid {holder}) is writing this '
                          'run; two processes cannot share a run folder (a run can be '
                          'resumed once it has stopped)') from None
  except OSError as e:
    os.close(fd)
    if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP):
      raise
    return None
  os.ftruncate(fd, 0)
  os.write(fd, f'{os.getpid()}\n'.encode())
  return fd


def refuse_links(run_dir: str) -> None:
  """`io.RunFileError` if an entry of `run_dir`, or of its checkpoints or tensorboard
  folders, is a symbolic link (the folder itself may be reached through one)."""
  folders = [run_dir] + [os.path.join(run_dir, sub) for sub in
                         (checkpoint_lib.CHECKPOINT_DIR, io.TENSORBOARD_DIR)]
  for folder in folders:
    if not os.path.isdir(folder):
      continue
    for name in sorted(os.listdir(folder)):
      path = os.path.join(folder, name)
      if os.path.islink(path):
        raise io.RunFileError(f'{path} is a symbolic link: metarl writes, prunes and cleans '
                              'only files of the run folder itself; replace the link by the '
                              'file (or remove it)')


def _flat(tree: Any, prefix: str = '') -> dict[str, Any]:
  if not isinstance(tree, dict):
    return {prefix[:-1]: tree}
  flat = {}
  for key, value in tree.items():
    flat.update(_flat(value, f'{prefix}{key}.'))
  return flat


def _may_change(field: str) -> bool:
  return any(field == f or (f.endswith('.') and field.startswith(f))
             for f in MAY_CHANGE_ON_RESUME)


def check_same_run(started: dict[str, Any], agent: str, config, source: str) -> None:
  """Refuses (one `io.RunFileError` line naming the fields) a resume whose `config` differs
  from the one the run was `started` with in a field outside `MAY_CHANGE_ON_RESUME`. Fields
  the run's metarl did not have yet count as their defaults."""
  import ml_collections
  old = ml_collections.ConfigDict(started)
  checkpoint_lib.with_new_defaults(agent, old)
  old_flat = _flat(io.config_to_dict(old))
  new_flat = _flat(io.config_to_dict(config))
  changed = [f for f in sorted(set(old_flat) & set(new_flat))
             if old_flat[f] != new_flat[f] and not _may_change(f)]
  if changed:
    shown = ', '.join(f'{f} {old_flat[f]!r} -> {new_flat[f]!r}' for f in changed[:4])
    more = f' and {len(changed) - 4} more' if len(changed) > 4 else ''
    raise io.RunFileError(f'{source}: the run was started with another config ({shown}{more}); '
                          'a resume may change only the budget, cadences, checkpoints, logs '
                          'and launch fields: start a new run for the others')


def prepare_run_dir(config) -> RunFolder:
  """Creates and holds the run directory (a new timestamped one when `config.run_dir` is
  empty) and writes config.json into it; a resume checks the folder's own config.json first.

  Raises:
    io.RunFileError: the directory cannot be made or written, another process holds it,
      it holds links, a new run's folder is no longer empty, or a resume changes the run
      (one line each).
  """
  resume = config.resume
  folder = RunFolder(config.run_dir, None)  # nothing held until the lock is taken
  try:
    with config.unlocked():
      if not config.run_dir:
        config.run_dir = io.new_timestamped_dir('runs', config.name)
    os.makedirs(config.run_dir, exist_ok=True)
    refuse_links(config.run_dir)
    folder = RunFolder(config.run_dir, _lock(config.run_dir))
    path = os.path.join(config.run_dir, 'config.json')
    if not resume and set(os.listdir(config.run_dir)) - {RUN_LOCK}:
      raise io.RunFileError(f'config.run_dir = {config.run_dir!r}: another run wrote into it '
                            'after the config was checked; a run needs a folder of its own')
    if resume and os.path.isfile(path):
      with open(path, encoding='utf-8') as f:
        try:
          started = json.load(f)
        except ValueError as e:
          raise io.RunFileError(f'{path}: not readable JSON ({e})') from e
      check_same_run(started, config.agent.name, config, path)
    if not resume:  # a resume rewrites it once the checkpoint agrees too
      io.save_json(path, io.config_to_dict(config))
  except OSError as e:
    folder.release()
    raise io.RunFileError(f'config.run_dir = {config.run_dir!r}: the run directory cannot be '
                          f'written ({e.strerror or e})') from e
  except io.RunFileError:
    folder.release()
    raise
  return folder
