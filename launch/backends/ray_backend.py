"""Ray backend: the same children as the multiprocessing backend, as Ray actors.

The manager sees the interface of `launch.backends.mp.MPBackend` (start, restart, publish,
receive, check_children, shutdown) and its children the interface of `ChildContext`
(should_stop, poll_params, wait_params, first_params, send), so the training code does not
know which backend runs it.

How it maps onto Ray:
  - Each child is one actor (`_ChildActor`, `launch.ray_cpus_per_child` CPUs) whose `run`
    method runs the child's loop in one of the actor's threads; its other threads take the
    manager's calls. Actors are placed with Ray's SPREAD strategy: on a cluster the
    children go to different nodes (the log names each child's node). A child that could
    not be reached (its node lost, as far as the manager can tell) marks its node suspect,
    and replacements avoid suspect nodes while another node is alive (Ray takes ~10 s to
    declare a lost node dead and would otherwise place a replacement there first).
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
when the first child starts (a run without children never starts Ray), its session files
in `launch.ray_temp_dir` (default: a new /tmp/metarl-ray-* folder, deleted when the run
ends); `shutdown` stops the actors and that instance. With `launch.ray_address=HOST:PORT`
it joins that cluster and ships this repository to it as the job's working directory; only
the run's actors are stopped at the end. Starting, joining and ending instances (token,
watchdog, leftover processes) is `launch.backends.ray_instance`; this module is the
transport only.
"""

import collections
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from absl import logging

from launch.backends.base import (
  ChildFailed,
  ChildId,
  Params,
  Received,
  component_modules,
  import_components,
)
from launch.backends.mp import MPChildContext
from launch.backends.ray_instance import LocalInstance, join_cluster, start_local

_OUTBOX = 8  # messages a child may have waiting for the manager
_TAKE_S = 0.5  # longest a `take` long-poll waits inside the actor
_STOP_S = 5.0  # how long shutdown waits for children to return before killing them
_CHECK_S = 0.2  # how often receive looks for children whose loop ended


class RayChildContext(MPChildContext):
  """A child's end of the backend: `launch.backends.mp.MPChildContext`'s methods over the
  actor's state (`first_params` is inherited)."""

  def __init__(self, child: ChildId, actor: '_ChildState'):  # no queues or pipes: no super()
    self.child = child
    self._state = actor

  def should_stop(self) -> bool:
    return self._state.stopped()

  def poll_params(self) -> Params | None:
    """The newest params message not yet read, or None (never blocks)."""
    return self._state.take_params(0.0)

  def wait_params(self, timeout: float) -> Params | None:
    """Waits up to `timeout` seconds for a params message; returns the newest, or None."""
    return self._state.take_params(timeout)

  def send(self, message: Any) -> bool:
    """Queues a message for the manager (waiting while the outbox is full); False if the
    run stopped."""
    return self._state.put(Received(self.child, os.getpid(), message))


