"""Multiprocessing backend: spawned children, a bounded inbox, latest-wins param queues.

The manager talks to its children through:
  publish(name, message): newest params for one child; an unread older message is dropped,
    so a slow child always gets the newest version (A3C semantics).
  receive(timeout): the next message any child sent (gradients, evaluations, errors).
  check_children(): raises `ChildFailed` for a child that died or reported an exception.
  shutdown(): stop event, join with a deadline, then terminate and kill; never hangs.

Children run `target(ctx, config, child_id)` with a `ChildContext`. They ignore SIGINT (the
manager owns Ctrl-C and stops them), stop when the stop event is set or the manager is gone
(so a killed manager leaves no orphans), and report any exception with its traceback.
Only "spawn" is used: JAX is not fork-safe.
"""

import multiprocessing as mp
import os
import queue
import signal
import sys
import time
import traceback
from typing import Any, Callable, Dict, Optional

from absl import logging

_POLL_S = 0.2


class ChildFailed(RuntimeError):
  """A worker or evaluator died or raised."""


class ChildContext:
  """A child's end of the backend."""

  def __init__(self, name: str, params_queue, inbox, stop_event, parent_pid: int):
    self.name = name
    self._params = params_queue
    self._inbox = inbox
    self._stop = stop_event
    self._parent_pid = parent_pid

  def should_stop(self) -> bool:
    return self._stop.is_set() or os.getppid() != self._parent_pid

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
    """Sends to the manager; False if the run stopped before there was room."""
    message = dict(message, source=self.name)
    while not self.should_stop():
      try:
        self._inbox.put(message, timeout=_POLL_S)
        return True
      except queue.Full:
        continue
    return False


def _child_main(target: Callable, name: str, config, child_id: int, params_queue, inbox,
                stop_event, parent_pid: int) -> None:
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  ctx = ChildContext(name, params_queue, inbox, stop_event, parent_pid)
  try:
    target(ctx, config, child_id)
  except BaseException:  # report everything, then exit non-zero
    try:
      inbox.put({'kind': 'error', 'source': name, 'traceback': traceback.format_exc()},
                timeout=5)
    finally:
      sys.stderr.flush()
      os._exit(1)


class MPBackend:
  """Spawned processes and queues for one run."""

  def __init__(self, config):
    self._ctx = mp.get_context('spawn')
    self._stop = self._ctx.Event()
    self._inbox = self._ctx.Queue(maxsize=max(8, 4 * (config.launch.num_workers + 1)))
    self._children: Dict[str, Any] = {}
    self._param_queues: Dict[str, Any] = {}
    self._last_check = time.monotonic()

  def start(self, name: str, target: Callable, config, child_id: int) -> None:
    params_queue = self._ctx.Queue(maxsize=1)
    proc = self._ctx.Process(
        target=_child_main, name=f'metarl-{name}', daemon=True,
        args=(target, name, config, child_id, params_queue, self._inbox, self._stop,
              os.getpid()))
    proc.start()
    logging.info('started %s (pid %d)', name, proc.pid)
    self._children[name] = proc
    self._param_queues[name] = params_queue

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
    try:
      message = self._inbox.get(timeout=timeout)
    except queue.Empty:
      self.check_children()
      return None
    if message.get('kind') == 'error':
      raise ChildFailed(f"{message['source']} raised:\n{message['traceback']}")
    return message

  def check_children(self) -> None:
    """Raises `ChildFailed` if a child is no longer running (it should run until stop)."""
    for name, proc in self._children.items():
      if not proc.is_alive():
        raise ChildFailed(f'{name} (pid {proc.pid}) died with exit code {proc.exitcode}')

  def shutdown(self, timeout: float = 10.0) -> None:
    """Stops every child; returns when none is left."""
    self._stop.set()
    deadline = time.monotonic() + timeout
    while (any(p.is_alive() for p in self._children.values())
           and time.monotonic() < deadline):
      self._drain_inbox()  # a child blocked flushing a message into a full inbox exits
      time.sleep(0.05)
    for proc in self._children.values():
      if proc.is_alive():
        proc.terminate()
        proc.join(2.0)
      if proc.is_alive():
        proc.kill()
        proc.join(2.0)
    for q in list(self._param_queues.values()) + [self._inbox]:
      q.cancel_join_thread()  # never block exit on undelivered messages
      q.close()
    self._children.clear()

  def _drain_inbox(self) -> None:
    while True:
      try:
        self._inbox.get_nowait()
      except (queue.Empty, OSError, ValueError):
        return
