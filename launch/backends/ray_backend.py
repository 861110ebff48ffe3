"""Ray backend: the same children as the multiprocessing backend, as Ray actors.

The manager sees the interface of `launch.backends.mp.MPBackend` (start, restart, publish,
receive, check_children, shutdown) and its children the interface of `ChildContext`
(should_stop, poll_params, wait_params, first_params, send), so the training code does not
know which backend runs it.

How it maps onto Ray:
  - Each child is one actor (`_ChildActor`, `launch.ray_cpus_per_child` CPUs) whose `run`
    method runs the child's loop in one of the actor's threads; its other threads take the
    manager's calls.
  - publish(name, message): the message (numpy params and their version) is put into the
    object store once per version and the child is handed the reference; the child keeps
    only the newest (latest wins, as in the multiprocessing backend).
  - The child's sends (gradients, trajectory chunks, evaluations: numpy) wait in its actor
    until the manager's long-poll `take` collects them; `receive` waits on every child's
    outstanding poll at once. A child's outbox holds at most `_OUTBOX` messages: a sender
    waits while it is full, as with a full pipe.
  - A child that dies (its actor's process is gone), raises (its `run` call fails with the
    traceback) or returns early raises `ChildFailed` with its name; the manager replaces it
    (`restart`) as it would a process.

Without `launch.ray_address` the backend starts a local Ray instance bound to 127.0.0.1
when the first child starts (a run without children never starts Ray), with token
authentication on (a random token of this process, kept in the environment, never written to
disk) and its session files in `launch.ray_temp_dir` (default: a new /tmp/metarl-ray-*
folder, deleted when the run ends). `shutdown` stops the actors and that instance; a
watchdog process kills whatever is left of the instance if the manager itself is killed.
With `launch.ray_address=HOST:PORT` it joins that cluster (the token comes from Ray's own
RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH / ~/.ray/auth_token) and ships this repository to it as
the job's working directory; only the run's actors are stopped at the end.
"""

import collections
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from typing import Any, Callable, Dict, Optional, Sequence

from absl import logging

from launch.backends.base import ChildFailed, component_modules, import_components
from launch.backends.mp import MPChildContext

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_OUTBOX = 8  # messages a child may have waiting for the manager
_TAKE_S = 0.5  # longest a `take` long-poll waits inside the actor
_STOP_S = 5.0  # how long shutdown waits for children to return before killing them
_CHECK_S = 0.2  # how often receive looks for children whose loop ended
# Repository folders a cluster does not need (the job's working directory is uploaded).
_UPLOAD_EXCLUDES = ['.git', 'runs', 'benchmarks/results', '__pycache__', '*.pickle',
                    '.pytest_cache', '.ruff_cache']


_TOKEN: Optional[str] = None


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


def unreachable(address: str) -> Optional[str]:
  """Why nothing answers at a HOST:PORT (or ray://HOST:PORT) address, or None if something
  does ('auto' is not checked): ray.init would retry such an address for many minutes."""
  host_port = re.fullmatch(r'(?:ray://)?([^\s/:]+):(\d+)', address)
  if host_port is None:
    return None
  try:
    socket.create_connection((host_port[1], int(host_port[2])), timeout=10).close()
  except OSError as e:
    return str(e)
  return None


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
                      'requirements-ray.txt')
  if local:  # in case ray was imported before
    from ray._private import ray_constants
    ray_constants.ENABLE_RAY_CLUSTER = False
  return ray


class RayChildContext(MPChildContext):
  """A child's end of the backend: `launch.backends.mp.MPChildContext`'s methods over the
  actor's state (`first_params` is inherited)."""

  def __init__(self, name: str, actor: '_ChildState'):  # no queues or pipes: no super()
    self.name = name
    self._state = actor

  def should_stop(self) -> bool:
    return self._state.stopped()

  def poll_params(self) -> Optional[Dict[str, Any]]:
    """The newest params message not yet read, or None (never blocks)."""
    return self._state.take_params(0.0)

  def wait_params(self, timeout: float) -> Optional[Dict[str, Any]]:
    """Waits up to `timeout` seconds for a params message; returns the newest, or None."""
    return self._state.take_params(timeout)

  def send(self, message: Dict[str, Any]) -> bool:
    """Queues a message for the manager (waiting while the outbox is full); False if the
    run stopped."""
    return self._state.put(dict(message, source=self.name, pid=os.getpid()))


