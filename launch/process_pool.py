"""Runs of main.py in subprocesses, a few at a time: what a sweep (`launch/sweep.py`) and the
results page (`benchmarks/report.py`) both do with their runs. On Ctrl-C or an error every
run still going is stopped as Ctrl-C stops main.py (`interrupt_runs`)."""

import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any


def interrupt_runs(procs: Sequence[subprocess.Popen], timeout_s: float) -> None:
  """Stops main.py runs as Ctrl-C does (each saves its params, then exits): SIGINT to every
  one still running, then up to `timeout_s` for each to exit; one still running is killed."""
  for proc in procs:
    if proc.poll() is None:
      proc.send_signal(signal.SIGINT)
  for proc in procs:
    try:
      proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
      proc.kill()
      proc.wait()


def run_pool(items: Sequence[Any], parallel: int,
             start: Callable[[Any], subprocess.Popen],
             finished: Callable[[Any, int, float], None],
             ready: Callable[[Any], bool | None] = lambda item: True,
             stop_timeout_s: float = 30.0, poll_s: float = 0.5) -> None:
  """Starts `start(item)` for the items in order, at most `parallel` running at once, and
  calls `finished(item, exit code, wall seconds)` as each ends.

  `ready(item)` says whether an item may start now (True), must wait for others (False), or
  is dropped (None: the caller has settled it, e.g. a run whose input failed). Ctrl-C or an
  error stops the runs still going (`interrupt_runs`, up to `stop_timeout_s` each) and
  raises on.
  """
  pending = list(items)
  running: dict[subprocess.Popen, tuple[Any, float]] = {}
  try:
    while pending or running:
      moved = False
      for item in list(pending):
        if len(running) >= parallel:
          break
        go = ready(item)
        if go is False:
          continue
        pending.remove(item)
        moved = True
        if go:
          running[start(item)] = (item, time.time())
      if pending and not running and not moved:
        raise RuntimeError(f'{len(pending)} runs wait for runs that will never finish')
      time.sleep(poll_s)
      for proc in [p for p in running if p.poll() is not None]:
        item, began = running.pop(proc)
        finished(item, proc.returncode, time.time() - began)
  finally:
    interrupt_runs(list(running), timeout_s=stop_timeout_s)
