"""The Ray executor of `launch/sweep.py`: each planned run is one Ray task that runs the run's
`main.py` command line in a subprocess on whichever node Ray places it (see launch/sweep.py's
doc for what a Ray sweep does). A run on the sweep's own Ray node writes its run directory
in place; one on another node runs in a temporary folder there and comes back packed
(`pack_run` / `unpack_run`); a run whose task is lost is started again up to --max_retries
times.
"""

import importlib.util
import io as pyio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Any, NamedTuple

from launch.sweep import (
  _CANCEL_GRACE_S,
  ROOT,
  RUN_STOP_S,
  RUNS_COLUMNS,
  Executor,
  SweepError,
  entry,
  raise_interrupt,
)

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


def pack_run(run_dir: str, log_path: str) -> dict[str, Any]:
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


def unpack_run(files: dict[str, Any], run_dir: str) -> None:
  """Writes what `pack_run` packed into `run_dir` and `run_dir + '.log'`."""
  os.makedirs(run_dir, exist_ok=True)
  with tarfile.open(fileobj=pyio.BytesIO(files['tar']), mode='r:gz') as tar:
    tar.extractall(run_dir, filter='data')  # nothing outside run_dir, no odd file types
  with open(run_dir + '.log', 'w') as f:
    f.write(files['log'])


def run_task(spec: dict[str, Any]) -> dict[str, Any]:
  """One run inside a Ray task: `main.py` in a subprocess, its output in the run's .log.

  On the sweep's own machine the run writes spec['run_dir'] in place; on another node it
  writes a temporary folder there, and the run directory and log come back in `files`
  (`pack_run`). Cancelling the task (KeyboardInterrupt) sends the run SIGINT, as Ctrl-C
  would, and waits up to RUN_STOP_S seconds before killing it.
  """
  start = time.time()
  repo = spec['repo'] or os.getcwd()  # the sweep's repository, or the job's copy of it
  import ray
  node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else ''
  here = node == spec['driver_node']  # on the sweep's own Ray node, i.e. its machine
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
    config += spec['config_argument']  # ':ARG' of configs/x.py:ARG, or ''
    cmd = [sys.executable, *entry(repo), f'--config={config}'] + [
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
                host=socket.gethostname(), node=node, pid=proc.pid, interrupted=interrupted,
                files=None if here else pack_run(run_dir, log_path))
  finally:
    if scratch:
      shutil.rmtree(scratch, ignore_errors=True)


def task_spec(run: dict, repo: str | None, driver_node: str) -> dict[str, Any]:
  """What `run_task` needs of a planned run; repo None: the task's working directory (the
  copy of this repository a cluster job gets); driver_node: the sweep's Ray node."""
  path, colon, argument = run['path'].partition(':')  # configs/x.py:ARG, as main.py takes it
  config = os.path.abspath(path)
  in_repo = os.path.relpath(config, ROOT)
  with open(config) as f:
    text = f.read()
  return dict(run_dir=os.path.abspath(run['run_dir']), overrides=list(run['overrides']),
              config=config, config_argument=colon + argument, config_text=text,
              config_in_repo=None if in_repo.startswith(os.pardir) else in_repo,
              repo=repo, driver_node=driver_node)


def check_ray_args(args) -> None:
  """Raises SweepError for Ray options that cannot run (before anything starts)."""
  if importlib.util.find_spec('ray') is None:
    raise SweepError('--backend=ray needs Ray: pip install -r requirements-ray.txt')
  address = args.ray_address
  from launch.backends.ray_address import (
      ADDRESSES,
      unauthenticated,
      unreachable,
      valid_address,
  )
  if not valid_address(address):
    raise SweepError(f'--ray_address {address!r}: {ADDRESSES} is required')
  problem = unreachable(address)
  if problem:
    raise SweepError(f'--ray_address {address}: {problem}')
  problem = unauthenticated(address)
  if problem and not args.ray_allow_unauthenticated:
    raise SweepError(f'--ray_address {address}: {problem}; add '
                     '--ray_allow_unauthenticated to join it anyway')
  if not 0 < args.cpus_per_run <= 1024:
    raise SweepError('--cpus_per_run must be > 0 (and at most 1024)')
  if args.max_retries < 0:
    raise SweepError('--max_retries must be >= 0')
  if not address and args.cpus_per_run > args.parallel:
    raise SweepError(f'--cpus_per_run {args.cpus_per_run} is more than the local instance '
                     f'has (--parallel {args.parallel}): no run could start')


def connect_ray(args):
  """(ray, the local instance started for the sweep or None when it joined a cluster)."""
  from launch.backends import ray_instance
  if not args.ray_address:
    instance = ray_instance.start_local(num_cpus=args.parallel, log_to_driver=False)
    print(f'sweep: {instance.description}', flush=True)
    return instance.ray, instance
  out = os.path.relpath(os.path.abspath(args.out), ROOT)
  excludes = [] if out.startswith(os.pardir) else [out]  # the sweep's own results stay here
  try:
    ray = ray_instance.join_cluster(args.ray_address, excludes, log_to_driver=False)
  except (ConnectionError, RuntimeError, ValueError) as e:
    raise SweepError(f'--ray_address {args.ray_address}: {type(e).__name__}: {e}') from e
  cpus = ray.cluster_resources().get('CPU', 0)
  print(f'sweep: joined the Ray cluster at {args.ray_address} ({cpus:g} CPUs; this process '
        f'on Ray node {ray.get_runtime_context().get_node_id()})', flush=True)
  if cpus < args.cpus_per_run:
    print(f'sweep: warning: no node has --cpus_per_run {args.cpus_per_run} CPUs yet; runs '
          'wait until the cluster grows', flush=True)
  return ray, None


