"""The two launch backends side by side: multiprocessing (mp) and Ray actors (ray).

python benchmarks/backends.py [--runs=3] [--parts=train,echo] [--round_trips=200] [--quick]
                              [--work=DIR]

Each repetition runs every measurement once per backend, mp and ray alternately (the order
flips from one repetition to the next), so both see the same state of this shared machine;
the tables hold the medians over the repetitions.

(a) Training, `python main.py` in a session of its own (checkpoints off):
      bandit_a3c  configs/bandit_train.py, 2 workers + 1 evaluator, 2M env steps
                  (logged every 200k; evaluation of 100 episodes every 1M)
      memory_sac  configs/memory_sac.py, 1 worker + 1 evaluator, 5,000 env steps (logged
                  every 500; warm-ups of 500 steps, so the actor trains in every row)
    Columns of backends.csv: env_steps_per_sec (the steady rate: median of train.csv's
    env_steps_per_sec over the rows after the first, which holds start-up and compilation),
    wall_s (the whole process, start to exit: imports, Ray's start, compilation, training,
    the final evaluation, shutdown), first_row_s (wall_time of the first train.csv row:
    start-up + compilation + one logging period; the manager and the children of both
    backends use XLA's persistent compilation cache, so after the first run they load
    their programs instead of compiling them),
    children_started_s (the log's "training" line to its last "started <child> (pid N)"
    line: for mp, process starts that do not wait for the child; for ray, Ray's start-up
    and each actor's until it answered),
    ray_connect_s (the "connected in" figure RayBackend logs: importing Ray and starting the
    local instance), the ray/mp ratios of the steady rate and the wall time, restarts
    (children replaced, from the log), failed runs (rc != 0; rerun once, left out of the
    medians), processes_left (processes of the run's session, or below its manager,
    still alive 15 s after it exited: must be 0) and load_avg (the 1-minute load average
    during the run, this run's own processes included: a run with a higher one than its
    twin on the other backend shared the machine with more other work).
(b) Param round trips (backends_latency.csv): a small process in its own session starts one
    backend with one child, `echo_child` below, which imports JAX (as a real child does),
    sends a hello, then sends every params message it gets straight back. The manager side
    publishes {'seq', 'params'} and waits for that seq to come back: publish -> receive,
    the payload travelling both ways. Payloads: the bandit A3C network's params (LSTM 48,
    2 arms), the memory SAC actor's params (both built with the configs, numpy, bytes in the
    table) and a 10 MB pytree (10 float32 arrays of 1 MB); 5 unmeasured round trips, then
    `--round_trips` measured per payload. median_ms / p90_ms: the median over the
    repetitions of each repetition's median and 90th percentile.
(c) Ray's overhead (backends_ray_overhead.csv), per backend:
      from (b): start_s (backend.start of the first child: for ray, importing Ray, starting
        the local instance (connect_s = RayBackend.startup_s) and the first actor until its
        pid reply (first_actor_s); for mp, the process start, which does not wait), and
        first_message_s (backend.start to the child's hello: the child is up and has
        imported JAX);
      from (a), sampled every 2 s once a run had written its first train.csv row, median
        over the samples and then the repetitions: manager_rss_mb, child_rss_mb (median
        over the run's workers and evaluator: mp processes or Ray actor processes),
        instance_rss_mb (the sum over every other process of the run: for ray the Ray
        instance, i.e. gcs_server, raylet, the dashboard, dashboard and runtime-env agents,
        log monitor, autoscaler monitor, any idle pre-started Ray worker, and the
        backend's watchdog; for mp the multiprocessing resource tracker), instance_pss_mb
        (the same, proportional set size: shared pages split between the processes that
        map them, so it adds up), instance_processes, total_rss_mb (all of the run's
        processes) and instance_members (what those processes are, in the middle sample of
        the last run). RSS is VmRSS of /proc/PID/status and counts shared pages (JAX's
        libraries) in every process.

(d)-(g) run on Ray clusters of several nodes on this machine: throughput against nodes for
the per-unroll and the batched A3C design, round trips to a child on another node, the
recovery from a lost node and the batched design's learning quality; see
benchmarks/backends_cluster.py (--parts=nodes,latency_nodes,node_loss,quality).

Writes benchmarks/results/backends.csv, backends_latency.csv and backends_ray_overhead.csv
(--quick: a smoke run of small sizes and 1 repetition; its tables go to the work folder)
and prints the tables.
"""

