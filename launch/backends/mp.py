"""Multiprocessing backend: spawned children, one pipe from each child, latest-wins params.

The manager talks to its children through (`launch.backends.base.Backend`):
  publish(child, message): newest params for one child; an unread older message is dropped,
    so a slow child always gets the newest version (A3C semantics).
  receive(timeout): the next message any child sent (gradients, evaluations, errors).
  check_children(): raises `ChildFailed` for a child that died or reported an exception.
  restart(child): stops that child (if it still runs) and starts a new one in its place.
  shutdown(): stop flag, join with a deadline, then terminate and kill; never hangs.

Each child has its own pipe to the manager and its own params queue, and nothing the
children share holds a lock (the stop flag is a lock-free shared byte): a child killed in
the middle of a send can corrupt only its own channel, which its replacement does not
reuse. Children run `target(ctx, config, child.index)` with an `MPChildContext`. They ignore
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
from collections.abc import Callable
from typing import Any

from absl import logging

from launch.backends.base import (
  ChildFailed,
  ChildId,
  Failure,
  Params,
  Received,
  component_modules,
  import_components,
)

_POLL_S = 0.2
_PUBLISH_S = 1.0  # how long publish waits for a queue a child is reading


class MPChildContext:
  """A child's end of the backend (`launch.backends.base.ChildContext`)."""

  def __init__(self, child: ChildId, params_queue, outbox, stop_flag, parent_pid: int):
    self.child = child
    self._params = params_queue
    self._outbox = outbox
    self._stop = stop_flag
    self._parent_pid = parent_pid

  def should_stop(self) -> bool:
    return bool(self._stop.value) or os.getppid() != self._parent_pid

  def _drain(self, first: Params | None) -> Params | None:
    latest = first
    while True:
      try:
        latest = self._params.get_nowait()
      except queue.Empty:
        return latest

  def poll_params(self) -> Params | None:
    """The newest params message not yet read, or None (never blocks)."""
    return self._drain(None)

  def wait_params(self, timeout: float) -> Params | None:
    """Waits up to `timeout` seconds for a params message; returns the newest, or None."""
    try:
      first = self._params.get(timeout=timeout)
    except queue.Empty:
      return None
    return self._drain(first)

  def first_params(self, timeout: float) -> Params | None:
    """Waits (in `timeout` slices) for the first params message; None if the run stops
    first."""
    while not self.should_stop():
      message = self.wait_params(timeout)
      if message is not None:
        return message
    return None

  def send(self, message: Any) -> bool:
    """Sends to the manager (waiting while the pipe is full); False if the run stopped."""
    if self.should_stop():
      return False
    try:
      self._outbox.send(Received(self.child, os.getpid(), message))
      return True
    except (BrokenPipeError, EOFError, OSError):  # the manager is gone
      return False


def _child_main(target: Callable, child: ChildId, config, params_queue, outbox, stop_flag,
                parent_pid: int, components: list[str]) -> None:
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  from metarl.xla_setup import enable_compilation_cache
  enable_compilation_cache()  # a child compiles what the run's earlier children compiled once
  ctx = MPChildContext(child, params_queue, outbox, stop_flag, parent_pid)
  try:
    import_components(components)  # a registered env or agent that is not built in
    target(ctx, config, child.index)
  except BaseException:  # report everything, then exit non-zero
    try:
      outbox.send(Received(child, os.getpid(), Failure(traceback.format_exc())))
    finally:
      sys.stderr.flush()
      os._exit(1)


