"""Many seeds (and variants) of an experiment, run side by side, with aggregated results.

    python launch/sweep.py --config=configs/two_step_train.py --seeds=8
    python launch/sweep.py --seeds=8 \
        --config=configs/episodic_two_step_train.py \
        --config=configs/episodic_two_step_train.py:agent.retrieval=False \
        --set=total_env_steps=5000000

Each --config is a variant: a config file, optionally followed by `:field=value,...`
overrides; --set overrides apply to every variant. Every run is `main.py` in its own process
(seed = --first_seed + i, evaluation inline), at most --parallel at a time. Every config is
validated before any process starts. Writes into --out (default runs/<time>_sweep):
  runs.csv             variant, seed, run_dir, exit code, wall seconds
  eval_all.csv         every eval.csv row of every run, with `variant` and `seed` columns
  summary.csv          per variant and eval metric: mean, std, min, max over seeds at the
                       last evaluation
  training_curves.png  mean (line) and spread (band: min to max) over seeds of --metric
                       against env steps, one line per variant
Ctrl-C or SIGTERM stops every run (each saves its params) and leaves no process behind.

On Ray (needs requirements-ray.txt), each run is one Ray task that reserves --cpus_per_run
CPUs and runs the same `main.py` command line in a subprocess on whichever node Ray places it:

    python launch/sweep.py --backend=ray --parallel=8 --config=configs/bandit_train.py
    python launch/sweep.py --backend=ray --ray_address=HEAD_HOST:6379 --cpus_per_run=2 \
        --seeds=32 --config=configs/bandit_train.py

Without --ray_address the sweep starts a Ray instance of --parallel CPUs on 127.0.0.1 (token
authentication with a random token, session files in a new /tmp/metarl-ray-* folder, no
dashboard, a watchdog that ends the instance if the sweep is killed) and stops it at the end.
With --ray_address=HOST:PORT (or `auto`: the cluster `ray start` started on this machine)
it joins that cluster (its token from Ray's own RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH /
~/.ray/auth_token), ships this repository to it as the job's working directory (runs use
that copy of main.py, and of a config inside the repository) and submits every run at
once: the cluster's free CPUs decide how many run at a time. A run placed on the sweep's
own machine (same hostname) writes its run directory in place; one placed on another node
runs in a temporary folder there and sends the run directory (as a tar.gz) and its log
back, which the sweep unpacks into the planned run directory (its config.json and log.txt
name that folder), so a cluster works with or without a shared filesystem. runs.csv,
eval_all.csv, summary.csv and the plot are as above. Ctrl-C or SIGTERM cancels every task:
each run gets SIGINT and saves its params (killed if it takes more than `RUN_STOP_S`
seconds), and the sweep stops the instance it started.
"""

import argparse
import ast
import csv
import importlib.util
import io as pyio
import os
import re
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from metarl import io  # noqa: E402

RUN_STOP_S = 60.0  # how long a stopped run may take to save its params before it is killed
_CANCEL_GRACE_S = 20.0  # on top of RUN_STOP_S: how long the sweep waits for cancelled tasks


class SweepError(Exception):
  """A sweep argument that cannot run."""


def parse_variant(text: str) -> Tuple[str, List[str]]:
  path, _, overrides = text.partition(':')
  return path, [o for o in overrides.split(',') if o]


def _parse_value(text: str):
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def load_config(path: str, overrides: List[str]):
  """The config of `path` with `field=value` overrides, as main.py would build it."""
  if not os.path.isfile(path):
    raise SweepError(f'--config {path}: no such file')
  config = runpy.run_path(path)['get_config']()
  config.lock()
  for item in overrides:
    field, sep, value = item.partition('=')
    if not sep:
      raise SweepError(f'override {item!r}: expected field=value')
    node, *parts = [config] + field.split('.')
    for part in parts[:-1]:
      if part not in node:
        raise SweepError(f'override {item!r}: the config has no field {field!r}')
      node = node[part]
    if parts[-1] not in node:
      raise SweepError(f'override {item!r}: the config has no field {field!r}')
    try:
      node[parts[-1]] = _parse_value(value)
    except (TypeError, ValueError) as e:
      raise SweepError(f'override {item!r}: {e}')
  return config