import argparse
import json
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from benchmarks.backends_tables import (  # noqa: E402
  latency_table,
  overhead_table,
  print_table,
  train_table,
)
from launch.backends.ray_instance import (  # noqa: E402
  alive,
  descendants,
  kill_processes,
  process_table,
)
from metarl.io import load_pickle, save_csv  # noqa: E402
from tests.tools import faults  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
BANDIT = os.path.join(ROOT, 'configs', 'bandit_train.py') + ':a3c'  # workers: a3c
MEMORY = os.path.join(ROOT, 'configs', 'memory_sac.py')
BACKENDS = ('mp', 'ray')
OFF = ['--config.checkpoint_every=0']
CONFIGS = {  # name -> (config, workers, evaluators, overrides, quick overrides)
    'bandit_a3c': (BANDIT, 2, 1, [
        '--config.total_env_steps=2000000', '--config.log_every_env_steps=200000',
        '--config.eval.every_env_steps=1000000', '--config.eval.num_episodes=100'], [
        '--config.total_env_steps=400000', '--config.log_every_env_steps=50000',
        '--config.eval.every_env_steps=400000', '--config.eval.num_episodes=50']),
    'memory_sac': (MEMORY, 1, 1, [
        '--config.total_env_steps=5000', '--config.log_every_env_steps=500',
        '--config.eval.every_env_steps=2500', '--config.agent.warmup_steps=500',
        '--config.agent.critic_warmup_steps=500', '--config.agent.actor_warmup_steps=500'], [
        '--config.total_env_steps=1500', '--config.log_every_env_steps=250',
        '--config.eval.every_env_steps=1500', '--config.agent.warmup_steps=250',
        '--config.agent.critic_warmup_steps=250', '--config.agent.actor_warmup_steps=250']),
}
TRAIN_COLUMNS = ['config', 'backend', 'runs', 'env_steps_per_sec', 'steps_per_sec_ratio',
                 'wall_s', 'wall_ratio', 'first_row_s', 'children_started_s',
                 'ray_connect_s', 'total_env_steps', 'workers', 'evaluators', 'restarts',
                 'failed_runs', 'processes_left', 'load_avg', 'per_run']
LATENCY_COLUMNS = ['payload', 'bytes', 'leaves', 'backend', 'round_trips', 'median_ms',
                   'p90_ms', 'median_ratio', 'per_run_median_ms']
OVERHEAD_COLUMNS = ['measured_in', 'backend', 'runs', 'start_s', 'connect_s',
                    'first_actor_s', 'first_message_s', 'manager_rss_mb', 'child_rss_mb',
                    'instance_rss_mb', 'instance_pss_mb', 'instance_processes',
                    'total_rss_mb', 'samples', 'instance_members']
TEN_MB = 10_000_000


# The echo child ----------------------------------------------------------------------------

def echo_child(ctx, config, child_id):
  """Child target: imports JAX (as a worker does), says hello, then sends each params
  message it gets straight back."""
  del config, child_id
  import jax  # noqa: F401  (a real child's start-up includes it)
  if not ctx.send({'kind': 'hello'}):  # a backend carries any picklable message
    return
  while not ctx.should_stop():
    message = ctx.wait_params(0.2)
    if message is not None and not ctx.send(
        {'kind': 'echo', 'seq': message['seq'], 'params': message['params']}):
      return


def _receive_kind(backend, kind, seq=None, timeout=120.0):
  deadline = time.perf_counter() + timeout
  while time.perf_counter() < deadline:
    received = backend.receive(1.0)
    message = received.message if received is not None else None
    if message is not None and message.get('kind') == kind and (
        seq is None or message.get('seq') == seq):
      return message
  raise TimeoutError(f'no {kind} message (seq {seq}) in {timeout}s')


