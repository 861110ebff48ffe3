"""The Ray backend across nodes: the parts of `benchmarks/backends.py` that run on a Ray
cluster of several nodes on this machine (`tests.tools.local_cluster.LocalCluster`: a
head and worker nodes, each its own `ray start` with its own raylet, object store, temp dir
and resources, token authentication; the nodes share this machine's 2 cores, so more nodes
add processes, not compute).

python benchmarks/backends.py --parts=nodes,latency_nodes,node_loss,quality [--runs=3]

(d) nodes (backends_nodes.csv): bandit A3C (configs/bandit_train.py, 2 workers + 1
    evaluator, 3M env steps, logged every 200k, 100 evaluation episodes every 1M) on the mp
    backend (1 node) and on Ray clusters of 1, 2 and 3 nodes (children spread by Ray's
    SPREAD placement; 1 node of 4 CPUs, else 2 CPUs per node), for the per-unroll design
    (launch.unrolls_per_message = 1: one gradient per message) and the batched one (16
    unrolls per message: each worker updates its copy of the training state after each
    unroll and sends the 16 gradients, which the manager applies in order). Within a
    repetition every layout runs both designs, layouts in turn (the order flips from one
    repetition to the next).
    env_steps_per_sec: median over the repetitions of each run's steady rate (median of
    train.csv's env_steps_per_sec after the first row); ratio_to_mp: against mp with the
    same design; ratio_to_mp_per_unroll: against mp's per-unroll design (the backend as it
    was); messages_per_sec: env steps/s / the env steps of one message; nodes_used: the
    distinct nodes the children ran on (from the log); regret: the median final
    mean_cumulative_regret (3M steps is not a trained agent: random play scores 16.7).
(e) latency_nodes (backends_latency_nodes.csv): the params round trip of part (b) (publish
    -> an echo child sends them back -> received) on a 3-node cluster, the echo child
    pinned to each node in turn: 'same node' (the manager's) and 'other node' rows, for the
    bandit A3C params (40 kB) and a 10 MB pytree; median and 90th percentile over the round
    trips, median over the repetitions.
(f) node_loss (backends_node_loss.csv): on a fresh 3-node cluster per repetition, a
    bandit A3C run (as (d), 6M env steps, checkpoints every 1M) loses a node: once it has
    written its first train.csv row, the raylet of a node with a child on it (not the
    manager's) is SIGKILLed. From the log: noticed_s (kill to the failure's log line),
    replaced_s (kill to the replacement's 'started' line), training_again_s (kill to the
    replacement's first message), restarts, and whether the run finished (rc 0, eval.csv
    at its budget).
(g) quality (backends_quality.csv): the default bandit config (20M env steps) trained to
    the end by 2 workers + 1 evaluator on the 3-node cluster, per-unroll and batched, one
    run per seed; the final regret and its ratio to the Bayes-optimal player's 1.69, next
    to the single-process default's figures of docs/benchmarks.md (3.06 / 3.23 / 3.83).
"""

import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

from tests.tools import faults
from tests.tools.local_cluster import LocalCluster

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANDIT = os.path.join(ROOT, 'configs', 'bandit_train.py') + ':a3c'  # workers: a3c
DESIGNS = {'per_unroll': 1, 'batched': 16}
LAYOUTS = {'mp': None, 'ray_1_node': (1, 4), 'ray_2_nodes': (2, 2), 'ray_3_nodes': (3, 2)}
UNROLL_STEPS = 640  # env steps behind one gradient: 64 envs x 10 steps (bandit_train.py)
RUN = ['--config.launch.num_workers=2', '--config.launch.num_evaluators=1',
       '--config.total_env_steps=3000000', '--config.log_every_env_steps=200000',
       '--config.eval.every_env_steps=1000000', '--config.eval.num_episodes=100',
       '--config.checkpoint_every=0']
# from docs/benchmarks.md: the exact Bayes-optimal player on two independent arms, and the
# default config's single process, seeds 0 / 1 / 2
BAYES_OPTIMAL_REGRET = 1.69
SINGLE_PROCESS_REGRET = '3.06 / 3.23 / 3.83'
NODES_COLUMNS = ['layout', 'nodes', 'design', 'unrolls_per_message', 'runs',
                 'env_steps_per_sec', 'ratio_to_mp', 'ratio_to_mp_per_unroll',
                 'messages_per_sec', 'nodes_used', 'regret', 'failed_runs', 'per_run']
LATENCY_COLUMNS = ['payload', 'bytes', 'where', 'round_trips', 'median_ms', 'p90_ms',
                   'per_run_median_ms']
