"""How a run stops early: Ctrl-C and SIGTERM deferred to the loop's next boundary, and the
error a run that keeps failing its updates stops with."""

import contextlib
import signal
import threading


class TrainingDiverged(RuntimeError):
  """`config.max_bad_updates` updates in a row had a NaN or Inf in their loss or gradient."""


def diverged_message(run_dir: str, streak: int, env_steps: int,
                     good_checkpoint: str | None) -> str:
  """The message a run stops with when its updates keep being skipped."""
  where = (f'the last checkpoint written before it is {good_checkpoint}' if good_checkpoint
           else 'no checkpoint was written before it')
  return (f'{streak} updates in a row had a NaN or Inf in their loss or gradient and were '
          f'skipped (config.max_bad_updates); the run stopped at {env_steps} env steps in '
          f'{run_dir}; {where}')


class StopRequest:
  requested = False


@contextlib.contextmanager
def deferred_interrupts():
  """Within the block, SIGINT and SIGTERM only set `.requested` on the yielded object (the
  loop stops at its next boundary); outside the main thread nothing changes."""
  stop = StopRequest()
  if threading.current_thread() is not threading.main_thread():
    yield stop
    return

  def request(signum, frame):
    del signum, frame
    stop.requested = True

  previous = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield stop
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)