def echo_session(backend_name, payloads_path, round_trips, result_path, address='',
                 node=None):
  """Runs in a process of its own: one backend, one echo child, every payload. With a Ray
  `address` and a `node` index, on that cluster with the child pinned to the node of
  resource node_<node> (`tests.tools.local_cluster`)."""
  import numpy as np

  from configs import bandit_train
  from launch.backends import make_backend
  from launch.backends.base import WORKER, ChildId
  config = bandit_train.get_config('a3c')
  config.launch.backend = backend_name
  config.launch.num_workers = 1
  config.launch.num_evaluators = 0
  config.launch.ray_address = address
  payloads = load_pickle(payloads_path)
  import benchmarks.backends as this  # the target by its importable name, not __main__
  backend = make_backend(config.launch)
  result = dict(backend=backend_name, payloads={})
  try:
    start = time.perf_counter()
    echo = ChildId(WORKER, 0)
    if node is not None:
      pin_to_node(backend, node)
    backend.start(echo, this.echo_child, config)
    if node is not None:
      import ray
      result['same_node'] = backend.nodes[echo] == ray.get_runtime_context().get_node_id()
    result['start_s'] = time.perf_counter() - start
    _receive_kind(backend, 'hello')
    result['first_message_s'] = time.perf_counter() - start
    result['connect_s'] = getattr(backend, 'startup_s', None)
    seq = 0
    for name, params in payloads.items():
      times = []
      for k in range(5 + round_trips):
        seq += 1
        t = time.perf_counter()
        backend.publish(echo, {'seq': seq, 'params': params})
        echoed = _receive_kind(backend, 'echo', seq)
        if k >= 5:
          times.append(time.perf_counter() - t)
      assert all(np.array_equal(a, b) for a, b in zip(echoed['params'].values(),
                                                      params.values(), strict=True)), name
      result['payloads'][name] = times
  finally:
    backend.shutdown()
  with open(result_path, 'w') as f:
    json.dump(result, f)


def pin_to_node(backend, node):
  """Has `backend` (RayBackend, connected here) place its actors on node `node` of a
  LocalCluster instead of spreading them."""
  backend._connect()
  actor_class = backend._actor_class

  class Pinned:
    def options(self, **options):
      options.pop('scheduling_strategy', None)
      return actor_class.options(resources={f'node_{node}': 0.001}, **options)

  backend._actor_class = Pinned()


