"""Doing damage to runs on purpose: what the reliability tests and benchmarks/reliability.py
use to start `main.py` runs, find every process of a run, and kill its parts.

A run is started in a session of its own, so every process it spawned (workers, evaluator,
the multiprocessing helpers) can be found and counted, even after the manager is gone.
"""

import contextlib
import glob
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


def session_processes(sid: int) -> list[int]:
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


def children(run_dir: str) -> dict[str, int]:
  """The newest pid of each child the run's log says it started."""
  return {name: int(pid) for name, pid in
          re.findall(r'started (\S+) \(pid (\d+)\)', log_text(run_dir))}


def child_nodes(run_dir: str) -> dict[str, str]:
  """The Ray node (id) of each child's newest incarnation, from the run's log."""
  return dict(re.findall(r'started (\S+) \(pid \d+\) on Ray node (\w+)', log_text(run_dir)))


def manager_node(run_dir: str) -> str:
  """The Ray node the manager's process joined the cluster on, from the run's log."""
  found = re.search(r'this process on Ray node (\w+)', log_text(run_dir))
  return found.group(1) if found else ''


def restarts(run_dir: str) -> int:
  """How many children the run has replaced so far (from its log)."""
  return len(re.findall(r'\(restart \d+ of \d+\)', log_text(run_dir)))


@contextlib.contextmanager
def around_training_calls(hook: Callable[[int, Any, Any], tuple[Any, Any]],
                          agent: str = 'a3c'):
  """Within the block, `agent` is registered as a faulty variant of itself (in this process):
  each single-process training call (`train_many`, or `train_many_seeds` for several
  seeds: the gradients kind) first passes its inputs through
  `hook(call_number, state, rollout_state) -> (state, rollout_state)` (calls numbered from
  1 in each run): how a fault is injected at a chosen call."""
  import dataclasses  # JAX is imported only by those who inject into training

  from metarl.agents import registry as agent_registry
  spec = agent_registry.spec(agent)

  def make(config, env):
    built = spec.make(config, env)
    calls = [0]

    def hooked(train):
      def call(state, rollout_state):
        calls[0] += 1
        state, rollout_state = hook(calls[0], state, rollout_state)
        return train(state, rollout_state)
      return call
    return built._replace(train_many=hooked(built.train_many),
                          train_many_seeds=hooked(built.train_many_seeds))

  with agent_registry.AGENTS.replaced(agent, dataclasses.replace(spec, make=make)):
    yield


def nan_recurrent_state(rollout_state):
  """`rollout_state` whose recurrent state is NaN: the losses and gradients computed from it
  are NaN until the episodes in progress end (a new episode starts from a fresh state)."""
  import jax
  import jax.numpy as jnp
  return rollout_state._replace(core_state=jax.tree_util.tree_map(
      lambda x: jnp.full_like(x, jnp.nan), rollout_state.core_state))