class MPBackend:
  """Spawned processes, their pipes and params queues, for one run."""

  def __init__(self, launch):
    del launch  # nothing of it concerns processes on this machine
    self._ctx = mp.get_context('spawn')
    self._stop = self._ctx.RawValue('b', 0)
    self._children: dict[ChildId, Any] = {}
    self._inboxes: dict[ChildId, Any] = {}  # the manager's end of each child's pipe
    self._param_queues: dict[ChildId, Any] = {}
    self._specs: dict[ChildId, Any] = {}
    self._turn = 0
    self._last_check = time.monotonic()

  def start(self, child: ChildId, target: Callable, config) -> None:
    self._specs[child] = (target, config)
    params_queue = self._ctx.Queue(maxsize=1)
    inbox, outbox = self._ctx.Pipe(duplex=False)
    proc = self._ctx.Process(
        target=_child_main, name=f'metarl-{child}', daemon=True,
        args=(target, child, config, params_queue, outbox, self._stop, os.getpid(),
              component_modules(config)))
    proc.start()
    outbox.close()  # the child's end: once the child is gone, reads see end-of-file
    logging.info('started %s (pid %d)', child, proc.pid)
    self._children[child] = proc
    self._inboxes[child] = inbox
    self._param_queues[child] = params_queue

  def restart(self, child: ChildId) -> None:
    """Replaces `child` by a new process with new channels (the old one is killed if it
    still runs); the new one waits for its first params like the first did."""
    proc = self._children[child]
    if proc.is_alive():
      proc.kill()
      proc.join(5.0)
    self._close_channels(child)
    self.start(child, *self._specs[child])

  def _close_channels(self, child: ChildId) -> None:
    self._inboxes.pop(child).close()
    old_queue = self._param_queues.pop(child)
    old_queue.cancel_join_thread()  # never block on undelivered messages
    old_queue.close()

  def publish(self, child: ChildId, message: Params) -> None:
    """Hands `child` the message, replacing one it has not read yet.

    A child killed while it read its queue leaves the queue's lock taken for good (and the
    queue full): the message is then dropped instead of waiting forever, and the child's
    death (or, for a live child stuck like that, its silence past launch.child_timeout_s)
    replaces it, with a new queue.
    """
    q = self._param_queues[child]
    deadline = time.monotonic() + _PUBLISH_S
    while True:
      try:
        q.put_nowait(message)
        return
      except queue.Full:
        try:  # replace the unread older message
          q.get_nowait()
        except queue.Empty:  # the child is reading it now, or died while reading
          if not self._children[child].is_alive() or time.monotonic() > deadline:
            logging.warning('%s: params version %d not delivered (its params queue is '
                            'stuck)', child, message.version)
            return
          time.sleep(0.001)

  def receive(self, timeout: float) -> Received | None:
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
    children = [n for n, c in self._inboxes.items() if c in ready]
    self._turn += 1
    child = children[self._turn % len(children)]  # children take turns
    try:
      received = self._inboxes[child].recv()
    except Exception as e:  # end of file or a message cut short: the child is gone
      proc = self._children[child]
      proc.join(1.0)
      raise ChildFailed(f'{child} (pid {proc.pid}) died with exit code {proc.exitcode} '
                        f'({type(e).__name__} on its pipe)', child=child) from e
    if isinstance(received.message, Failure):
      proc = self._children[child]
      if proc.pid != received.pid:  # an incarnation already replaced
        logging.warning('%s (pid %s), already replaced, had raised:\n%s', child,
                        received.pid, received.message.traceback)
        return None
      raise ChildFailed(f'{child} (pid {proc.pid}) raised:\n{received.message.traceback}',
                        child=child)
    return received

  def check_children(self) -> None:
    """Raises `ChildFailed` if a child is no longer running (it should run until stop)."""
    for child, proc in self._children.items():
      if not proc.is_alive():
        report = self._last_error(child)
        if report is not None:
          raise ChildFailed(f'{child} (pid {proc.pid}) raised:\n{report}', child=child)
        raise ChildFailed(f'{child} (pid {proc.pid}) died with exit code {proc.exitcode}',
                          child=child)

  def _last_error(self, child: ChildId) -> str | None:
    """The traceback a dead child sent before it exited, if it is still in its pipe."""
    inbox = self._inboxes[child]
    try:
      while inbox.poll():
        received = inbox.recv()
        if isinstance(received.message, Failure):
          return received.message.traceback
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
    for child in list(self._inboxes):
      self._close_channels(child)
    self._children.clear()

  def _drain_inboxes(self) -> None:
    for inbox in list(self._inboxes.values()):
      try:
        while inbox.poll():
          inbox.recv()
      except Exception:  # a dead child's pipe: nothing more to read
        continue
