"""Multiprocessing backend: spawned children, one pipe from each child, latest-wins params.

The manager talks to its children through (`launch.backends.base.Backend`):
  publish(name, message): newest params for one child; an unread older message is dropped,
    so a slow child always gets the newest version (A3C semantics).
  receive(timeout): the next message any child sent (gradients, evaluations, errors).
  check_children(): raises `ChildFailed` for a child that died or reported an exception.
  restart(name): stops that child (if it still runs) and starts a new one in its place.
  shutdown(): stop flag, join with a deadline, then terminate and kill; never hangs.

Each child has its own pipe to the manager and its own params queue, and nothing the
children share holds a lock (the stop flag is a lock-free shared byte): a child killed in
the middle of a send can corrupt only its own channel, which its replacement does not
reuse. Children run `target(ctx, config, child_id)` with an `MPChildContext`. They ignore
SIGINT (the manager owns Ctrl-C and stops them), stop when the stop flag is set or the
manager is gone (so a killed manager leaves no orphans), and report any exception with its
traceback. Only "spawn" is used: JAX is not fork-safe.
"""

import multiprocessing as mp
import multiprocessing.connection
import os
import queue
import signal
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

from absl import logging

from launch.backends.base import ChildFailed, component_modules, import_components

_POLL_S = 0.2


class MPChildContext:
  """A child's end of the backend (`launch.backends.base.ChildContext`)."""

  def __init__(self, name: str, params_queue, outbox, stop_flag, parent_pid: int):
    self.name = name
    self._params = params_queue
    self._outbox = outbox
    self._stop = stop_flag
    self._parent_pid = parent_pid

  def should_stop(self) -> bool:
    return bool(self._stop.value) or os.getppid() != self._parent_pid

  def _drain(self, first: Optional[Any]) -> Optional[Any]:
    latest = first
    while True:
      try:
        latest = self._params.get_nowait()
      except queue.Empty:
        return latest

  def poll_params(self) -> Optional[Dict[str, Any]]:
    """The newest params message not yet read, or None (never blocks)."""
    return self._drain(None)

  def wait_params(self, timeout: float) -> Optional[Dict[str, Any]]:
    """Waits up to `timeout` seconds for a params message; returns the newest, or None."""
    try:
      first = self._params.get(timeout=timeout)
    except queue.Empty:
      return None
    return self._drain(first)

  def first_params(self, timeout: float) -> Optional[Dict[str, Any]]:
    """Waits (in `timeout` slices) for the first params message; None if the run stops
    first."""
    while not self.should_stop():
      message = self.wait_params(timeout)
      if message is not None:
        return message
    return None

  def send(self, message: Dict[str, Any]) -> bool:
    """Sends to the manager (waiting while the pipe is full); False if the run stopped."""
    if self.should_stop():
      return False
    try:
      self._outbox.send(dict(message, source=self.name, pid=os.getpid()))
      return True
    except (BrokenPipeError, EOFError, OSError):  # the manager is gone
      return False


def _child_main(target: Callable, name: str, config, child_id: int, params_queue, outbox,
                stop_flag, parent_pid: int, components: List[str]) -> None:
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  from metarl.compilation import enable_compilation_cache
  enable_compilation_cache()  # a child compiles what the run's earlier children compiled once
  ctx = MPChildContext(name, params_queue, outbox, stop_flag, parent_pid)
  try:
    import_components(components)  # a registered env or agent that is not built in
    target(ctx, config, child_id)
  except BaseException:  # report everything, then exit non-zero
    try:
      outbox.send({'kind': 'error', 'source': name, 'pid': os.getpid(),
                   'traceback': traceback.format_exc()})
    finally:
      sys.stderr.flush()
      os._exit(1)


