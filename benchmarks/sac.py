"""Recurrent SAC benchmark (issue 5): pendulum against RLtools, the memory task, partially
observed pendulum, and throughput with worker processes.

python benchmarks/sac.py [--parts=a,b,c,d] [--parallel=2] [--memory_sweep=DIR]
                         [--hidden_sweep=DIR]

(a) Pendulum, full observation, configs/pendulum_sac.py as is (MLP 64x64, batch 100,
    10,000 env steps), seeds 0-4 one after another: process wall time (start to exit) with
    no compilation cache (cold: every program compiled) and with a warm one (warm_wall_s),
    the compile time of the training call the trainer logs (cold), and the final mean
    return (10 deterministic episodes).
    RLtools: 4.4 s on this machine with MKL (24 s without), about -140.
(b) Memory H=10, configs/memory_sac.py (200,000 steps), seeds 0-2 with launch/sweep.py:
    seed 004's accuracy (200 random 50-step sequences) and mean return at the end, wall time.
(c) Pendulum with the velocity hidden, GRU, 50,000 steps (the overrides in HIDDEN below),
    seeds 0-2 with launch/sweep.py: final mean return.
(d) Memory config for 12,000 env steps (actor trained from step 1,000) with 0, 1 and 2
    workers: steady env-steps/s (median of the train.csv rows after the first, which holds
    start-up and compilation).
A finished sweep directory can be given for (b) or (c) instead of running it again.
Prints a table; writes benchmarks/results/sac.csv (one row per run and one per summary).
"""

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from metarl.io import save_csv  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results', 'sac.csv')
PENDULUM = os.path.join(ROOT, 'configs', 'pendulum_sac.py')
MEMORY = os.path.join(ROOT, 'configs', 'memory_sac.py')
SWEEP = os.path.join(ROOT, 'launch', 'sweep.py')
HIDDEN = ['env.observe_velocity=False', 'total_env_steps=50000', 'network.core=gru',
          'network.torso_sizes=(64,)', 'network.hidden_sizes=(64,)',
          'agent.batch_size=32', 'replay.sequence_length=20', 'replay.capacity=50000',
          'eval.every_env_steps=10000', 'log_every_env_steps=5000']
COLUMNS = ['part', 'run', 'seed', 'wall_s', 'warm_wall_s', 'compile_s', 'env_steps',
           'mean_return',
           'accuracy', 'env_steps_per_sec']


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def main_py(run_dir, config, overrides, seed, cache=''):
  """Runs main.py; returns its wall time. `cache`: the XLA compilation cache folder
  ('' : none, every program compiled afresh)."""
  start = time.time()
  subprocess.run([sys.executable, os.path.join(ROOT, 'main.py'), f'--config={config}',
                  f'--config.run_dir={run_dir}', f'--config.seed={seed}',
                  *[f'--config.{o}' for o in overrides]],
                 check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                 env=dict(os.environ, METARL_COMPILATION_CACHE=cache))
  return time.time() - start


def compile_seconds(run_dir):
  with open(os.path.join(run_dir, 'log.txt')) as f:
    found = re.findall(r'compiled the training call .* in ([0-9.]+)s', f.read())
  return sum(float(x) for x in found)


def steady_rate(run_dir):
  rows = read_csv(os.path.join(run_dir, 'train.csv'))[1:]
  return statistics.median(float(r['env_steps_per_sec']) for r in rows) if rows else 0.0


def part_a(tmp):
  rows = []
  cache = os.path.join(tmp, 'xla_cache')
  for seed in range(5):
    run_dir = os.path.join(tmp, f'pendulum_{seed}')
    wall = main_py(run_dir, PENDULUM, [], seed)  # cold: everything compiled
    warm = main_py(run_dir + '_warm', PENDULUM, [], seed, cache=cache)
    if seed == 0:  # the first cached run filled the cache
      warm = main_py(run_dir + '_warm2', PENDULUM, [], seed, cache=cache)
    final = read_csv(os.path.join(run_dir, 'eval.csv'))[-1]
    rows.append(dict(part='a_pendulum_mlp_10k', run='seed', seed=seed, wall_s=wall,
                     warm_wall_s=warm,
                     compile_s=compile_seconds(run_dir), env_steps=int(final['env_steps']),
                     mean_return=float(final['mean_return']),
                     env_steps_per_sec=steady_rate(run_dir)))
    print(rows[-1], flush=True)
  good = sum(r['mean_return'] >= -200 for r in rows)
  rows.append(dict(part='a_pendulum_mlp_10k', run=f'median (>= -200: {good} of 5)',
                   wall_s=statistics.median(r['wall_s'] for r in rows),
                   warm_wall_s=statistics.median(r['warm_wall_s'] for r in rows),
                   compile_s=statistics.median(r['compile_s'] for r in rows),
                   mean_return=statistics.median(r['mean_return'] for r in rows)))
  return rows


