"""Child targets that fail on purpose, for the reliability tests (imported by spawned
children by reference, so they live in a module rather than in a test function).

Each fails only in its first incarnation: the first one creates `config.fault_marker`
+ the child's name; a replacement finds it and runs normally.
"""

import os
import signal
import time

from launch import worker as worker_lib


class _FailAfter:
  """A ChildContext whose `send` fails after `n` messages (raises, or hangs)."""

  def __init__(self, ctx, config, n: int, how: str):
    self._ctx, self._config, self._left, self._how = ctx, config, n, how

  def __getattr__(self, name):
    return getattr(self._ctx, name)

  def send(self, message):
    if self._left == 0:
      if self._how == 'raise':
        raise RuntimeError('injected fault: the worker raises inside its loop')
      open(_hang_marker(self._config), 'w').close()
      time.sleep(3600)  # hung: alive, silent
    self._left -= 1
    return self._ctx.send(message)


def _first_incarnation(ctx, config) -> bool:
  marker = f'{config.fault_marker}-{ctx.child}'
  if os.path.exists(marker):
    return False
  open(marker, 'w').close()
  return True


def _hang_marker(config) -> str:
  return f'{config.fault_marker}-hanging'


def faulty_worker(ctx, config, worker_id: int) -> None:
  """Worker 0 raises after 3 gradients, worker 1 hangs after 3 (first incarnations). The
  replacement of worker 0 starts working only once worker 1 has hung for longer than
  launch.child_timeout_s, so that the manager meets the hang whatever the machine's speed
  (a fast replacement could otherwise finish the run before worker 1 is overdue)."""
  if worker_id < 2 and _first_incarnation(ctx, config):
    ctx = _FailAfter(ctx, config, 3, 'raise' if worker_id == 0 else 'hang')
  elif worker_id == 0:
    deadline = time.monotonic() + config.launch.startup_timeout_s
    while not os.path.exists(_hang_marker(config)) and time.monotonic() < deadline:
      time.sleep(0.05)
    time.sleep(2 * config.launch.child_timeout_s)
  worker_lib.run_worker(ctx, config, worker_id)


def always_raising_worker(ctx, config, worker_id: int) -> None:
  del ctx, config, worker_id
  raise RuntimeError('injected fault: this worker always fails')


def dies_while_reading_its_params(ctx, config, worker_id: int) -> None:
  """Takes its params queue's read lock and is SIGKILLed before it lets go, as a child
  killed in the middle of reading a params message is."""
  del config, worker_id
  ctx._params._rlock.acquire()
  os.kill(os.getpid(), signal.SIGKILL)