class _ChildState:
  """What a child actor holds between the manager's calls and its own loop."""

  def __init__(self):
    self._lock = threading.Condition()
    self._params: Params | None = None
    self._params_seq = -1
    self._outbox = collections.deque()
    self._stop = False

  def stopped(self) -> bool:
    return self._stop

  def set_params(self, seq: int, message: Params) -> None:
    with self._lock:
      if seq > self._params_seq:  # calls may arrive out of order: keep the newest
        self._params_seq, self._params = seq, message
        self._lock.notify_all()

  def take_params(self, timeout: float) -> Params | None:
    deadline = time.monotonic() + timeout
    with self._lock:
      while self._params is None and not self._stop:
        left = deadline - time.monotonic()
        if left <= 0:
          break
        self._lock.wait(left)
      message, self._params = self._params, None
      return message

  def put(self, message: Received) -> bool:
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

  def __init__(self, child: ChildId, omp_threads: str | None):
    # Ray sets OMP_NUM_THREADS to the actor's CPUs (1), which slows XLA's CPU code here;
    # the child gets the manager's setting, as a spawned process does (JAX is not started)
    if omp_threads is None:
      os.environ.pop('OMP_NUM_THREADS', None)
    else:
      os.environ['OMP_NUM_THREADS'] = omp_threads
    from metarl.xla_setup import enable_compilation_cache
    enable_compilation_cache()
    self._child = child
    self._state = _ChildState()

  def where(self):
    """(its process id, the id of the Ray node it runs on)."""
    import ray
    return os.getpid(), ray.get_runtime_context().get_node_id()

  def run(self, target: Callable, config, components=()) -> None:
    """The child's loop; an exception comes back to the manager with its traceback."""
    try:
      import_components(list(components))  # a registered env or agent not built in
      target(RayChildContext(self._child, self._state), config, self._child.index)
    except BaseException:
      raise RuntimeError(f'{self._child} raised:\n{traceback.format_exc()}') from None

  def set_params(self, seq: int, message: Params) -> None:
    self._state.set_params(seq, message)

  def take(self, wait_s: float):
    return self._state.take(wait_s)

  def stop(self) -> None:
    self._state.stop()


