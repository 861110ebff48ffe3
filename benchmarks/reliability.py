"""Faults injected into real runs, and what checkpoints cost (issue 7).

python benchmarks/reliability.py [--runs=3] [--faults=a,b,...] [--work=DIR]

Each fault is injected into `--runs` runs of `python main.py` (the bandit A3C config unless
named otherwise; rsac on the memory task), each in a session of its own:

  worker_sigkill       2 workers + evaluator; worker-0 killed with SIGKILL once training
                       runs; the run must replace it and finish
  evaluator_sigkill    the same layout; the evaluator killed once it has reported
  rsac_worker_sigkill  recurrent SAC, 1 worker + evaluator; the worker killed
  manager_sigint       single process + evaluator; Ctrl-C (SIGINT) to the manager at a
                       random moment after its first checkpoint, then --config.resume=True
  manager_sigkill      the same with SIGKILL: no final checkpoint, the newest periodic one
                       is resumed
  nan_injection        single process, in this process: from a random call on, the
                       recurrent state the rollouts start from is NaN for 3 calls, so the
                       losses and gradients are NaN until the episodes end (a call that
                       starts a new episode resets the state first)

Per fault: runs, recovered (the run, or its resume, reached total_env_steps with rc 0 and
every CSV and pickle readable; for nan_injection, with finite params), processes left
after the run (counted in its session), `detect_s` (kill to the log's "replacing" line, or
manager stop to exit), and the env steps lost: for a manager fault, the steps of the last
train.csv row before it minus those of the checkpoint the resume started from (a lower
bound: steps after the last row are lost too); for a child fault, 0, since the manager's
step count never goes back (the dead worker's one unroll in flight is not counted); for
NaN, the skipped updates x steps per update.

Then, per agent, the checkpoint write time (median over the run's checkpoints, from the
log) and size: a3c (bandit, 64 envs), td (value_td, 10 seeds), rsac with and without the
replay contents (memory task, 200k-step replay).

Then bad files (benchmarks/reliability_files.py): truncated, foreign, malicious and
mismatched params and checkpoints, another agent's params, a linked CSV and a resume of
another config, each given to the command that reads it: one line, nothing executed,
nothing left behind.

Writes benchmarks/results/reliability.csv (faults), reliability_checkpoints.csv and
reliability_bad_files.csv. `--parts` picks among faults, checkpoints and bad_files.
"""

import argparse
import glob
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from metarl import checkpoint  # noqa: E402
from metarl.io import RunFileError, load_pickle, save_csv  # noqa: E402
from tests.tools import faults  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
BANDIT = os.path.join(ROOT, 'configs', 'bandit_train.py') + ':a3c'  # workers: a3c
MEMORY = os.path.join(ROOT, 'configs', 'memory_sac.py')
VALUE_TD = os.path.join(ROOT, 'configs', 'value_td.py')
# a single-process bandit run of ~20-40 s here: 6M env steps, checkpoints every 500k
A3C = ['--config.total_env_steps=6000000', '--config.checkpoint_every=500000',
       '--config.log_every_env_steps=100000', '--config.eval.every_env_steps=500000',
       '--config.eval.num_episodes=100']
DISTRIBUTED = ['--config.launch.num_workers=2', '--config.launch.num_evaluators=1',
               '--config.total_env_steps=2000000', '--config.log_every_env_steps=20000',
               '--config.eval.every_env_steps=100000', '--config.checkpoint_every=200000']
SAC = ['--config.launch.num_workers=1', '--config.launch.num_evaluators=1',
       '--config.total_env_steps=6000', '--config.log_every_env_steps=500',
       '--config.eval.every_env_steps=2000', '--config.checkpoint_every=2000',
       '--config.agent.warmup_steps=500', '--config.agent.critic_warmup_steps=500',
       '--config.agent.actor_warmup_steps=500']
FAULTS = ('worker_sigkill', 'evaluator_sigkill', 'rsac_worker_sigkill', 'manager_sigint',
          'manager_sigkill', 'nan_injection')
PARTS = ('faults', 'checkpoints', 'bad_files')
COLUMNS = ['fault', 'agent', 'runs', 'recovered', 'processes_left', 'detect_s_median',
           'env_steps_lost_median', 'env_steps_lost_max', 'total_env_steps', 'notes']


def train_steps(run_dir):
  """env_steps of every train.csv row (pandas is left out: the CSV must parse by itself)."""
  import csv
  path = os.path.join(run_dir, 'train.csv')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [int(r['env_steps']) for r in csv.DictReader(f)]


def files_readable(run_dir) -> bool:
  import csv
  for path in glob.glob(os.path.join(run_dir, '*.csv')):
    with open(path) as f:
      table = list(csv.reader(f))
    if not table or any(len(r) != len(table[0]) for r in table[1:]):
      return False
  for path in glob.glob(os.path.join(run_dir, '**', '*.pickle'), recursive=True):
    try:
      load_pickle(path)
    except RunFileError:  # any unreadable pickle is a failure of the run
      return False
  return True