class _ChildState:
  """What a child actor holds between the manager's calls and its own loop."""

  def __init__(self):
    self._lock = threading.Condition()
    self._params: Optional[Dict[str, Any]] = None
    self._params_seq = -1
    self._outbox = collections.deque()
    self._stop = False

  def stopped(self) -> bool:
    return self._stop

  def set_params(self, seq: int, message: Dict[str, Any]) -> None:
    with self._lock:
      if seq > self._params_seq:  # calls may arrive out of order: keep the newest
        self._params_seq, self._params = seq, message
        self._lock.notify_all()

  def take_params(self, timeout: float) -> Optional[Dict[str, Any]]:
    deadline = time.monotonic() + timeout
    with self._lock:
      while self._params is None and not self._stop:
        left = deadline - time.monotonic()
        if left <= 0:
          break
        self._lock.wait(left)
      message, self._params = self._params, None
      return message

  def put(self, message: Dict[str, Any]) -> bool:
    with self._lock:
      while len(self._outbox) >= _OUTBOX and not self._stop:
        self._lock.wait(0.5)
      if self._stop:
        return False
      self._outbox.append(message)
      self._lock.notify_all()
      return True

  def take(self, wait_s: float):
    deadline = time.monotonic() + wait_s
    with self._lock:
      while not self._outbox and not self._stop:
        left = deadline - time.monotonic()
        if left <= 0:
          break
        self._lock.wait(left)
      messages = list(self._outbox)
      self._outbox.clear()
      self._lock.notify_all()
      return messages

  def stop(self) -> None:
    with self._lock:
      self._stop = True
      self._lock.notify_all()


class _ChildActor:
  """One worker or evaluator (made a Ray actor class by `RayBackend`)."""

  def __init__(self, name: str):
    from metarl.compilation import enable_compilation_cache
    enable_compilation_cache()
    self._name = name
    self._state = _ChildState()

  def pid(self) -> int:
    return os.getpid()

  def run(self, target: Callable, config, child_id: int, components=()) -> None:
    """The child's loop; an exception comes back to the manager with its traceback."""
    try:
      import_components(list(components))  # a registered env or agent not built in
      target(RayChildContext(self._name, self._state), config, child_id)
    except BaseException:
      raise RuntimeError(f'{self._name} raised:\n{traceback.format_exc()}') from None

  def set_params(self, seq: int, message: Dict[str, Any]) -> None:
    self._state.set_params(seq, message)

  def take(self, wait_s: float):
    return self._state.take(wait_s)

  def stop(self) -> None:
    self._state.stop()