def make_payloads(path):
  """The numpy params of the bandit A3C network and of the memory SAC actor (flattened to
  {leaf path: array}) and a 10 MB pytree, pickled to `path`; returns {name: (bytes,
  leaves)}."""
  import jax
  import numpy as np

  from configs import bandit_train, memory_sac
  from metarl import envs, io
  from metarl.agents import a3c, rsac

  def flat(tree):
    leaves = jax.tree_util.tree_leaves_with_path(io.to_numpy(tree))
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves}

  key = jax.random.PRNGKey(0)
  config = bandit_train.get_config('a3c')
  bandit = flat(a3c.make_agent(config, envs.make(config.env)).init(key).params)
  config = memory_sac.get_config()
  env = envs.make(config.env)
  networks = rsac.make_networks(config, env)
  learner = rsac.make_learner(networks, rsac.learner_config(config, env), 50)
  sac = flat(learner.init(key).params.actor)
  rng = np.random.default_rng(0)
  big = {f'w{i}': rng.standard_normal(TEN_MB // 40, dtype=np.float32) for i in range(10)}
  payloads = {'bandit_a3c_params': bandit, 'memory_sac_actor': sac, 'pytree_10mb': big}
  with open(path, 'wb') as f:
    pickle.dump(payloads, f)
  return {name: (sum(a.nbytes for a in p.values()), len(p)) for name, p in payloads.items()}


# Processes ------------------------------------------------------------------------------

def run_processes(root):
  """{pid: start time} of the processes of session `root` and those below process `root`
  (Ray may start some of its processes in sessions of their own)."""
  table = process_table()
  found = {p: t for p, (_, sid, t) in table.items() if sid == root}
  found.update(descendants(root, table))
  return found


def reap(seen):
  """Waits up to 15 s for the processes `seen` to end, then kills what is left (they must
  not skew the next run); returns how many were left."""
  deadline = time.time() + 15.0
  while alive(seen) and time.time() < deadline:
    time.sleep(0.25)
  return kill_processes(seen)


def memory_kb(pid):
  """(VmRSS, Pss) of `pid` in kB; (0, 0) once it is gone."""
  rss = pss = 0
  try:
    with open(f'/proc/{pid}/status') as f:
      rss = int(next(line for line in f if line.startswith('VmRSS:')).split()[1])
    with open(f'/proc/{pid}/smaps_rollup') as f:
      pss = int(next(line for line in f if line.startswith('Pss:')).split()[1])
  except (OSError, StopIteration, ValueError):
    pass
  return rss, pss


def short_name(pid):
  """What a process is, in a word (its program, script or Ray process title)."""
  try:
    with open(f'/proc/{pid}/cmdline', 'rb') as f:
      argv = [a.decode(errors='replace') for a in f.read().split(b'\0') if a]
  except OSError:
    return '?'
  if not argv:
    return '?'
  if os.path.basename(argv[0]).startswith('python'):
    for k, arg in enumerate(argv[1:], 1):
      if arg.endswith('.py'):
        return os.path.basename(arg)
      if arg == '-c':
        code = argv[k + 1] if k + 1 < len(argv) else ''
        if 'import watch' in code:
          return 'ray_backend watchdog'
        return 'mp resource_tracker' if 'resource_tracker' in code else 'python -c'
  return os.path.basename(argv[0].split()[0])


def memory_sample(manager_pid, child_pids):
  """One sample of a running run's memory (MB)."""
  processes = run_processes(manager_pid)
  children = [memory_kb(p)[0] for p in child_pids if p in processes]
  others = [memory_kb(p) for p in processes if p != manager_pid and p not in child_pids]
  manager = memory_kb(manager_pid)[0]
  return dict(manager_rss_mb=manager / 1024,
              child_rss_mb=statistics.median(children) / 1024 if children else 0.0,
              instance_rss_mb=sum(r for r, _ in others) / 1024,
              instance_pss_mb=sum(p for _, p in others) / 1024,
              instance_processes=len(others),
              members=sorted(short_name(p) for p in processes
                             if p != manager_pid and p not in child_pids),
              total_rss_mb=(manager + sum(children) + sum(r for r, _ in others)) / 1024)


# Training runs ------------------------------------------------------------------------

def log_seconds(line):
  """Seconds of the day of an absl log line (I1121 22:39:27.898516 ...)."""
  h, m, s = re.match(r'[IWEF]\d{4} (\d+):(\d+):([\d.]+)', line).groups()
  return 3600 * int(h) + 60 * int(m) + float(s)


def read_rows(run_dir):
  import csv
  path = os.path.join(run_dir, 'train.csv')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return list(csv.DictReader(f))


def train_run(name, backend, quick, work, tag):
  """One main.py run, its memory sampled while it trains; a dict of its figures."""
  config, workers, evaluators, overrides, quick_overrides = CONFIGS[name]
  run_dir = os.path.join(work, f'{name}_{backend}_{tag}')
  overrides = ([f'--config.launch.backend={backend}', f'--config.launch.num_workers={workers}',
                f'--config.launch.num_evaluators={evaluators}'] + OFF +
               (quick_overrides if quick else overrides))
  start = time.time()
  proc = faults.start(config, run_dir, overrides)
  seen, samples, loads = {}, [], []
  try:
    next_sample = 0.0
    while proc.poll() is None:
      seen.update(run_processes(proc.pid))
      loads.append(os.getloadavg()[0])
      now = time.time()
      if now >= next_sample and read_rows(run_dir):
        pids = set(faults.children(run_dir).values())
        if len(pids) == workers + evaluators:
          samples.append(memory_sample(proc.pid, pids))
          next_sample = now + 2.0
      time.sleep(0.5)
    wall = time.time() - start
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, 9)
      proc.wait()
  left = reap(seen)
  rows = read_rows(run_dir)
  log = faults.log_text(run_dir).splitlines()
  started = [log_seconds(x) for x in log if re.search(r'\] started \S+ \(pid \d+\)', x)]
  training = [log_seconds(x) for x in log if '] training ' in x]
  connect = re.findall(r'connected in ([\d.]+)s', '\n'.join(log))
  result = dict(
      rc=proc.returncode, wall_s=wall, left=left, restarts=faults.restarts(run_dir),
      rate=(statistics.median(float(r['env_steps_per_sec']) for r in rows[1:])
            if len(rows) > 1 else float('nan')),
      first_row_s=float(rows[0]['wall_time']) if rows else float('nan'),
      children_started_s=(started[workers + evaluators - 1] - training[0]
                          if training and len(started) >= workers + evaluators
                          else float('nan')),
      connect_s=float(connect[0]) if connect else float('nan'),
      total=int(rows[-1]['env_steps']) if rows else 0, samples=samples,
      load=statistics.mean(loads) if loads else float('nan'))
  if result['rc'] != 0:
    result['error'] = faults.stderr_of(run_dir)[-1500:]
  return result


def echo_run(backend, payloads_path, round_trips, work, tag, address='', node=None,
             env=None):
  """`echo_session` in a fresh process in its own session; its result dict."""
  result_path = os.path.join(work, f'echo_{backend}_{tag}.json')
  err_path = result_path + '.stderr'
  cluster_args = [f'--ray_address={address}', f'--node={node}'] if address else []
  with open(err_path, 'w') as err:
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), f'--echo_session={backend}',
         f'--payloads={payloads_path}', f'--round_trips={round_trips}',
         f'--result={result_path}', *cluster_args],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True, env=env)
  seen = {}
  try:
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline:
      seen.update(run_processes(proc.pid))
      time.sleep(0.25)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, 9)
      proc.wait()
  left = reap(seen)
  if proc.returncode != 0:
    with open(err_path) as f:
      raise RuntimeError(f'echo session ({backend}) failed:\n{f.read()[-3000:]}')
  with open(result_path) as f:
    result = json.load(f)
  result['left'] = left
  return result