def variant_name(path: str, overrides: List[str]) -> str:
  base = os.path.splitext(os.path.basename(path))[0]
  return base + ''.join(f'[{o}]' for o in overrides)


def plan(args) -> List[Dict]:
  """Every run of the sweep, each validated; raises SweepError / ConfigError first."""
  from launch.validation import validate  # here: it imports JAX, which Ray tasks skip
  runs = []
  names = set()
  for text in args.config:
    path, overrides = parse_variant(text)
    overrides = list(args.set) + overrides
    name = variant_name(path, parse_variant(text)[1])
    if name in names:
      raise SweepError(f'--config {text}: given twice')
    names.add(name)
    for i in range(args.seeds):
      seed = args.first_seed + i
      run_dir = os.path.join(args.out, f'{len(names) - 1:02d}_{name}', f'seed_{seed}')
      run_overrides = overrides + [f'seed={seed}', f'run_dir={run_dir}',
                                   'launch.num_evaluators=0']
      config = load_config(path, run_overrides)
      if config.mode != 'train':
        raise SweepError(f'--config {path}: a training config is required')
      validate(config)
      runs.append(dict(variant=name, seed=seed, run_dir=run_dir, path=path,
                       overrides=run_overrides))
  return runs


def command(run: Dict) -> List[str]:
  return ([sys.executable, os.path.join(ROOT, 'main.py'), f'--config={run["path"]}'] +
          [f'--config.{o}' for o in run['overrides']])