class MPBackend:
  """Spawned processes, their pipes and params queues, for one run."""

  def __init__(self, config):
    del config
    self._ctx = mp.get_context('spawn')
    self._stop = self._ctx.RawValue('b', 0)
    self._children: Dict[str, Any] = {}
    self._inboxes: Dict[str, Any] = {}  # name -> the manager's end of the child's pipe
    self._param_queues: Dict[str, Any] = {}
    self._specs: Dict[str, Any] = {}
    self._turn = 0
    self._last_check = time.monotonic()

  def start(self, name: str, target: Callable, config, child_id: int) -> None:
    self._specs[name] = (target, config, child_id)
    params_queue = self._ctx.Queue(maxsize=1)
    inbox, outbox = self._ctx.Pipe(duplex=False)
    proc = self._ctx.Process(
        target=_child_main, name=f'metarl-{name}', daemon=True,
        args=(target, name, config, child_id, params_queue, outbox, self._stop,
              os.getpid(), component_modules(config)))
    proc.start()
    outbox.close()  # the child's end: once the child is gone, reads see end-of-file
    logging.info('started %s (pid %d)', name, proc.pid)
    self._children[name] = proc
    self._inboxes[name] = inbox
    self._param_queues[name] = params_queue

  def restart(self, name: str) -> None:
    """Replaces child `name` by a new process with new channels (the old one is killed if
    it still runs); the new one waits for its first params like the first did."""
    proc = self._children[name]
    if proc.is_alive():
      proc.kill()
      proc.join(5.0)
    self._close_channels(name)
    self.start(name, *self._specs[name])

  def _close_channels(self, name: str) -> None:
    self._inboxes.pop(name).close()
    old_queue = self._param_queues.pop(name)
    old_queue.cancel_join_thread()  # never block on undelivered messages
    old_queue.close()

  def publish(self, name: str, message: Dict[str, Any]) -> None:
    q = self._param_queues[name]
    while True:
      try:
        q.put_nowait(message)
        return
      except queue.Full:
        try:  # replace the unread older message
          q.get_nowait()
        except queue.Empty:
          time.sleep(0.001)

  def receive(self, timeout: float) -> Optional[Dict[str, Any]]:
    """The next message from any child, or None after `timeout` seconds.

    Raises:
      ChildFailed: the message was a child's error report, or a child died.
    """
    now = time.monotonic()
    if now - self._last_check > _POLL_S:  # even while messages keep coming
      self._last_check = now
      self.check_children()
    ready = multiprocessing.connection.wait(list(self._inboxes.values()), timeout)
    if not ready:
      self.check_children()
      return None
    names = [n for n, c in self._inboxes.items() if c in ready]
    self._turn += 1
    name = names[self._turn % len(names)]  # children take turns
    try:
      message = self._inboxes[name].recv()
    except Exception as e:  # end of file or a message cut short: the child is gone
      proc = self._children[name]
      proc.join(1.0)
      raise ChildFailed(f'{name} (pid {proc.pid}) died with exit code {proc.exitcode} '
                        f'({type(e).__name__} on its pipe)', name=name)
    if message.get('kind') == 'error':
      proc = self._children[name]
      if proc.pid != message.get('pid'):  # an incarnation already replaced
        logging.warning('%s (pid %s), already replaced, had raised:\n%s', name,
                        message.get('pid'), message['traceback'])
        return None
      raise ChildFailed(f"{name} (pid {proc.pid}) raised:\n{message['traceback']}",
                        name=name)
    return message

  def check_children(self) -> None:
    """Raises `ChildFailed` if a child is no longer running (it should run until stop)."""
    for name, proc in self._children.items():
      if not proc.is_alive():
        report = self._last_error(name)
        if report is not None:
          raise ChildFailed(f'{name} (pid {proc.pid}) raised:\n{report}', name=name)
        raise ChildFailed(f'{name} (pid {proc.pid}) died with exit code {proc.exitcode}',
                          name=name)

  def _last_error(self, name: str) -> Optional[str]:
    """The traceback a dead child sent before it exited, if it is still in its pipe."""
    inbox = self._inboxes[name]
    try:
      while inbox.poll():
        message = inbox.recv()
        if message.get('kind') == 'error':
          return message['traceback']
    except Exception:  # cut short by the death
      pass
    return None

  def shutdown(self, timeout: float = 10.0) -> None:
    """Stops every child; returns when none is left."""
    self._stop.value = 1
    deadline = time.monotonic() + timeout
    while (any(p.is_alive() for p in self._children.values())
           and time.monotonic() < deadline):
      self._drain_inboxes()  # a child blocked sending a message gets to see the stop flag
      time.sleep(0.05)
    for proc in self._children.values():
      if proc.is_alive():
        proc.terminate()
        proc.join(2.0)
      if proc.is_alive():
        proc.kill()
        proc.join(2.0)
    for name in list(self._inboxes):
      self._close_channels(name)
    self._children.clear()

  def _drain_inboxes(self) -> None:
    for inbox in list(self._inboxes.values()):
      try:
        while inbox.poll():
          inbox.recv()
      except Exception:  # a dead child's pipe: nothing more to read
        continue