def cluster_parts(parts, runs, args, work, out, payloads_path, sizes, began):
  """Parts (d)-(g), on clusters of several Ray nodes on this machine; each table is
  printed and written as soon as its part is done."""
  from benchmarks import backends_cluster as cluster

  def log(text):
    print(f'[{time.time() - began:6.0f}s] {text}', flush=True)

  def write(name, rows, columns):
    print_table(rows, columns)
    save_csv(os.path.join(out, name), rows, columns)

  if 'nodes' in parts:
    write('backends_nodes.csv', cluster.nodes_part(runs, work, log), cluster.NODES_COLUMNS)
  if 'latency_nodes' in parts:
    samples = cluster.latency_part(runs, work, payloads_path, args.round_trips, echo_run, log)
    write('backends_latency_nodes.csv', cluster.latency_table(samples, sizes),
          cluster.LATENCY_COLUMNS)
  if 'node_loss' in parts:
    write('backends_node_loss.csv', cluster.node_loss_part(runs, work, log),
          cluster.LOSS_COLUMNS)
  if 'quality' in parts:
    write('backends_quality.csv', cluster.quality_part(args.quality_seeds, work, log),
          cluster.QUALITY_COLUMNS)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--runs', type=int, default=3)
  parser.add_argument('--parts', default='train,echo', help='train (a, c memory), echo (b, c '
                      'start-up), and on a cluster of nodes on this machine '
                      '(benchmarks/backends_cluster.py): nodes (d), latency_nodes (e), '
                      'node_loss (f), quality (g); comma-separated')
  parser.add_argument('--quality_seeds', type=int, default=3, help='(g): seeds per design')
  parser.add_argument('--round_trips', type=int, default=200)
  parser.add_argument('--quick', action='store_true',
                      help='smoke run: small runs, 1 repetition, 20 round trips')
  parser.add_argument('--work', default='', help='folder for the runs (default: a temp dir)')
  parser.add_argument('--echo_session', help=argparse.SUPPRESS)
  parser.add_argument('--payloads', help=argparse.SUPPRESS)
  parser.add_argument('--result', help=argparse.SUPPRESS)
  parser.add_argument('--ray_address', default='', help=argparse.SUPPRESS)
  parser.add_argument('--node', type=int, default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.echo_session:
    echo_session(args.echo_session, args.payloads, args.round_trips, args.result,
                 args.ray_address, args.node)
    return
  parts = set(args.parts.split(','))
  known = {'train', 'echo', 'nodes', 'latency_nodes', 'node_loss', 'quality'}
  if parts - known:
    parser.error(f'unknown parts {sorted(parts - known)}')
  runs, round_trips = (1, 20) if args.quick else (args.runs, args.round_trips)
  work = args.work or tempfile.mkdtemp(prefix='metarl_backends_')
  os.makedirs(work, exist_ok=True)
  out = work if args.quick else RESULTS
  sizes, payloads_path = {}, os.path.join(work, 'payloads.pickle')
  if parts & {'echo', 'latency_nodes'}:
    sizes = make_payloads(payloads_path)
    print('payloads:', {k: f'{b:,} bytes in {n} arrays' for k, (b, n) in sizes.items()},
          flush=True)
  results, echoes = {}, {}
  began = time.time()
  for k in range(runs):
    order = BACKENDS if k % 2 == 0 else BACKENDS[::-1]
    if 'train' in parts:
      for name in CONFIGS:
        for backend in order:
          print(f'[{time.time() - began:6.0f}s] run {k + 1}/{runs}: {name} on {backend} ...',
                flush=True)
          result = train_run(name, backend, args.quick, work, k)
          if result['rc'] != 0:  # once more; the failure is counted in the table
            print(f"  failed (rc {result['rc']}):\n{result['error']}\n  running it again",
                  flush=True)
            results.setdefault((name, backend), []).append(result)
            result = train_run(name, backend, args.quick, work, f'{k}_again')
          results.setdefault((name, backend), []).append(result)
          print(f"  rc={result['rc']} {result['rate']:,.0f} env-steps/s, "
                f"{result['wall_s']:.1f}s, load {result['load']:.1f}, "
                f"{len(result['samples'])} memory samples, "
                f"{result['restarts']} restarts, {result['left']} processes left",
                flush=True)
    if 'echo' in parts:
      for backend in order:
        print(f'[{time.time() - began:6.0f}s] run {k + 1}/{runs}: round trips on {backend} ...',
              flush=True)
        echo = echo_run(backend, payloads_path, round_trips, work, k)
        echoes.setdefault(backend, []).append(echo)
        medians = ', '.join(f'{n} {1000 * statistics.median(t):.2f}'
                            for n, t in echo['payloads'].items())
        print(f"  start {echo['start_s']:.2f}s, first message {echo['first_message_s']:.2f}s; "
              f"median ms: {medians}; {echo['left']} processes left", flush=True)
  os.makedirs(out, exist_ok=True)
  cluster_parts(parts, runs, args, work, out, payloads_path, sizes, began)
  print(f'done in {time.time() - began:.0f}s; runs in {work}\n')
  if results:
    rows = train_table(results, CONFIGS, BACKENDS)
    print_table(rows, TRAIN_COLUMNS)
    save_csv(os.path.join(out, 'backends.csv'), rows, TRAIN_COLUMNS)
  if echoes:
    rows = latency_table(echoes, sizes, BACKENDS)
    print_table(rows, LATENCY_COLUMNS)
    save_csv(os.path.join(out, 'backends_latency.csv'), rows, LATENCY_COLUMNS)
  rows = overhead_table(echoes, results, CONFIGS, BACKENDS)
  if rows:
    print_table(rows, OVERHEAD_COLUMNS)
    save_csv(os.path.join(out, 'backends_ray_overhead.csv'), rows, OVERHEAD_COLUMNS)
  left = sum(x['left'] for v in results.values() for x in v)
  left += sum(e['left'] for v in echoes.values() for e in v)
  print(f'processes left behind by the runs (killed): {left}')


if __name__ == '__main__':
  main()