def execute(runs: List[Dict], parallel: int, log) -> None:
  """Runs at most `parallel` processes at a time; on Ctrl-C stops them all."""
  pending = list(runs)
  active: Dict[subprocess.Popen, Tuple[Dict, float, object]] = {}
  try:
    while pending or active:
      while pending and len(active) < parallel:
        run = pending.pop(0)
        os.makedirs(os.path.dirname(run['run_dir']), exist_ok=True)
        out = open(run['run_dir'] + '.log', 'w')
        proc = subprocess.Popen(command(run), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        active[proc] = (run, time.time(), out)
        print(f'started {run["variant"]} seed {run["seed"]} (pid {proc.pid})', flush=True)
      time.sleep(0.5)
      for proc in [p for p in active if p.poll() is not None]:
        run, start, out = active.pop(proc)
        out.close()
        run.update(exit_code=proc.returncode, wall_s=round(time.time() - start, 1))
        log.write({k: run[k] for k in ('variant', 'seed', 'run_dir', 'exit_code', 'wall_s')})
        status = 'done' if proc.returncode == 0 else f'FAILED (see {run["run_dir"]}.log)'
        print(f'{status}: {run["variant"]} seed {run["seed"]} in {run["wall_s"]}s',
              flush=True)
  finally:
    for proc in active:  # stop like Ctrl-C: each run saves its params, then exits
      if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    for proc in active:
      try:
        proc.wait(timeout=60)
      except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# Ray: each run one task ------------------------------------------------------------------

# Runs in the task's subprocess, then execs main.py: it unblocks the signals a Ray worker
# blocks (SIGINT among them: the run could not be stopped like Ctrl-C) and has the run
# SIGKILLed if the task's worker dies (a worker Ray kills leaves no run behind).
_EXEC_RUN = ('import ctypes, os, signal, sys\n'
             'signal.pthread_sigmask(signal.SIG_SETMASK, set())\n'
             'try:\n'
             '  ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)\n'
             'except (OSError, AttributeError):\n'
             '  pass\n'
             'if os.getppid() != int(sys.argv[1]):\n'
             '  sys.exit(1)\n'
             'os.execv(sys.argv[2], sys.argv[2:])\n')


def pack_run(run_dir: str, log_path: str) -> Dict[str, Any]:
  """A run's files as bytes: its run directory as a tar.gz and its log's text."""
  buffer = pyio.BytesIO()
  with tarfile.open(fileobj=buffer, mode='w:gz') as tar:
    if os.path.isdir(run_dir):
      tar.add(run_dir, arcname='.')
  log = ''
  if os.path.isfile(log_path):
    with open(log_path, errors='replace') as f:
      log = f.read()
  return dict(tar=buffer.getvalue(), log=log)


def unpack_run(files: Dict[str, Any], run_dir: str) -> None:
  """Writes what `pack_run` packed into `run_dir` and `run_dir + '.log'`."""
  os.makedirs(run_dir, exist_ok=True)
  with tarfile.open(fileobj=pyio.BytesIO(files['tar']), mode='r:gz') as tar:
    tar.extractall(run_dir, filter='data')  # nothing outside run_dir, no odd file types
  with open(run_dir + '.log', 'w') as f:
    f.write(files['log'])


def run_task(spec: Dict[str, Any]) -> Dict[str, Any]:
  """One run inside a Ray task: `main.py` in a subprocess, its output in the run's .log.

  On the sweep's own machine the run writes spec['run_dir'] in place; on another node it
  writes a temporary folder there, and the run directory and log come back in `files`
  (`pack_run`). Cancelling the task (KeyboardInterrupt) sends the run SIGINT, as Ctrl-C
  would, and waits up to RUN_STOP_S seconds before killing it.
  """
  start = time.time()
  repo = spec['repo'] or os.getcwd()  # the sweep's repository, or the job's copy of it
  here = socket.gethostname() == spec['driver_host']
  scratch = None if here else tempfile.mkdtemp(prefix='metarl-sweep-')
  try:
    run_dir = spec['run_dir'] if here else os.path.join(scratch, 'run')
    log_path = run_dir + '.log'
    config = os.path.join(repo, spec['config_in_repo']) if spec['config_in_repo'] else (
        spec['config'])
    if not os.path.isfile(config):  # a config outside the repository, on another node
      scratch = scratch or tempfile.mkdtemp(prefix='metarl-sweep-')
      config = os.path.join(scratch, os.path.basename(spec['config']))
      with open(config, 'w') as f:
        f.write(spec['config_text'])
    overrides = [f'run_dir={run_dir}' if o.startswith('run_dir=') else o
                 for o in spec['overrides']]
    cmd = [sys.executable, os.path.join(repo, 'main.py'), f'--config={config}'] + [
        f'--config.{o}' for o in overrides]
    interrupted = False
    with open(log_path, 'w') as log:
      proc = subprocess.Popen(
          [sys.executable, '-c', _EXEC_RUN, str(os.getpid())] + cmd, stdout=log,
          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=repo)
      try:
        while proc.poll() is None:
          time.sleep(0.2)
      except KeyboardInterrupt:  # the task was cancelled: stop the run like Ctrl-C
        interrupted = True
        proc.send_signal(signal.SIGINT)
        try:
          proc.wait(timeout=RUN_STOP_S)
        except subprocess.TimeoutExpired:
          proc.kill()
          proc.wait(timeout=10)
    return dict(exit_code=proc.returncode, wall_s=round(time.time() - start, 1),
                host=socket.gethostname(), pid=proc.pid, interrupted=interrupted,
                files=None if here else pack_run(run_dir, log_path))
  finally:
    if scratch:
      shutil.rmtree(scratch, ignore_errors=True)


def task_spec(run: Dict, repo: Optional[str]) -> Dict[str, Any]:
  """What `run_task` needs of a planned run; repo None: the task's working directory (the
  copy of this repository a cluster job gets)."""
  config = os.path.abspath(run['path'])
  in_repo = os.path.relpath(config, ROOT)
  with open(config) as f:
    text = f.read()
  return dict(run_dir=os.path.abspath(run['run_dir']), overrides=list(run['overrides']),
              config=config, config_text=text,
              config_in_repo=None if in_repo.startswith(os.pardir) else in_repo,
              repo=repo, driver_host=socket.gethostname())


def check_ray_args(args) -> None:
  """Raises SweepError for Ray options that cannot run (before anything starts)."""
  if args.backend != 'ray':
    if args.ray_address or args.cpus_per_run != 1.0:
      raise SweepError('--ray_address and --cpus_per_run need --backend=ray')
    return
  if importlib.util.find_spec('ray') is None:
    raise SweepError('--backend=ray needs Ray: pip install -r requirements-ray.txt')
  address = args.ray_address
  if address and not (address == 'auto' or address.startswith('ray://') or
                      re.fullmatch(r'[^\s/:]+:\d{1,5}', address)):
    raise SweepError(f"--ray_address {address!r}: '' (start a local Ray instance), 'auto' "
                     'or HOST:PORT of a running cluster is required')
  from launch.backends.ray_backend import unreachable
  problem = unreachable(address)
  if problem:
    raise SweepError(f'--ray_address {address}: nothing answers there ({problem})')
  if not 0 < args.cpus_per_run <= 1024:
    raise SweepError('--cpus_per_run must be > 0 (and at most 1024)')
  if not address and args.cpus_per_run > args.parallel:
    raise SweepError(f'--cpus_per_run {args.cpus_per_run} is more than the local instance '
                     f'has (--parallel {args.parallel}): no run could start')


def connect_ray(args):
  """(ray, the local instance started for the sweep or None when it joined a cluster)."""
  from launch.backends import ray_backend
  if not args.ray_address:
    instance = ray_backend.start_local(num_cpus=args.parallel, log_to_driver=False)
    print(f'sweep: {instance.description}', flush=True)
    return instance.ray, instance
  out = os.path.relpath(os.path.abspath(args.out), ROOT)
  excludes = [] if out.startswith(os.pardir) else [out]  # the sweep's own results stay here
  try:
    ray = ray_backend.join_cluster(args.ray_address, excludes, log_to_driver=False)
  except (ConnectionError, RuntimeError, ValueError) as e:
    raise SweepError(f'--ray_address {args.ray_address}: {type(e).__name__}: {e}')
  cpus = ray.cluster_resources().get('CPU', 0)
  print(f'sweep: joined the Ray cluster at {args.ray_address} ({cpus:g} CPUs)', flush=True)
  if cpus < args.cpus_per_run:
    print(f'sweep: warning: no node has --cpus_per_run {args.cpus_per_run} CPUs yet; runs '
          'wait until the cluster grows', flush=True)
  return ray, None


def _record(run: Dict, result: Dict, log) -> None:
  run.update(exit_code=result['exit_code'], wall_s=result['wall_s'])
  log.write({k: run[k] for k in ('variant', 'seed', 'run_dir', 'exit_code', 'wall_s')})
  status = 'done' if run['exit_code'] == 0 else f'FAILED (see {run["run_dir"]}.log)'
  print(f'{status}: {run["variant"]} seed {run["seed"]} in {run["wall_s"]}s on '
        f'{result.get("host", "?")} (pid {result.get("pid", "?")})', flush=True)


def _result(ray, ref, run: Dict) -> Optional[Dict]:
  """The task's result, its files unpacked into run_dir; a task that failed is a run that
  failed (exit code -1, the error appended to its .log); None if it was cancelled."""
  try:
    result = ray.get(ref, timeout=300)  # a run from another node: its files
  except ray.exceptions.TaskCancelledError:
    return None
  except Exception as e:  # the worker died, the node was lost, ...
    with open(run['run_dir'] + '.log', 'a') as f:
      f.write(f'\nsweep: the Ray task of this run failed: {type(e).__name__}: {e}\n')
    return dict(exit_code=-1, wall_s=0.0)
  if result['files'] is not None:
    unpack_run(result['files'], run['run_dir'])
  return result


def execute_ray(runs: List[Dict], args, log) -> None:
  """Every run as a Ray task (at most as many at a time as the CPUs allow); on Ctrl-C
  cancels them all (each run saves its params) and stops the instance it started."""
  ray, instance = None, None
  refs: Dict[Any, Dict] = {}
  try:
    ray, instance = connect_ray(args)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # ray.init put in its own handler
    remote = ray.remote(run_task).options(num_cpus=args.cpus_per_run, max_retries=0)
    repo = ROOT if instance is not None else None
    for run in runs:
      os.makedirs(os.path.dirname(run['run_dir']), exist_ok=True)
      refs[remote.remote(task_spec(run, repo))] = run
    print(f'sweep: {len(runs)} runs queued, {args.cpus_per_run:g} CPUs each', flush=True)
    while refs:
      ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=1.0)
      for ref in ready:
        run = refs.pop(ref)
        _record(run, _result(ray, ref, run), log)
  finally:
    try:
      if refs:
        _cancel(ray, refs)
    finally:
      _stop_ray(ray, instance)


