"""Long-memory policy gradients on the class-query task (S. Bartunov's lecture).

python benchmarks/long_memory.py [--variants=a,b,...] [--seeds=0,1,2] [--parallel=2]
                                 [--runs=DIR] [--table=NAME]

Trains configs/class_query.py (delay 100, noise 1.0, 5 cue steps, LSTM 32, A2C with 32
envs, 20M env steps, learning rate 1e-3 decaying linearly to 0) in these variants, each
for every seed, and reads the success rate at delay 100 over training from eval.csv (the
curriculum's `target_success`, or `success` when there is no curriculum):

  curriculum        the config as is: curriculum 1 -> 100, separate value core, Psi_t = r_t
                    ('immediate'), whole episodes in one chunk
  no_curriculum     curriculum off: delay 100 from the first step
  shared            curriculum, one LSTM for policy and value
  gae               curriculum, GAE(0.95) advantages with the learned value
  mc                curriculum, Monte-Carlo returns without a baseline
  truncated         curriculum, truncated BPTT: 26-step chunks that continue the episodes
  ppo               curriculum, recurrent PPO (the config's ppo settings: 106-step rollouts
                    that continue the episodes, gamma 0: each action's advantage is its
                    reward less the value, normalised per batch; 2 epochs x 2 minibatches)

Per run: wall time (process start to exit); `first_95_s`, the first wall time at which any
evaluation at delay 100 reached 95% success (often while training at short delays: the
memory they teach carries over); `target_95_s` / `target_95_steps`, the first evaluation
made while training at delay 100 itself with >= 95% success (the curriculum done); and the
final success (mean of the last three evaluations, 1,500 episodes; `solved` if >= 95%).
Runs go `--parallel` at a time (2 share this machine's two cores, so each runs slower than
alone). `--runs=DIR` keeps the run directories there and reuses the finished ones. Prints a
table; writes benchmarks/results/long_memory.csv and long_memory.png (success at delay 100
against env steps, one panel per variant, one line per seed), or TABLE.csv and TABLE.png
with --table=TABLE (the committed long_memory_ppo.* are `--variants=ppo
--table=long_memory_ppo`).
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from metarl.io import save_csv  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
CONFIG = os.path.join(ROOT, 'configs', 'class_query.py')
VARIANTS = {
    'curriculum': [],
    'no_curriculum': ['curriculum.enabled=False'],
    'shared': ['network.value_core=shared'],
    'gae': ['agent.advantage=gae'],
    'mc': ['agent.advantage=mc'],
    'truncated': ['agent.unroll_length=26', 'agent.reset_each_unroll=False'],
    # recurrent PPO with the config's ppo settings (configs/class_query.py:ppo)
    'ppo': ['agent.name=ppo'],
}
SOLVED = 0.95
TARGET = 100  # env.delay of configs/class_query.py
COLUMNS = ['variant', 'seed', 'runs', 'solved', 'wall_s', 'first_95_s', 'target_95_s',
           'target_95_steps', 'final_success', 'final_delay', 'env_steps_per_sec']


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def success_curve(run_dir):
  """[(env_steps, wall_time, delay, success at the target delay)] from eval.csv."""
  rows = read_csv(os.path.join(run_dir, 'eval.csv'))
  key = 'target_success' if rows and 'target_success' in rows[0] else 'success'
  return [(int(r['env_steps']), float(r['wall_time']), int(r.get('delay') or TARGET),
           float(r[key])) for r in rows]


def summarize_run(variant, seed, run_dir):
  curve = success_curve(run_dir)
  with open(os.path.join(run_dir, 'wall_s.txt')) as f:
    wall = float(f.read())
  first = next((t for _, t, _, s in curve if s >= SOLVED), None)
  at_target = next(((steps, t) for steps, t, delay, s in curve
                    if delay == TARGET and s >= SOLVED), (None, None))
  final = statistics.mean(s for *_, s in curve[-3:])
  rates = [float(r['env_steps_per_sec']) for r in read_csv(
      os.path.join(run_dir, 'train.csv'))[1:]]
  return dict(variant=variant, seed=seed, runs=1, solved=int(final >= SOLVED),
              wall_s=round(wall, 1), first_95_s=None if first is None else round(first, 1),
              target_95_s=None if at_target[1] is None else round(at_target[1], 1),
              target_95_steps=at_target[0], final_success=round(final, 4),
              final_delay=curve[-1][2], env_steps_per_sec=round(statistics.median(rates)))


def start(run_dir, overrides, seed):
  cmd = [sys.executable, os.path.join(ROOT, 'main.py'), f'--config={CONFIG}',
         f'--config.run_dir={run_dir}', f'--config.seed={seed}',
         *[f'--config.{o}' for o in overrides]]
  log = open(run_dir + '.log', 'w')
  return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log


def run_all(jobs, parallel):
  """Runs (run_dir, overrides, seed) jobs, `parallel` at a time; writes each wall time."""
  pending, running = list(jobs), []
  while pending or running:
    while pending and len(running) < parallel:
      run_dir, overrides, seed = pending.pop(0)
      proc, log = start(run_dir, overrides, seed)
      running.append((run_dir, proc, log, time.time()))
      print(f'started {os.path.basename(run_dir)}', flush=True)
    time.sleep(1.0)
    for item in list(running):
      run_dir, proc, log, t0 = item
      if proc.poll() is None:
        continue
      running.remove(item)
      log.close()
      if proc.returncode:
        raise SystemExit(f'{run_dir} failed (exit {proc.returncode}); see {run_dir}.log')
      with open(os.path.join(run_dir, 'wall_s.txt'), 'w') as f:
        f.write(f'{time.time() - t0:.2f}')
      print(f'finished {os.path.basename(run_dir)} in {time.time() - t0:.0f}s', flush=True)


def plot(rows_by_run, path):
  """One panel per variant, one line per seed."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  variants = list(dict.fromkeys(v for v, _ in rows_by_run))
  cols = min(3, len(variants))
  rows = (len(variants) + cols - 1) // cols
  fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), sharex=True,
                           sharey=True, squeeze=False)
  for ax, variant in zip(axes.flat, variants, strict=False):
    for (v, seed), curve in rows_by_run.items():
      if v == variant:
        ax.plot([c[0] / 1e6 for c in curve], [c[3] for c in curve], lw=1.1,
                label=f'seed {seed}')
    ax.axhline(SOLVED, color='k', ls=':', lw=0.8)
    ax.set_title(variant, fontsize=10)
    ax.set_ylim(0.4, 1.0)
  for ax in axes[-1]:
    ax.set_xlabel('env steps (millions)')
  for ax in axes[:, 0]:
    ax.set_ylabel('success at delay 100')
  for ax in list(axes.flat)[len(variants):]:
    ax.axis('off')
  axes.flat[0].legend(loc='lower right', fontsize=7)
  fig.suptitle('Class-query task: success at delay 100 during training')
  fig.tight_layout()
  fig.savefig(path, dpi=300)
  fig.savefig(os.path.splitext(path)[0] + '.pdf')
  plt.close(fig)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--variants', default=','.join(VARIANTS))
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--parallel', type=int, default=2)
  parser.add_argument('--runs', default='', help='folder of the run directories (kept)')
  parser.add_argument('--table', default='long_memory',
                      help='writes benchmarks/results/TABLE.csv and TABLE.png')
  args = parser.parse_args()
  variants = args.variants.split(',')
  seeds = [int(s) for s in args.seeds.split(',')]
  unknown = [v for v in variants if v not in VARIANTS]
  if unknown:
    raise SystemExit(f'unknown variants {unknown}; known: {list(VARIANTS)}')
  out = args.runs or tempfile.mkdtemp(prefix='long_memory_')
  os.makedirs(out, exist_ok=True)
  jobs = []
  for variant in variants:
    for seed in seeds:
      run_dir = os.path.join(out, f'{variant}_s{seed}')
      if not os.path.isfile(os.path.join(run_dir, 'wall_s.txt')):
        if os.path.isdir(run_dir):
          subprocess.run(['rm', '-rf', run_dir], check=True)
        jobs.append((run_dir, VARIANTS[variant], seed))
  run_all(jobs, args.parallel)
  rows, curves = [], {}
  for variant in variants:
    runs = [summarize_run(variant, seed, os.path.join(out, f'{variant}_s{seed}'))
            for seed in seeds]
    for seed in seeds:
      curves[(variant, seed)] = success_curve(os.path.join(out, f'{variant}_s{seed}'))
    rows += runs
    def median(field, digits=1, runs=runs):  # None unless every run has the figure
      values = [r[field] for r in runs]
      return None if None in values else round(statistics.median(values), digits)

    rows.append(dict(
        variant=variant, seed='median', runs=len(runs),
        solved=sum(r['solved'] for r in runs), wall_s=median('wall_s'),
        first_95_s=median('first_95_s'), target_95_s=median('target_95_s'),
        target_95_steps=median('target_95_steps', 0),
        final_success=round(statistics.median(r['final_success'] for r in runs), 4),
        final_delay=statistics.median(r['final_delay'] for r in runs),
        env_steps_per_sec=round(statistics.median(r['env_steps_per_sec'] for r in runs))))
  os.makedirs(RESULTS, exist_ok=True)
  save_csv(os.path.join(RESULTS, f'{args.table}.csv'), rows, COLUMNS)
  plot(curves, os.path.join(RESULTS, f'{args.table}.png'))
  print(f'{"variant":14s} {"seed":>6s} {"solved":>6s} {"wall_s":>7s} {"first95":>7s} '
        f'{"tgt95_s":>7s} {"tgt95_steps":>11s} {"final":>6s} {"delay":>5s} {"steps/s":>8s}')
  for r in rows:
    print(f'{r["variant"]:14s} {str(r["seed"]):>6s} {r["solved"]:>6} {r["wall_s"]:>7} '
          f'{str(r["first_95_s"]):>7s} {str(r["target_95_s"]):>7s} '
          f'{str(r["target_95_steps"]):>11s} {r["final_success"]:>6} {r["final_delay"]:>5} '
          f'{r["env_steps_per_sec"]:>8}')
  print(f'runs in {out}; table in {RESULTS}/{args.table}.csv, plot {args.table}.png')


if __name__ == '__main__':
  main()