LOSS_COLUMNS = ['design', 'run', 'noticed_s', 'replaced_s', 'training_again_s', 'restarts',
                'finished', 'final_env_steps', 'wall_s']
QUALITY_COLUMNS = ['design', 'seed', 'regret', 'ratio_to_bayes_optimal', 'env_steps_per_sec',
                   'wall_s', 'nodes_used', 'single_process_regret']


def _rows(path):
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return list(csv.DictReader(f))


def _med(values):
  values = [v for v in values if v == v]
  return statistics.median(values) if values else float('nan')


def train(run_dir, overrides, cluster=None, background=False):
  """main.py on the bandit config (on `cluster` if given): its figures, or the process."""
  cmd = [sys.executable, os.path.join(ROOT, 'main.py'), f'--config={BANDIT}',
         f'--config.run_dir={run_dir}'] + list(overrides)
  if cluster is not None:
    cmd += ['--config.launch.backend=ray', f'--config.launch.ray_address={cluster.address}']
  env = cluster.env if cluster is not None else None
  shutil.rmtree(run_dir, ignore_errors=True)  # an earlier benchmark's run of the same name
  err = open(run_dir + '.stderr', 'w')
  proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
                          start_new_session=True)
  if background:
    return proc
  start = time.time()
  proc.wait()
  return figures(run_dir, proc.returncode, time.time() - start)


def figures(run_dir, rc, wall):
  rows = _rows(os.path.join(run_dir, 'train.csv'))
  evals = _rows(os.path.join(run_dir, 'eval.csv'))
  return dict(rc=rc, wall_s=wall,
              rate=_med([float(r['env_steps_per_sec']) for r in rows[1:]]),
              regret=float(evals[-1]['mean_cumulative_regret']) if evals else float('nan'),
              final=int(evals[-1]['env_steps']) if evals else 0,
              nodes=len(set(faults.child_nodes(run_dir).values())) or 1)


# (d) throughput against nodes ------------------------------------------------------------

def nodes_part(runs, work, log):
  results = {}
  for k in range(runs):
    layouts = list(LAYOUTS) if k % 2 == 0 else list(LAYOUTS)[::-1]
    for layout in layouts:
      cluster = LocalCluster(*LAYOUTS[layout]) if LAYOUTS[layout] else None
      try:
        for design, unrolls in DESIGNS.items():
          run_dir = os.path.join(work, f'nodes_{layout}_{design}_{k}')
          result = train(run_dir, RUN + [f'--config.launch.unrolls_per_message={unrolls}'],
                         cluster)
          results.setdefault((layout, design), []).append(result)
          log(f'{layout} {design}: rc {result["rc"]}, {result["rate"]:,.0f} env-steps/s, '
              f'{result["nodes"]} nodes used, regret {result["regret"]:.2f}')
      finally:
        if cluster is not None:
          cluster.stop()
  table = []
  for layout, shape in LAYOUTS.items():
    for design, unrolls in DESIGNS.items():
      runs_ = results.get((layout, design), [])
      ok = [x for x in runs_ if x['rc'] == 0]
      rate = _med([x['rate'] for x in ok])
      mp = _med([x['rate'] for x in results.get(('mp', design), []) if x['rc'] == 0])
      mp1 = _med([x['rate'] for x in results.get(('mp', 'per_unroll'), []) if x['rc'] == 0])
      table.append(dict(
          layout=layout, nodes=shape[0] if shape else 1, design=design,
          unrolls_per_message=unrolls, runs=len(ok), env_steps_per_sec=round(rate),
          ratio_to_mp=round(rate / mp, 3), ratio_to_mp_per_unroll=round(rate / mp1, 3),
          messages_per_sec=round(rate / (unrolls * UNROLL_STEPS), 1),
          nodes_used=' '.join(str(x['nodes']) for x in ok),
          regret=round(_med([x['regret'] for x in ok]), 2), failed_runs=len(runs_) - len(ok),
          per_run=' '.join(f"{x['rate']:.0f}/s" if x['rc'] == 0 else f"rc={x['rc']}"
                           for x in runs_)))
  return table


# (e) latency across nodes ----------------------------------------------------------------

