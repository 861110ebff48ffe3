"""The lifecycle of the Ray instance a run or a sweep uses: start a local one, join a cluster,
and leave no process behind.

`start_local` starts a Ray instance bound to 127.0.0.1 with token authentication (a random
token of this process, kept in the environment, never written to disk), its session files
in a new /tmp/metarl-ray-* folder (or a given one), no dashboard UI, and a watchdog process
that kills whatever is left of the instance if this process is killed; `LocalInstance.stop`
ends it, Ray's leftover agents included. `join_cluster` connects to a running cluster (its
token from Ray's own RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH / ~/.ray/auth_token) and ships
this repository as the job's working directory. Processes are found and ended with psutil.
"""

import collections
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence

import psutil
from absl import logging

from launch.backends.base import ChildFailed
from launch.backends.ray_address import unauthenticated, unreachable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A clone of the repository (its main.py beside the packages), not an installed package:
# only a clone is shipped to a cluster; with an install, every node needs metarl installed.
IN_CLONE = os.path.isfile(os.path.join(ROOT, 'main.py'))
# Repository folders a cluster does not need (the job's working directory is uploaded).
_UPLOAD_EXCLUDES = ['.git', 'runs', 'benchmarks/results', '__pycache__', '*.pickle',
                    '.pytest_cache', '.ruff_cache']


_TOKEN: str | None = None


def _local_token() -> str:
  """This process's token for the local instances it starts: Ray reads the auth mode when
  it is imported and keeps the token it first loads, so one token serves every instance
  of the process. It stays in the environment (Ray's processes inherit it) and is never
  written to disk."""
  global _TOKEN
  if _TOKEN is None:
    _TOKEN = secrets.token_hex(32)
    os.environ['RAY_AUTH_MODE'] = 'token'
    os.environ['RAY_AUTH_TOKEN'] = _TOKEN
  return _TOKEN


def check_launch(launch) -> None:
  """Before a run starts: a `launch.ray_address` where no Ray head answers (ray.init would
  retry it for minutes), or another machine's without token authentication (unless
  `launch.ray_allow_unauthenticated`), is a ConfigError. Runs without children never
  connect."""
  from metarl.config_rules import ConfigError
  address = launch.ray_address
  if address and launch.num_workers + launch.num_evaluators:
    problem = unreachable(address)
    if problem:
      raise ConfigError('launch.ray_address', address,
                        f'{problem}; start the cluster first (docs/clusters.md)')
    problem = unauthenticated(address)
    if problem and not launch.ray_allow_unauthenticated:
      raise ConfigError('launch.ray_address', address, f'{problem}; set '
                        'launch.ray_allow_unauthenticated=True to join it anyway')


def _import_ray(local: bool):
  """Imports ray; for a local instance, with every node address on loopback."""
  if local:
    # Ray gives a single-machine instance a loopback address only with this switch off
    # (it is read at import, and by Ray's own processes from the environment).
    os.environ['RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER'] = '0'
  os.environ.setdefault('RAY_USAGE_STATS_ENABLED', '0')
  try:
    import ray
  except ImportError:
    raise ChildFailed("config.launch.backend='ray' needs Ray: pip install -r "
                      'requirements-ray.txt') from None
  if local:  # in case ray was imported before
    from ray._private import ray_constants
    ray_constants.ENABLE_RAY_CLUSTER = False
  return ray



def process_table() -> dict[int, tuple]:
  """pid -> (parent pid, session id, start time) of every live (not zombie) process."""
  table = {}
  for proc in psutil.process_iter(['ppid', 'status', 'create_time']):
    info = proc.info
    if info['status'] == psutil.STATUS_ZOMBIE or info['create_time'] is None:
      continue
    try:
      sid = os.getsid(proc.pid)
    except OSError:  # gone meanwhile
      continue
    table[proc.pid] = (info['ppid'], sid, info['create_time'])
  return table


def descendants(pid: int, table: dict[int, tuple] | None = None) -> dict[int, float]:
  """pid -> start time of every process below `pid` now (Ray's processes are children of
  the process that started the instance, its agents children of the raylet)."""
  table = process_table() if table is None else table
  children = collections.defaultdict(list)
  for child, (parent, _, _) in table.items():
    children[parent].append(child)
  found, todo = {}, list(children[pid])
  while todo:
    child = todo.pop()
    found[child] = table[child][2]
    todo.extend(children[child])
  return found


def alive(processes: dict[int, float]) -> dict[int, float]:
  """The (pid, start time) pairs that are still those processes (not reused pids)."""
  found = {}
  for pid, start in processes.items():
    try:
      proc = psutil.Process(pid)
      if proc.create_time() == start and proc.status() != psutil.STATUS_ZOMBIE:
        found[pid] = start
    except psutil.Error:  # gone
      continue
  return found


def kill_processes(processes: dict[int, float]) -> int:
  """SIGKILLs each (pid, start time) that is still that process; returns how many."""
  killed = 0
  for pid in alive(processes):
    try:
      psutil.Process(pid).kill()
      killed += 1
    except psutil.Error:
      pass
  return killed