def process_table() -> Dict[int, tuple]:
  """pid -> (parent pid, session id, start time) of every live (not zombie) process."""
  table = {}
  for entry in os.listdir('/proc'):
    if not entry.isdigit():
      continue
    try:
      with open(f'/proc/{entry}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):  # gone meanwhile
      continue
    if fields[0] != 'Z':
      table[int(entry)] = (int(fields[1]), int(fields[3]), fields[19])
  return table


def descendants(pid: int, table: Optional[Dict[int, tuple]] = None) -> Dict[int, str]:
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


def alive(processes: Dict[int, str]) -> Dict[int, str]:
  """The (pid, start time) pairs that are still those processes (not reused pids)."""
  table = process_table()
  return {p: t for p, t in processes.items() if p in table and table[p][2] == t}


def kill_processes(processes: Dict[int, str]) -> int:
  """SIGKILLs each (pid, start time) that is still that process; returns how many."""
  killed = 0
  for pid in alive(processes):
    try:
      os.kill(pid, signal.SIGKILL)
      killed += 1
    except OSError:
      pass
  return killed


def watch(manager_pid: int, temp_dir: str, remove: bool) -> None:
  """The watchdog's loop: it keeps a list of the processes below the manager that started
  after it (the Ray instance's), and once the manager is gone kills whatever of them is
  left (Ray's agents outlive a killed raylet)."""
  spare = set(descendants(manager_pid)) | {os.getpid()}
  seen: Dict[int, str] = {}
  while os.getppid() == manager_pid:
    seen.update((p, t) for p, t in descendants(manager_pid).items() if p not in spare)
    time.sleep(0.5)
  for _ in range(3):  # some may still be starting up
    kill_processes(seen)
    time.sleep(0.5)
  if remove:
    shutil.rmtree(temp_dir, ignore_errors=True)


def _start_watchdog(temp_dir: str, remove: bool) -> subprocess.Popen:
  code = ('import sys; from launch.backends.ray_backend import watch; '
          'watch(int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1")')
  return subprocess.Popen(
      [sys.executable, '-c', code, str(os.getpid()), temp_dir, '1' if remove else '0'],
      cwd=ROOT, stdin=subprocess.DEVNULL, start_new_session=True)


class LocalInstance:
  """A Ray instance this process started on 127.0.0.1 (`start_local`); `stop` ends it."""

  def __init__(self, ray, temp_dir: str, remove_temp_dir: bool, num_cpus: int):
    self.ray = ray
    self.temp_dir = temp_dir
    self.num_cpus = num_cpus
    self._remove_temp_dir = remove_temp_dir
    self._saved_env: Dict[str, Optional[str]] = {}
    self._spare = set(descendants(os.getpid()))  # processes below us before Ray started
    self._watchdog: Optional[subprocess.Popen] = None

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
    instance._watchdog = _start_watchdog(instance.temp_dir, not temp_dir)
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
  (without _UPLOAD_EXCLUDES and `excludes`) as the job's working directory; returns ray.

  Raises:
    ConnectionError: nothing answers at the address (checked first: ray.init would retry
      it for many minutes).
  """
  problem = unreachable(address)
  if problem:
    raise ConnectionError(f'nothing answers there ({problem})')
  ray = _import_ray(local=False)
  ray.init(address=address, configure_logging=False, log_to_driver=log_to_driver,
           namespace='metarl',
           runtime_env={'working_dir': ROOT, 'excludes': _UPLOAD_EXCLUDES + list(excludes)})
  return ray


class RayBackend:
  """Ray actors for one run's workers and evaluator."""

  def __init__(self, config):
    self._launch = config.launch
    self._children_planned = config.launch.num_workers + config.launch.num_evaluators
    self._ray = None
    self._instance: Optional[LocalInstance] = None  # the local instance this backend started
    self._last_check = 0.0
    self._actor_class = None
    self._actors: Dict[str, Any] = {}
    self._runs: Dict[str, Any] = {}  # name -> the ref of its `run` call
    self._takes: Dict[str, Any] = {}  # name -> its outstanding `take` long-poll
    self._pids: Dict[str, int] = {}
    self._specs: Dict[str, Any] = {}
    self._pending: collections.deque = collections.deque()
    self._seq = 0
    self._published: Optional[tuple] = None  # (message, its sequence number, its ref)
    self.startup_s: Optional[float] = None

  # Connecting -------------------------------------------------------------------------

  def _connect(self) -> None:
    if self._ray is not None:
      return
    start = time.time()
    address = self._launch.get('ray_address', '')
    local = not address
    if local:
      cpus = max(os.cpu_count() or 1,
                 int(round(self._children_planned * self._cpus_per_child() + 0.49)))
      self._instance = start_local(cpus, self._launch.get('ray_temp_dir', ''))
      ray = self._instance.ray
      where = self._instance.description
    else:
      try:
        ray = join_cluster(address)
      except ConnectionError as e:
        raise ChildFailed(f'config.launch.ray_address = {address!r}: {e}; start the '
                          'cluster first (launch/README.md)')
      where = f'the Ray cluster at {address}'
    self._ray = ray
    self._actor_class = ray.remote(_ChildActor)
    self.startup_s = time.time() - start
    logging.info('ray backend: %s, connected in %.1fs', where, self.startup_s)

  def _cpus_per_child(self) -> float:
    return float(self._launch.get('ray_cpus_per_child', 1.0))

  # Children ---------------------------------------------------------------------------

  def start(self, name: str, target: Callable, config, child_id: int) -> None:
    self._connect()
    ray = self._ray
    self._specs[name] = (target, config, child_id)
    actor = self._actor_class.options(
        num_cpus=self._cpus_per_child(), max_concurrency=4, max_restarts=0,
        max_task_retries=0).remote(name)
    self._actors[name] = actor
    self._runs[name] = actor.run.remote(target, config, child_id, component_modules(config))
    self._takes[name] = actor.take.remote(_TAKE_S)
    try:
      self._pids[name] = ray.get(actor.pid.remote(),
                                 timeout=self._launch.startup_timeout_s)
    except Exception as e:  # never placed, or died at once
      raise ChildFailed(f'{name}: the Ray actor did not start ({type(e).__name__}: {e})',
                        name=name)
    logging.info('started %s (pid %d)', name, self._pids[name])

  def restart(self, name: str) -> None:
    """Replaces child `name` by a new actor (the old one is killed if it still runs)."""
    self._forget(name, kill=True)
    self.start(name, *self._specs[name])

  def _forget(self, name: str, kill: bool) -> None:
    actor = self._actors.pop(name, None)
    self._runs.pop(name, None)
    self._takes.pop(name, None)
    self._pids.pop(name, None)
    self._pending = collections.deque(m for m in self._pending if m.get('source') != name)
    if kill and actor is not None:
      try:
        self._ray.kill(actor, no_restart=True)
      except Exception:  # already gone
        pass

  def publish(self, name: str, message: Dict[str, Any]) -> None:
    if self._published is None or self._published[0] is not message:
      self._seq += 1  # one object-store copy per message, shared by every child
      self._published = (message, self._seq, self._ray.put(message))
    _, seq, ref = self._published
    self._actors[name].set_params.remote(seq, ref)

  def receive(self, timeout: float) -> Optional[Dict[str, Any]]:
    """The next message from any child, or None after `timeout` seconds.

    Raises:
      ChildFailed: a child died, raised or returned before the run stopped.
    """
    if self._pending:
      return self._pending.popleft()
    if not self._actors:
      time.sleep(timeout)
      return None
    now = time.monotonic()
    if now - self._last_check > _CHECK_S:
      self._last_check = now
      self.check_children()
    ready, _ = self._ray.wait(list(self._takes.values()), num_returns=1, timeout=timeout)
    if not ready:
      return None
    name = next(n for n, ref in self._takes.items() if ref == ready[0])
    try:
      messages = self._ray.get(ready[0])
    except Exception as e:
      self._raise_failure(name, e)
    self._takes[name] = self._actors[name].take.remote(_TAKE_S)
    self._pending.extend(messages)
    return self._pending.popleft() if self._pending else None

  def check_children(self) -> None:
    """Raises `ChildFailed` for a child whose `run` ended (it should run until stop)."""
    if not self._runs:
      return
    ready, _ = self._ray.wait(list(self._runs.values()), num_returns=len(self._runs),
                              timeout=0)
    for ref in ready:
      name = next(n for n, r in self._runs.items() if r == ref)
      try:
        self._ray.get(ref)
      except Exception as e:
        self._raise_failure(name, e)
      raise ChildFailed(f'{name} (pid {self._pids.get(name)}) returned before the run '
                        'stopped', name=name)

  def _raise_failure(self, name: str, error: Exception) -> None:
    pid = self._pids.get(name)
    cause = getattr(error, 'cause', None)
    if isinstance(error, self._ray.exceptions.RayTaskError) and cause is not None and (
        'raised:' in str(cause)):
      raise ChildFailed(f'{name} (pid {pid}) {str(cause).split(" ", 1)[1]}', name=name)
    if isinstance(error, self._ray.exceptions.RayActorError):
      raise ChildFailed(f'{name} (pid {pid}) died: its Ray actor is gone '
                        f'({str(error).splitlines()[0]})', name=name)
    raise ChildFailed(f'{name} (pid {pid}) failed: {type(error).__name__}: {error}',
                      name=name)

  # Stopping ---------------------------------------------------------------------------

  def shutdown(self, timeout: float = 10.0) -> None:
    """Stops every child, then the Ray instance this backend started; never hangs."""
    if self._ray is None:
      return
    ray = self._ray
    try:
      for actor in self._actors.values():
        actor.stop.remote()
      if self._runs:
        ray.wait(list(self._runs.values()), num_returns=len(self._runs),
                 timeout=min(timeout, _STOP_S))
      for name in list(self._actors):
        self._forget(name, kill=True)
    except Exception as e:  # Ray itself may be going down (Ctrl-C reaches its processes)
      logging.warning('ray backend: stopping the actors: %s: %s', type(e).__name__, e)
    self._actors.clear()
    self._ray = None
    if self._instance is not None:  # stops what Ray leaves running of it too
      self._instance.stop()
      self._instance = None
      return
    try:
      ray.shutdown()
    except Exception as e:
      logging.warning('ray backend: ray.shutdown: %s: %s', type(e).__name__, e)