def latency_part(runs, work, payloads_path, round_trips, echo_run, log):
  """echo_run(backend, payloads, round_trips, work, tag, address=, node=, env=) of
  backends.py, the child pinned to node 0, 1 and 2 of a 3-node cluster in turn."""
  samples = {}  # (payload, where) -> [list of round-trip seconds per run]
  for k in range(runs):
    cluster = LocalCluster(3, 2)
    try:
      for node in (0, 1, 2):
        echo = echo_run('ray', payloads_path, round_trips, work, f'n{node}_{k}',
                        address=cluster.address, node=node, env=cluster.env)
        where = 'same node' if echo['same_node'] else 'other node'
        for name, times in echo['payloads'].items():
          samples.setdefault((name, where), []).append(times)
        log(f'echo on node {node} ({where}): ' + ', '.join(
            f'{n} {1000 * statistics.median(t):.2f} ms' for n, t in echo['payloads'].items()))
    finally:
      cluster.stop()
  return samples


def latency_table(samples, sizes):
  table = []
  for (name, where), runs in sorted(samples.items()):
    medians = [1000 * statistics.median(t) for t in runs]
    p90s = [1000 * sorted(t)[int(0.9 * (len(t) - 1))] for t in runs]
    table.append(dict(payload=name, bytes=sizes[name][0], where=where,
                      round_trips=sum(len(t) for t in runs),
                      median_ms=round(_med(medians), 3), p90_ms=round(_med(p90s), 3),
                      per_run_median_ms=' '.join(f'{m:.3f}' for m in medians)))
  return table


# (f) a node lost mid-run ------------------------------------------------------------------

def _log_time(run_dir, pattern, after):
  """Seconds of the day of the first log line matching `pattern` at or after `after`."""
  for line in faults.log_text(run_dir).splitlines():
    if re.search(pattern, line):
      h, m, s = re.match(r'[IWEF]\d{4} (\d+):(\d+):([\d.]+)', line).groups()
      t = 3600 * int(h) + 60 * int(m) + float(s)
      if t >= after:
        return t
  return float('nan')


def node_loss_part(runs, work, log):
  table = []
  for k in range(runs):
    for design, unrolls in DESIGNS.items():
      run_dir = os.path.join(work, f'loss_{design}_{k}')
      with LocalCluster(3, 2) as cluster:
        overrides = [o for o in RUN if 'total_env_steps' not in o and 'checkpoint' not in o]
        start = time.time()
        proc = train(run_dir, overrides + [
            '--config.total_env_steps=6000000', '--config.checkpoint_every=1000000',
            f'--config.launch.unrolls_per_message={unrolls}'], cluster, background=True)
        try:
          faults.wait_for(lambda d=run_dir: len(_rows(os.path.join(d, 'train.csv'))) >= 1, 300,
                          'training')
          lost, victims = cluster.node_to_lose(run_dir)
          killed = time.time()
          cluster.kill_node(lost)
          proc.wait(timeout=900)
        finally:
          if proc.poll() is None:
            proc.kill()
        clock = time.localtime(killed)  # the log's times are seconds of the local day
        day = 3600 * clock.tm_hour + 60 * clock.tm_min + clock.tm_sec + killed % 1
        noticed = _log_time(run_dir, 'died: its Ray actor is gone', day - 1)
        replaced = _log_time(run_dir, rf'started ({"|".join(victims)}) \(pid', day - 1)
        again = _log_time(run_dir, rf'first message from ({"|".join(victims)})', day - 1)
        result = figures(run_dir, proc.returncode, time.time() - start)
        row = dict(design=design, run=k, noticed_s=round(noticed - day, 2),
                   replaced_s=round(replaced - day, 2),
                   training_again_s=round(again - day, 2),
                   restarts=faults.restarts(run_dir),
                   finished=result['rc'] == 0 and result['final'] >= 6_000_000,
                   final_env_steps=result['final'], wall_s=round(result['wall_s'], 1))
        table.append(row)
        log(f'node loss, {design}: {row}')
  return table


# (g) learning quality ------------------------------------------------------------------

def quality_part(seeds, work, log):
  table = []
  with LocalCluster(3, 2) as cluster:
    for seed in range(seeds):
      for design, unrolls in DESIGNS.items():
        run_dir = os.path.join(work, f'quality_{design}_{seed}')
        result = train(run_dir, [
            f'--config.seed={seed}', '--config.launch.num_workers=2',
            '--config.launch.num_evaluators=1', '--config.checkpoint_every=0',
            f'--config.launch.unrolls_per_message={unrolls}'], cluster)
        table.append(dict(design=design, seed=seed, regret=round(result['regret'], 2),
                          ratio_to_bayes_optimal=round(result['regret'] / BAYES_OPTIMAL_REGRET,
                                                       2),
                          env_steps_per_sec=round(result['rate']),
                          wall_s=round(result['wall_s'], 1), nodes_used=result['nodes'],
                          single_process_regret=SINGLE_PROCESS_REGRET))
        log(f'quality, {design}, seed {seed}: rc {result["rc"]}, {table[-1]}')
  return table