def finish(proc, run_dir, total, timeout=900):
  """Waits for a run; (recovered, processes left)."""
  rc = proc.wait(timeout=timeout)
  try:  # the multiprocessing helpers go a moment after the manager
    faults.wait_for(lambda: not faults.session_processes(proc.pid), 15, 'the children')
  except AssertionError:
    pass
  left = len(faults.session_processes(proc.pid))
  steps = train_steps(run_dir)
  ok = rc == 0 and bool(steps) and steps[-1] >= total and files_readable(run_dir)
  return ok, left


def child_fault(name, config, overrides, victim, ready, total, work, k):
  """Kills `victim` once `ready(run_dir)`; the run must replace it and finish."""
  run_dir = os.path.join(work, f'{name}_{k}')
  proc = faults.start(config, run_dir, overrides)
  try:
    faults.wait_for(lambda: ready(run_dir), 300, 'training')
    os.kill(faults.children(run_dir)[victim], signal.SIGKILL)
    detect = faults.wait_for(lambda: faults.restarts(run_dir) >= 1, 60, 'the replacement')
    ok, left = finish(proc, run_dir, total)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
  return dict(recovered=ok, left=left, detect=detect, lost=0)


def manager_fault(signum, total, work, k, rng):
  """Stops the manager at a random moment after its first checkpoint, then resumes."""
  run_dir = os.path.join(work, f'manager_{signum}_{k}')
  overrides = A3C + ['--config.launch.num_evaluators=1']
  proc = faults.start(BANDIT, run_dir, overrides)
  try:
    faults.wait_for(lambda: checkpoint.latest(run_dir) is not None, 300, 'a checkpoint')
    time.sleep(rng.uniform(0.0, 8.0))
    if proc.poll() is not None:
      raise RuntimeError(f'{run_dir}: the run ended before the fault; make it longer')
    stop = time.time()
    os.kill(proc.pid, signum)
    proc.wait(timeout=120)
    detect = time.time() - stop
    faults.wait_for(lambda: not faults.session_processes(proc.pid), 30, 'the children')
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
  logged = train_steps(run_dir)[-1] if train_steps(run_dir) else 0
  resumed_from = checkpoint.load(checkpoint.latest(run_dir))['env_steps']
  proc = faults.start(BANDIT, run_dir, overrides + ['--config.resume=True'])
  ok, left = finish(proc, run_dir, total)
  return dict(recovered=ok, left=left, detect=detect, lost=max(0, logged - resumed_from))


def nan_fault(work, k, rng):
  """A3C in this process with NaN recurrent states for 3 calls from a random one on."""
  import jax
  import numpy as np

  from configs import bandit_train
  from launch import manager
  config = bandit_train.get_config('a3c')
  config.run_dir = os.path.join(work, f'nan_{k}')
  config.total_env_steps = 2_000_000
  config.log_every_env_steps = 64_000
  config.launch.num_evaluators = 0
  config.eval.every_env_steps = 1_000_000
  config.eval.num_episodes = 100
  config.launch.updates_per_call = 5  # 3,200 env steps: half a 100-trial episode per call
  first = rng.randrange(5, 500)

  def poison(call, state, rollout_state):
    if first <= call < first + 3:
      rollout_state = faults.nan_recurrent_state(rollout_state)
    return state, rollout_state

  with faults.around_training_calls(poison):
    manager.train(config)
  import csv
  with open(os.path.join(config.run_dir, 'train.csv')) as f:
    table = list(csv.DictReader(f))
  skipped = sum(float(r['skipped_updates']) for r in table)
  params = load_pickle(os.path.join(config.run_dir, 'params.pickle'), ['params'])['params']
  finite = all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(params))
  ok = finite and int(table[-1]['env_steps']) == config.total_env_steps and skipped > 0
  steps_per_update = config.agent.num_envs * config.agent.unroll_length
  return dict(recovered=ok, left=0, detect=0.0,  # caught in the update that has it
              lost=int(skipped) * steps_per_update)