def _record(run: dict, result: dict, log) -> None:
  run.update(exit_code=result['exit_code'], wall_s=result['wall_s'],
             node=result.get('node', ''))
  log.write({k: run.get(k, '') for k in RUNS_COLUMNS})
  status = 'done' if run['exit_code'] == 0 else f'FAILED (see {run["run_dir"]}.log)'
  node = f' node {run["node"][:8]}' if run['node'] else ''
  print(f'{status}: {run["variant"]} seed {run["seed"]} in {run["wall_s"]}s on '
        f'{result.get("host", "?")}{node} (pid {result.get("pid", "?")})', flush=True)


class _Lost(NamedTuple):
  """A run whose Ray task failed (its node lost, its worker killed), not the run itself."""
  error: str


def _result(ray, ref, run: dict):
  """The task's result, its files unpacked into run_dir; `_Lost` if the task failed (the
  error appended to the run's .log); None if it was cancelled."""
  try:
    result = ray.get(ref, timeout=300)  # a run from another node: its files
  except ray.exceptions.TaskCancelledError:
    return None
  except Exception as e:  # the worker died, the node was lost, ...
    error = f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
    with open(run['run_dir'] + '.log', 'a') as f:
      f.write(f'\nsweep: the Ray task of this run failed: {type(e).__name__}: {e}\n')
    return _Lost(error)
  if result['files'] is not None:
    unpack_run(result['files'], run['run_dir'])
  return result


def _set_aside(run: dict, attempt: int) -> None:
  """Moves what a lost attempt left in the run's directory and log to `.lost<attempt>`
  names, so the next attempt starts clean and nothing is deleted."""
  for path in (run['run_dir'], run['run_dir'] + '.log'):
    if os.path.exists(path):
      os.replace(path, f'{path}.lost{attempt}')


def execute_ray(runs: list[dict], args, log) -> None:
  """Every run as a Ray task (at most as many at a time as the CPUs allow); a run whose
  task failed (its node lost) is submitted again, up to --max_retries times, then recorded
  as failed (exit code -1); on Ctrl-C cancels them all (each run saves its params) and
  stops the instance it started."""
  ray, instance = None, None
  refs: dict[Any, dict] = {}
  try:
    ray, instance = connect_ray(args)
    signal.signal(signal.SIGTERM, raise_interrupt)  # ray.init put in its own handler
    remote = ray.remote(run_task).options(num_cpus=args.cpus_per_run, max_retries=0)
    repo = ROOT if instance is not None else None
    driver_node = ray.get_runtime_context().get_node_id()

    def submit(run: dict) -> None:
      refs[remote.remote(task_spec(run, repo, driver_node))] = run

    for run in runs:
      os.makedirs(os.path.dirname(run['run_dir']), exist_ok=True)
      run['attempts'] = 1
      submit(run)
    print(f'sweep: {len(runs)} runs queued, {args.cpus_per_run:g} CPUs each', flush=True)
    while refs:
      ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=1.0)
      for ref in ready:
        run = refs.pop(ref)
        result = _result(ray, ref, run)
        if isinstance(result, _Lost) and run['attempts'] <= args.max_retries:
          print(f'sweep: {run["variant"]} seed {run["seed"]}: its Ray task failed '
                f'({result.error}); running it again (attempt {run["attempts"] + 1} of '
                f'{args.max_retries + 1})', flush=True)
          _set_aside(run, run['attempts'])
          run['attempts'] += 1
          submit(run)
          continue
        if isinstance(result, _Lost):
          result = dict(exit_code=-1, wall_s=0.0)
        _record(run, result, log)
  finally:
    try:
      if refs:
        _cancel(ray, refs, local=instance is not None)
    finally:
      _stop_ray(ray, instance)


def _interrupt_local_runs(runs: list[dict]) -> None:
  """SIGINT to the runs of `runs` that are processes below this one (a local instance's),
  as Ctrl-C would: the tasks' cancellation does the same, but it has missed a run (its
  task's KeyboardInterrupt not delivered) often enough that the sweep does not rely on it
  alone here."""
  import psutil

  from launch.backends.ray_instance import descendants
  flags = {f'--config.run_dir={run["run_dir"]}' for run in runs}
  for pid in descendants(os.getpid()):
    try:
      if flags & set(psutil.Process(pid).cmdline()):
        os.kill(pid, signal.SIGINT)
    except (psutil.Error, OSError):  # gone meanwhile
      continue


def _cancel(ray, refs: dict[Any, dict], local: bool = False) -> None:
  """Cancels every task: a running one stops its run like Ctrl-C (the run saves its params)
  and returns; a task still running after RUN_STOP_S + a grace is killed. `local`: the
  sweep's own instance, whose runs also get SIGINT from here."""
  for ref in refs:
    try:
      ray.cancel(ref, force=False)
    except Exception:  # already finished
      pass
  if local:
    _interrupt_local_runs(list(refs.values()))
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


RAY = Executor(check=check_ray_args, run=execute_ray)