def watch(manager_pid: int, temp_dir: str, remove: bool, spare: Sequence[int]) -> None:
  """The watchdog's loop: it keeps a list of the processes below the manager but `spare`
  (those that were there before the instance started: the Ray instance's are the others),
  and once the manager is gone kills whatever of them is left (Ray's agents outlive a
  killed raylet)."""
  spare = set(spare) | {os.getpid()}
  seen: dict[int, float] = {}
  while os.getppid() == manager_pid:
    seen.update((p, t) for p, t in descendants(manager_pid).items() if p not in spare)
    time.sleep(0.5)
  for _ in range(3):  # some may still be starting up
    kill_processes(seen)
    time.sleep(0.5)
  if remove:
    shutil.rmtree(temp_dir, ignore_errors=True)


def _start_watchdog(temp_dir: str, remove: bool, spare) -> subprocess.Popen:
  """The watchdog process, told which processes below this one are not the instance's
  (it may take a while to start: it must not mistake the instance's for them)."""
  code = ('import sys; from launch.backends.ray_instance import watch; '
          'watch(int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", '
          '[int(p) for p in sys.argv[4].split(",") if p])')
  return subprocess.Popen(
      [sys.executable, '-c', code, str(os.getpid()), temp_dir, '1' if remove else '0',
       ','.join(str(p) for p in spare)],
      cwd=ROOT, stdin=subprocess.DEVNULL, start_new_session=True)


class LocalInstance:
  """A Ray instance this process started on 127.0.0.1 (`start_local`); `stop` ends it."""

  def __init__(self, ray, temp_dir: str, remove_temp_dir: bool, num_cpus: int):
    self.ray = ray
    self.temp_dir = temp_dir
    self.num_cpus = num_cpus
    self._remove_temp_dir = remove_temp_dir
    self._saved_env: dict[str, str | None] = {}
    self._spare = set(descendants(os.getpid()))  # processes below us before Ray started
    self._watchdog: subprocess.Popen | None = None

  def set_env(self, key: str, value: str) -> None:
    """Sets an environment variable until `stop`."""
    self._saved_env.setdefault(key, os.environ.get(key))
    os.environ[key] = value

  @property
  def description(self) -> str:
    return (f'a local Ray instance on {self.ray.get_runtime_context().gcs_address} '
            f'({self.num_cpus} CPUs; session files in {self.temp_dir})')

  def stop(self) -> None:
    """ray.shutdown(), then kills what Ray leaves running of the instance (its agents) and
    the watchdog, removes the session folder if it was made for the instance and restores
    the environment; never raises."""
    watchdog = {self._watchdog.pid} if self._watchdog is not None else set()
    processes = {p: t for p, t in descendants(os.getpid()).items()
                 if p not in self._spare | watchdog}
    try:
      self.ray.shutdown()
    except Exception as e:
      logging.warning('ray: ray.shutdown: %s: %s', type(e).__name__, e)
    kill_processes(processes)  # Ray leaves a few of its agents running: stop them too
    if self._watchdog is not None:  # the instance is gone: the watchdog has nothing to do
      self._watchdog.kill()
      self._watchdog.wait()
      self._watchdog = None
    if self._remove_temp_dir:
      shutil.rmtree(self.temp_dir, ignore_errors=True)
    for key, value in self._saved_env.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value
    self._saved_env.clear()


def start_local(num_cpus: int, temp_dir: str = '', log_to_driver: bool = True,
                namespace: str = 'metarl') -> LocalInstance:
  """Starts a Ray instance on 127.0.0.1 with token authentication (this process's token,
  `_local_token`), session files in `temp_dir` (default: a new /tmp/metarl-ray-* folder,
  removed by `stop`), no dashboard UI, this repository on its workers' PYTHONPATH and a
  watchdog that kills the instance's processes if this process is killed."""
  _local_token()
  ray = _import_ray(local=True)
  if temp_dir:
    os.makedirs(temp_dir, exist_ok=True)
  instance = LocalInstance(ray, temp_dir or tempfile.mkdtemp(prefix='metarl-ray-', dir='/tmp'),
                           not temp_dir, num_cpus)
  pythonpath = os.environ.get('PYTHONPATH', '')
  instance.set_env('PYTHONPATH', ROOT + (os.pathsep + pythonpath if pythonpath else ''))
  try:
    instance._watchdog = _start_watchdog(instance.temp_dir, not temp_dir, instance._spare)
    with warnings.catch_warnings():  # Ray's process starts trip JAX's fork warning,
      warnings.filterwarnings('ignore', message='os.fork')  # though each one execs
      # address='local': a new instance even where RAY_ADDRESS names another one
      ray.init(address='local', num_cpus=num_cpus, include_dashboard=False,
               _temp_dir=instance.temp_dir, configure_logging=False,
               log_to_driver=log_to_driver, namespace=namespace)
  except BaseException:
    instance.stop()
    raise
  return instance


def join_cluster(address: str, excludes: Sequence[str] = (),
                 log_to_driver: bool = True):
  """Connects this process to the Ray cluster at `address`, shipping this repository
  (without _UPLOAD_EXCLUDES and `excludes`) as the job's working directory when it runs
  from a clone (an installed metarl must be installed on every node); returns ray.

  Raises:
    ConnectionError: no Ray head answers at the address (checked first: ray.init would
      retry it for many minutes).
  """
  problem = unreachable(address)
  if problem:
    raise ConnectionError(problem)
  ray = _import_ray(local=False)
  ray.init(address=address, configure_logging=False, log_to_driver=log_to_driver,
           namespace='metarl',
           runtime_env=({'working_dir': ROOT, 'excludes': _UPLOAD_EXCLUDES + list(excludes)}
                        if IN_CLONE else None))
  return ray