def run_faults(names, runs, work):
  rng = random.Random(0)
  rows = []
  for name in names:
    results, total, agent, notes = [], 0, 'a3c', ''
    for k in range(runs):
      print(f'{name} run {k + 1}/{runs} ...', flush=True)
      if name == 'worker_sigkill':
        total, notes = 2_000_000, '2 workers + evaluator'
        results.append(child_fault(name, BANDIT, A3C + DISTRIBUTED, 'worker-0',
                                   lambda d: len(train_steps(d)) >= 2, total, work, k))
      elif name == 'evaluator_sigkill':
        total, notes = 2_000_000, '2 workers + evaluator'
        results.append(child_fault(
            name, BANDIT, A3C + DISTRIBUTED, 'evaluator-0',
            lambda d: os.path.exists(os.path.join(d, 'eval.csv')), total, work, k))
      elif name == 'rsac_worker_sigkill':
        total, agent, notes = 6000, 'rsac', 'memory task, 1 worker + evaluator'
        results.append(child_fault(name, MEMORY, SAC, 'worker-0',
                                   lambda d: len(train_steps(d)) >= 2, total, work, k))
      elif name in ('manager_sigint', 'manager_sigkill'):
        total = 6_000_000
        notes = 'single process + evaluator; resumed with --config.resume=True'
        signum = signal.SIGINT if name == 'manager_sigint' else signal.SIGKILL
        results.append(manager_fault(signum, total, work, k, rng))
      elif name == 'nan_injection':
        total, notes = 2_000_000, 'NaN recurrent state for 3 calls of 5 updates'
        results.append(nan_fault(work, k, rng))
    lost = [r['lost'] for r in results]
    rows.append(dict(
        fault=name, agent=agent, runs=len(results),
        recovered=sum(r['recovered'] for r in results),
        processes_left=sum(r['left'] for r in results),
        detect_s_median=round(statistics.median(r['detect'] for r in results), 2),
        env_steps_lost_median=statistics.median(lost), env_steps_lost_max=max(lost),
        total_env_steps=total, notes=notes))
    print(rows[-1], flush=True)
  return rows


def checkpoint_costs(work):
  """Checkpoint write time and size of each agent's config (short runs)."""
  cases = [
      ('a3c', BANDIT, ['--config.total_env_steps=2000000', '--config.checkpoint_every=500000',
                       '--config.launch.num_evaluators=0',
                       '--config.eval.every_env_steps=2000000']),
      ('td', VALUE_TD, ['--config.agent.epochs=400', '--config.checkpoint_every=100000']),
      ('rsac (replay)', MEMORY, ['--config.total_env_steps=8000',
                                 '--config.checkpoint_every=2000',
                                 '--config.eval.every_env_steps=8000']),
      ('rsac (no replay)', MEMORY, ['--config.total_env_steps=8000',
                                    '--config.checkpoint_every=2000',
                                    '--config.checkpoint_replay=False',
                                    '--config.eval.every_env_steps=8000']),
  ]
  rows = []
  for agent, config, overrides in cases:
    print(f'checkpoints of {agent} ...', flush=True)
    run_dir = os.path.join(work, 'ckpt_' + re.sub(r'\W+', '_', agent))
    proc = faults.start(config, run_dir, overrides)
    if proc.wait(timeout=1800) != 0:
      raise RuntimeError(faults.stderr_of(run_dir)[-2000:])
    times = [float(t) for t in re.findall(r'checkpoint at .*\(([\d.]+)s\)',
                                          faults.log_text(run_dir))]
    sizes = [os.path.getsize(p) for p in checkpoint.list_checkpoints(run_dir)]
    rows.append(dict(agent=agent, checkpoints=len(times),
                     write_ms_median=round(1000 * statistics.median(times), 1),
                     write_ms_max=round(1000 * max(times), 1),
                     size_mb=round(statistics.median(sizes) / 2 ** 20, 3)))
    print(rows[-1], flush=True)
  return rows


def print_table(rows):
  columns = list(rows[0])
  widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
  print('  '.join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
  for r in rows:
    print('  '.join(str(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--runs', type=int, default=3)
  parser.add_argument('--faults', default=','.join(FAULTS))
  parser.add_argument('--work', default='', help='folder for the runs (default: a temp dir)')
  parser.add_argument('--parts', default=','.join(PARTS),
                      help=f'which tables, of {",".join(PARTS)}')
  args = parser.parse_args()
  parts = [p for p in args.parts.split(',') if p]
  if set(parts) - set(PARTS):
    parser.error(f'unknown parts {sorted(set(parts) - set(PARTS))}; known: {list(PARTS)}')
  names = [n for n in args.faults.split(',') if n]
  unknown = set(names) - set(FAULTS)
  if unknown:
    parser.error(f'unknown faults {sorted(unknown)}; known: {list(FAULTS)}')
  work = args.work or tempfile.mkdtemp(prefix='metarl_reliability_')
  os.makedirs(work, exist_ok=True)
  os.makedirs(RESULTS, exist_ok=True)
  if 'faults' in parts:
    rows = run_faults(names, args.runs, work)
    print_table(rows)
    save_csv(os.path.join(RESULTS, 'reliability.csv'), rows, COLUMNS)
  if 'checkpoints' in parts:
    costs = checkpoint_costs(work)
    print_table(costs)
    save_csv(os.path.join(RESULTS, 'reliability_checkpoints.csv'), costs)
  if 'bad_files' in parts:
    from benchmarks.reliability_files import COLUMNS as FILE_COLUMNS
    from benchmarks.reliability_files import run_bad_files
    bad = run_bad_files(os.path.join(work, 'bad_files'))
    print_table(bad)
    save_csv(os.path.join(RESULTS, 'reliability_bad_files.csv'), bad, FILE_COLUMNS)
  print(f'runs in {work}')


if __name__ == '__main__':
  main()
