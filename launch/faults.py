"""Doing damage to runs on purpose: what the reliability tests and benchmarks/reliability.py
use to start `main.py` runs, find every process of a run, and kill its parts.

A run is started in a session of its own, so every process it spawned (workers, evaluator,
the multiprocessing helpers) can be found and counted, even after the manager is gone.
"""

import glob
import os
import re
import subprocess
import sys
import time
from typing import Callable, Dict, List, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(config_path: str, run_dir: str, overrides: Sequence[str] = ()) -> subprocess.Popen:
  """`python main.py --config=config_path --config.run_dir=run_dir *overrides` in a new
  session; its stderr goes to `run_dir + '.stderr'` (a pipe nobody reads could fill up and
  block the run)."""
  with open(run_dir + '.stderr', 'a') as err:
    return subprocess.Popen(
        [sys.executable, os.path.join(ROOT, 'main.py'), f'--config={config_path}',
         f'--config.run_dir={run_dir}', *overrides],
        stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, start_new_session=True)


def stderr_of(run_dir: str) -> str:
  with open(run_dir + '.stderr') as f:
    return f.read()


def session_processes(sid: int) -> List[int]:
  """Live (not zombie) processes of session `sid` (the pid of a process `start`ed)."""
  found = []
  for stat in glob.glob('/proc/[0-9]*/stat'):
    try:
      with open(stat) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):  # gone meanwhile
      continue
    if int(fields[3]) == sid and fields[0] != 'Z':
      found.append(int(stat.split('/')[2]))
  return found


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
  """Polls `predicate` until it holds; returns the seconds waited (AssertionError after
  `timeout`)."""
  start_time = time.time()
  while time.time() - start_time < timeout:
    if predicate():
      return time.time() - start_time
    time.sleep(0.1)
  raise AssertionError(f'timed out after {timeout}s waiting for {what}')


def log_text(run_dir: str) -> str:
  path = os.path.join(run_dir, 'log.txt')
  if not os.path.exists(path):
    return ''
  with open(path) as f:
    return f.read()


def children(run_dir: str) -> Dict[str, int]:
  """The newest pid of each child the run's log says it started."""
  return {name: int(pid) for name, pid in
          re.findall(r'started (\S+) \(pid (\d+)\)', log_text(run_dir))}


def restarts(run_dir: str) -> int:
  """How many children the run has replaced so far (from its log)."""
  return len(re.findall(r'\(restart \d+ of \d+\)', log_text(run_dir)))