def sweep(out, config, overrides, seeds, parallel):
  if not os.path.isfile(os.path.join(out, 'runs.csv')):
    subprocess.run([sys.executable, SWEEP, f'--config={config}', f'--seeds={seeds}',
                    f'--parallel={parallel}', '--metric=mean_return', f'--out={out}',
                    *[f'--set={o}' for o in overrides]], check=True, cwd=ROOT)
  return read_csv(os.path.join(out, 'runs.csv'))


def sweep_rows(part, runs, threshold_field, threshold):
  rows = []
  for run in runs:
    final = read_csv(os.path.join(run['run_dir'], 'eval.csv'))[-1]
    rows.append(dict(part=part, run='seed', seed=int(run['seed']),
                     wall_s=float(run['wall_s']), compile_s=compile_seconds(run['run_dir']),
                     env_steps=int(final['env_steps']),
                     mean_return=float(final['mean_return']),
                     accuracy=float(final['accuracy']) if 'accuracy' in final else '',
                     env_steps_per_sec=steady_rate(run['run_dir'])))
    print(rows[-1], flush=True)
  good = sum(r[threshold_field] >= threshold for r in rows)
  rows.append(dict(part=part, run=f'median ({threshold_field} >= {threshold}: {good} of '
                   f'{len(rows)})', wall_s=statistics.median(r['wall_s'] for r in rows),
                   mean_return=statistics.median(r['mean_return'] for r in rows),
                   accuracy=(statistics.median(r['accuracy'] for r in rows)
                             if rows[0]['accuracy'] != '' else '')))
  return rows


def part_d(tmp):
  rows = []
  for workers in (0, 1, 2):
    run_dir = os.path.join(tmp, f'workers_{workers}')
    wall = main_py(run_dir, MEMORY, ['total_env_steps=12000', 'log_every_env_steps=1000',
                                     'eval.every_env_steps=12000',
                                     'agent.actor_warmup_steps=1000',
                                     f'launch.num_workers={workers}'], 0)
    rows.append(dict(part='d_memory_throughput', run=f'{workers} workers', seed=0,
                     wall_s=wall, env_steps=12000, env_steps_per_sec=steady_rate(run_dir)))
    print(rows[-1], flush=True)
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--parts', default='a,b,c,d')
  parser.add_argument('--parallel', type=int, default=2)
  parser.add_argument('--memory_sweep', default='')
  parser.add_argument('--hidden_sweep', default='')
  args = parser.parse_args()
  parts = args.parts.split(',')
  stamp = time.strftime('%Y%m%d_%H%M%S')
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    if 'a' in parts:
      rows += part_a(tmp)
    if 'b' in parts:
      out = args.memory_sweep or os.path.join(ROOT, 'runs', f'{stamp}_bench_memory_sac')
      rows += sweep_rows('b_memory_h10_200k', sweep(out, MEMORY, [], 3, args.parallel),
                         'accuracy', 0.9)
    if 'c' in parts:
      out = args.hidden_sweep or os.path.join(ROOT, 'runs', f'{stamp}_bench_pendulum_gru')
      rows += sweep_rows('c_pendulum_hidden_gru_50k',
                         sweep(out, PENDULUM, HIDDEN, 3, args.parallel), 'mean_return', -300)
    if 'd' in parts:
      rows += part_d(tmp)
  old = [r for r in read_csv(RESULTS) if r['part'][0] not in ''.join(parts)] if (
      os.path.isfile(RESULTS)) else []
  save_csv(RESULTS, old + rows, COLUMNS)
  print(f'\n{"part":28s} {"run":34s} {"wall_s":>8s} {"warm_s":>8s} {"compile":>8s} '
        f'{"return":>9s} '
        f'{"acc":>6s} {"steps/s":>8s}')
  for r in old + rows:
    def num(k, fmt):
      v = r.get(k, '')
      return format(float(v), fmt) if v not in ('', None) else '-'
    print(f'{r["part"]:28s} {str(r["run"]) + " " + str(r.get("seed", "")):34s} '
          f'{num("wall_s", "8.1f")} {num("warm_wall_s", "8.1f")} {num("compile_s", "8.2f")} '
          f'{num("mean_return", "9.1f")} '
          f'{num("accuracy", "6.3f")} {num("env_steps_per_sec", "8.0f")}')
  print(f'written to {RESULTS}')


if __name__ == '__main__':
  main()