def _cancel(ray, refs: Dict[Any, Dict]) -> None:
  """Cancels every task: a running one stops its run like Ctrl-C (the run saves its params)
  and returns; a task still running after RUN_STOP_S + a grace is killed."""
  for ref in refs:
    try:
      ray.cancel(ref, force=False)
    except Exception:  # already finished
      pass
  try:
    ready, left = ray.wait(list(refs), num_returns=len(refs),
                           timeout=RUN_STOP_S + _CANCEL_GRACE_S)
    for ref in ready:  # a run on another node sends back what it saved
      _result(ray, ref, refs[ref])
  except KeyboardInterrupt:  # interrupted again: no more waiting
    left = list(refs)
  for ref in left:
    try:
      ray.cancel(ref, force=True)  # kills the worker: its run dies with it
    except Exception:
      pass


def _stop_ray(ray, instance) -> None:
  """Stops the instance the sweep started (and what Ray leaves of it) or leaves the cluster;
  further Ctrl-C / SIGTERM wait until it is done."""
  if ray is None and instance is None:
    return
  previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
  try:
    if instance is not None:
      instance.stop()
    else:
      ray.shutdown()
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)


def read_csv(path: str) -> List[Dict]:
  with open(path) as f:
    return list(csv.DictReader(f))


def aggregate(runs: List[Dict], out: str, metric: str) -> Dict[str, Dict]:
  """Writes eval_all.csv, summary.csv and training_curves.png; returns the summary."""
  import numpy as np
  rows = []
  for run in runs:
    path = os.path.join(run['run_dir'], 'eval.csv')
    if run.get('exit_code') == 0 and os.path.isfile(path):
      for row in read_csv(path):
        rows.append(dict(variant=run['variant'], seed=run['seed'], **row))
  if not rows:
    raise SweepError('no run finished with an eval.csv')
  columns = list(rows[0])
  for row in rows:
    columns += [c for c in row if c not in columns]
  log = io.CsvLog(os.path.join(out, 'eval_all.csv'), columns)
  for row in rows:
    log.write(row)
  log.close()
  skip = {'variant', 'seed', 'env_steps', 'updates', 'wall_time', 'epoch'}
  summary, curves = {}, {}
  for variant in dict.fromkeys(r['variant'] for r in rows):
    mine = [r for r in rows if r['variant'] == variant]
    last = {}
    for r in mine:
      last[r['seed']] = r  # rows are in time order per seed
    finals = list(last.values())
    summary[variant] = {}
    for key in [c for c in columns if c not in skip]:
      values = np.array([float(r[key]) for r in finals if r.get(key) not in (None, '')])
      if len(values):
        summary[variant][key] = dict(mean=values.mean(), std=values.std(), min=values.min(),
                                     max=values.max(), seeds=len(values))
    steps = sorted({int(r['env_steps']) for r in mine})
    table = np.full((len(last), len(steps)), np.nan)
    seeds = list(last)
    for r in mine:
      if metric in r and r[metric] != '':
        table[seeds.index(r['seed']), steps.index(int(r['env_steps']))] = float(r[metric])
    curves[variant] = (np.array(steps), table)
  log = io.CsvLog(os.path.join(out, 'summary.csv'),
                  ['variant', 'metric', 'mean', 'std', 'min', 'max', 'seeds'])
  for variant, metrics in summary.items():
    for key, stats in metrics.items():
      log.write(dict(variant=variant, metric=key, **stats))
  log.close()
  from metarl.analysis import plots
  plots.training_curves(os.path.join(out, 'training_curves.png'), curves, metric)
  return summary


