"""Single-process training throughput against the number of environments and seeds, on the
device JAX finds (a GPU where there is one; this machine's CPU otherwise).

python benchmarks/gpu.py [--runs=3] [--envs=64,256,1024] [--seeds=1,4] [--steps=2000000]

For the bandit (configs/bandit_train.py:a3c) and the two-step task (configs/two_step_train.py),
each with `agent.num_envs` in --envs and `num_seeds` in --seeds, one `main.py` run of
--steps env steps per seed (single process: `launch.num_workers=0`, evaluation once at the
end, checkpoints off, rows every --steps / 8). env_steps_per_sec is the aggregate rate (the
seeds' train.csv rates summed per row) over the rows after the first (which holds start-up
and compilation), median over the rows and then over --runs runs; wall_s the whole process.
The device (`jax.devices()[0]`, its kind and platform) names the table:
benchmarks/results/gpu_<platform>.csv. With a GPU, the run's processes allocate its memory
as they need it (metarl.xla_setup.share_accelerators) unless XLA_PYTHON_CLIENT_* says
otherwise.
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from metarl.io import save_csv  # noqa: E402

CONFIGS = {'bandit': 'configs/bandit_train.py:a3c', 'two_step': 'configs/two_step_train.py'}
COLUMNS = ['device', 'platform', 'config', 'num_envs', 'num_seeds', 'runs',
           'env_steps_per_sec', 'per_seed_env_steps_per_sec', 'wall_s', 'per_run']


def device():
  out = subprocess.run([sys.executable, '-c', 'import jax; d = jax.devices()[0]; '
                        'print(d.platform, d.device_kind, sep="|")'],
                       capture_output=True, text=True, check=True, cwd=ROOT)
  platform, kind = out.stdout.strip().split('|')
  return platform, kind


def one_run(config, envs, seeds, steps, work, tag):
  run_dir = os.path.join(work, f'{config}_{envs}_{seeds}_{tag}')
  cmd = [sys.executable, os.path.join(ROOT, 'main.py'), f'--config={CONFIGS[config]}',
         f'--config.run_dir={run_dir}', f'--config.agent.num_envs={envs}',
         f'--config.num_seeds={seeds}', f'--config.total_env_steps={steps}',
         f'--config.log_every_env_steps={steps // 8}', f'--config.eval.every_env_steps={steps}',
         '--config.eval.num_episodes=20', '--config.launch.num_workers=0',
         '--config.launch.num_evaluators=0', '--config.checkpoint_every=0']
  start = time.time()
  result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
  wall = time.time() - start
  if result.returncode != 0:
    raise RuntimeError(f'{" ".join(cmd)} failed:\n{result.stderr[-3000:]}')
  by_row = defaultdict(float)
  with open(os.path.join(run_dir, 'train.csv')) as f:
    for row in csv.DictReader(f):
      by_row[int(row['env_steps'])] += float(row['env_steps_per_sec'])
  rates = [by_row[k] for k in sorted(by_row)][1:]
  return statistics.median(rates), wall


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--runs', type=int, default=3)
  parser.add_argument('--envs', default='64,256,1024')
  parser.add_argument('--seeds', default='1,4')
  parser.add_argument('--steps', type=int, default=2_000_000)
  parser.add_argument('--work', default='')
  args = parser.parse_args()
  platform, kind = device()
  print(f'device: {kind} ({platform})', flush=True)
  work = args.work or tempfile.mkdtemp(prefix='metarl_gpu_')
  results = defaultdict(list)
  grid = [(c, int(e), int(s)) for c in CONFIGS for e in args.envs.split(',')
          for s in args.seeds.split(',')]
  for k in range(args.runs):
    for config, envs, seeds in (grid if k % 2 == 0 else grid[::-1]):
      rate, wall = one_run(config, envs, seeds, args.steps, work, k)
      results[config, envs, seeds].append((rate, wall))
      print(f'run {k + 1}/{args.runs} {config} num_envs={envs} num_seeds={seeds}: '
            f'{rate:,.0f} env-steps/s, {wall:.0f}s', flush=True)
  rows = []
  for (config, envs, seeds), runs in results.items():
    rate = statistics.median(r for r, _ in runs)
    rows.append(dict(device=kind, platform=platform, config=config, num_envs=envs,
                     num_seeds=seeds, runs=len(runs), env_steps_per_sec=round(rate),
                     per_seed_env_steps_per_sec=round(rate / seeds),
                     wall_s=round(statistics.median(w for _, w in runs), 1),
                     per_run=' '.join(f'{r:.0f}' for r, _ in runs)))
  rows.sort(key=lambda r: (r['config'], r['num_envs'], r['num_seeds']))
  out = os.path.join(ROOT, 'benchmarks', 'results', f'gpu_{platform}.csv')
  save_csv(out, rows, COLUMNS)
  widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS}
  print('  '.join(c.ljust(widths[c]) for c in COLUMNS))
  for row in rows:
    print('  '.join(str(row[c]).ljust(widths[c]) for c in COLUMNS))
  print(f'written to {out}; runs in {work}')


if __name__ == '__main__':
  main()