class RayBackend:
  """Ray actors for one run's workers and evaluator."""

  def __init__(self, launch):
    """`launch`: the run's launch settings (address, CPUs per child, the children
    planned)."""
    self._launch = launch
    self._children_planned = launch.num_workers + launch.num_evaluators
    self._ray = None
    self._instance: LocalInstance | None = None  # the local instance this backend started
    self._last_check = 0.0
    self._actor_class = None
    self._actors: dict[ChildId, Any] = {}
    self._runs: dict[ChildId, Any] = {}  # child -> the ref of its `run` call
    self._takes: dict[ChildId, Any] = {}  # child -> its outstanding `take` long-poll
    self._pids: dict[ChildId, int] = {}
    self.nodes: dict[ChildId, str] = {}  # child -> the id of the Ray node it runs on
    self._suspect: set = set()  # nodes whose children could not be reached
    self._specs: dict[ChildId, Any] = {}
    self._pending: collections.deque = collections.deque()
    self._seq = 0
    self._published: tuple | None = None  # (message, its sequence number, its ref)
    self.startup_s: float | None = None

  # Connecting -------------------------------------------------------------------------

  def _connect(self) -> None:
    if self._ray is not None:
      return
    start = time.time()
    address = self._launch.ray_address
    local = not address
    if local:
      cpus = max(os.cpu_count() or 1,
                 int(round(self._children_planned * self._cpus_per_child() + 0.49)))
      self._instance = start_local(cpus, self._launch.ray_temp_dir)
      ray = self._instance.ray
      where = self._instance.description
    else:
      try:
        ray = join_cluster(address)
      except ConnectionError as e:
        raise ChildFailed(f'config.launch.ray_address = {address!r}: {e}; start the '
                          'cluster first (docs/clusters.md)') from e
      where = (f'the Ray cluster at {address} (this process on Ray node '
               f'{ray.get_runtime_context().get_node_id()})')
    self._ray = ray
    self._actor_class = ray.remote(_ChildActor)
    self.startup_s = time.time() - start
    logging.info('ray backend: %s, connected in %.1fs', where, self.startup_s)

  def _cpus_per_child(self) -> float:
    return float(self._launch.ray_cpus_per_child)

  # Children ---------------------------------------------------------------------------

  def start(self, child: ChildId, target: Callable, config) -> None:
    self._connect()
    ray = self._ray
    self._specs[child] = (target, config)
    actor = self._actor_class.options(
        num_cpus=self._cpus_per_child(), max_concurrency=4, max_restarts=0,
        max_task_retries=0, scheduling_strategy='SPREAD', **self._avoid_suspects()).remote(
            child, os.environ.get('OMP_NUM_THREADS'))
    self._actors[child] = actor
    self._runs[child] = actor.run.remote(target, config, component_modules(config))
    self._takes[child] = actor.take.remote(_TAKE_S)
    try:
      self._pids[child], self.nodes[child] = ray.get(
          actor.where.remote(), timeout=self._launch.startup_timeout_s)
    except Exception as e:  # never placed, or died at once
      raise ChildFailed(f'{child}: the Ray actor did not start ({type(e).__name__}: {e})',
                        child=child) from e
    logging.info('started %s (pid %d) on Ray node %s', child, self._pids[child],
                 self.nodes[child])

  def _avoid_suspects(self) -> dict[str, Any]:
    """Actor options that keep a new actor off the suspect nodes, if another is alive."""
    if not self._suspect:
      return {}
    alive = {n['NodeID'] for n in self._ray.nodes() if n['Alive']}
    if not alive - self._suspect:
      return {}
    return dict(label_selector={'ray.io/node-id': f'!in({",".join(sorted(self._suspect))})'})

  def restart(self, child: ChildId) -> None:
    """Replaces `child` by a new actor (the old one is killed if it still runs)."""
    self._forget(child, kill=True)
    self.start(child, *self._specs[child])

  def _forget(self, child: ChildId, kill: bool) -> None:
    actor = self._actors.pop(child, None)
    self._runs.pop(child, None)
    self._takes.pop(child, None)
    self._pids.pop(child, None)
    self._pending = collections.deque(m for m in self._pending if m.child != child)
    if kill and actor is not None:
      try:
        self._ray.kill(actor, no_restart=True)
      except Exception:  # already gone
        pass

  def publish(self, child: ChildId, message: Params) -> None:
    if self._published is None or self._published[0] is not message:
      self._seq += 1  # one object-store copy per message, shared by every child
      self._published = (message, self._seq, self._ray.put(message))
    _, seq, ref = self._published
    self._actors[child].set_params.remote(seq, ref)

  def receive(self, timeout: float) -> Received | None:
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
    child = next(c for c, ref in self._takes.items() if ref == ready[0])
    try:
      messages = self._ray.get(ready[0])
    except Exception as e:
      self._raise_failure(child, e)
    self._takes[child] = self._actors[child].take.remote(_TAKE_S)
    self._pending.extend(messages)
    return self._pending.popleft() if self._pending else None

  def check_children(self) -> None:
    """Raises `ChildFailed` for a child whose `run` ended (it should run until stop)."""
    if not self._runs:
      return
    ready, _ = self._ray.wait(list(self._runs.values()), num_returns=len(self._runs),
                              timeout=0)
    for ref in ready:
      child = next(c for c, r in self._runs.items() if r == ref)
      try:
        self._ray.get(ref)
      except Exception as e:
        self._raise_failure(child, e)
      raise ChildFailed(f'{child} (pid {self._pids.get(child)}) returned before the run '
                        'stopped', child=child)

  def _raise_failure(self, child: ChildId, error: Exception) -> None:
    pid = self._pids.get(child)
    cause = getattr(error, 'cause', None)
    if isinstance(error, self._ray.exceptions.RayTaskError) and cause is not None and (
        'raised:' in str(cause)):
      raise ChildFailed(f'{child} (pid {pid}) {str(cause).split(" ", 1)[1]}', child=child)
    if isinstance(error, self._ray.exceptions.RayActorError):
      if child in self.nodes and (
          isinstance(error, self._ray.exceptions.ActorUnavailableError) or
          'node has died' in str(error)):
        self._suspect.add(self.nodes[child])
      raise ChildFailed(f'{child} (pid {pid}) died: its Ray actor is gone '
                        f'({str(error).splitlines()[0]})', child=child)
    raise ChildFailed(f'{child} (pid {pid}) failed: {type(error).__name__}: {error}',
                      child=child)

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
      for child in list(self._actors):
        self._forget(child, kill=True)
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