def _raise_interrupt(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', action='append', required=True,
                      help='config file[:field=value,...]; repeat for variants')
  parser.add_argument('--seeds', type=int, default=8)
  parser.add_argument('--first_seed', type=int, default=0)
  parser.add_argument('--set', action='append', default=[],
                      help='field=value override for every variant (repeatable)')
  parser.add_argument('--parallel', type=int, default=os.cpu_count() or 1,
                      help='runs at a time (default: the number of CPU cores); ray: the CPUs '
                           'of the local instance (a cluster runs as many as its CPUs allow)')
  parser.add_argument('--metric', default='mean_reward_per_trial',
                      help='eval.csv column drawn in training_curves.png')
  parser.add_argument('--out', default='')
  parser.add_argument('--backend', choices=('local', 'ray'), default='local',
                      help='local: subprocesses on this machine; ray: one Ray task per run')
  parser.add_argument('--ray_address', default='',
                      help="ray: '' starts a local Ray instance of --parallel CPUs; "
                           "HOST:PORT or 'auto' joins a running cluster")
  parser.add_argument('--cpus_per_run', type=float, default=1.0,
                      help='ray: the CPUs each run reserves')
  args = parser.parse_args(argv)
  signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` stops a sweep like Ctrl-C
  if args.seeds < 1 or args.parallel < 1:
    sys.exit('sweep: --seeds and --parallel must be >= 1')
  args.out = args.out or io.timestamped_dir(os.path.join(ROOT, 'runs'), 'sweep')
  try:
    check_ray_args(args)
  except SweepError as e:
    sys.exit(f'sweep: {e}')
  from metarl.config_rules import ConfigError
  try:
    runs = plan(args)
  except (SweepError, ConfigError) as e:
    sys.exit(f'sweep: {e}')
  os.makedirs(args.out, exist_ok=True)
  log = io.CsvLog(os.path.join(args.out, 'runs.csv'),
                  ['variant', 'seed', 'run_dir', 'exit_code', 'wall_s'])
  try:
    if args.backend == 'ray':
      execute_ray(runs, args, log)
    else:
      execute(runs, args.parallel, log)
  except KeyboardInterrupt:
    sys.exit('sweep: interrupted; every run stopped (each saved its params)')
  except SweepError as e:
    sys.exit(f'sweep: {e}')
  finally:
    log.close()
  failed = [r for r in runs if r.get('exit_code') != 0]
  try:
    summary = aggregate(runs, args.out, args.metric)
  except SweepError as e:
    sys.exit(f'sweep: {e}')
  for variant, metrics in summary.items():
    print(variant)
    for key, s in metrics.items():
      print(f'  {key:<28} {s["mean"]:.4g} (std {s["std"]:.3g}, {s["min"]:.4g} to '
            f'{s["max"]:.4g}, {s["seeds"]} seeds)')
  print(f'sweep written to {args.out}')
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
