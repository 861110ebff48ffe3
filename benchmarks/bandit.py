"""Bandit A3C benchmark: throughput, time to quality, and regret against Thompson sampling.

python benchmarks/bandit.py [--repeats=3] [--throughput_steps=6000000]

(a) training env-steps/s for launch.num_workers = 0, 1, 2 (median over repeats; the
    steady-state rate from train.csv, after the first logging period, which holds start-up
    and compilation);
(b) configs/bandit_train.py:a3c (the default until ppo) end to end: total wall time, and the training wall
    time at which an evaluation first came within 1.25x Thompson sampling's regret;
(c) the frozen agent of (b) on 2,000 fresh 2-armed independent episodes (configs/
    configs/eval.py) next to Thompson sampling, UCB1 and random on the same probabilities.
Prints a table and writes benchmarks/results/bandit.csv.
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

RESULTS = os.path.join(ROOT, 'benchmarks', 'results', 'bandit.csv')
# nathanwispinski/meta-rl's reference implementation on this 2-core machine (as measured
# when this benchmark was written).
REFERENCE_STEPS_PER_SEC = {0: 8400, 2: 10000}


def run_main(config, *overrides):
  cmd = [sys.executable, os.path.join(ROOT, 'main.py'), f'--config={config}', *overrides]
  start = time.time()
  subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
  return time.time() - start


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def throughput(num_workers, steps, tmp):
  run_dir = os.path.join(tmp, f'tp_{num_workers}_{time.time_ns()}')
  run_main(os.path.join(ROOT, 'configs', 'bandit_train.py') + ':a3c', f'--config.run_dir={run_dir}',
           f'--config.launch.num_workers={num_workers}', f'--config.total_env_steps={steps}',
           f'--config.log_every_env_steps={steps // 6}',
           f'--config.eval.every_env_steps={steps * 10}')
  rows = read_csv(os.path.join(run_dir, 'train.csv'))[1:]  # skip start-up + compile
  first, last = rows[0], rows[-1]
  return ((int(last['env_steps']) - int(first['env_steps'])) /
          (float(last['wall_time']) - float(first['wall_time'])))


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--throughput_steps', type=int, default=6_000_000)
  args = parser.parse_args()
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    for workers in (0, 1, 2):
      rates = [throughput(workers, args.throughput_steps, tmp) for _ in range(args.repeats)]
      median = statistics.median(rates)
      ref = REFERENCE_STEPS_PER_SEC.get(workers)
      rows.append(dict(section='a_throughput', setting=f'num_workers={workers}',
                       value=round(median), unit='env-steps/s',
                       detail=f'median of {args.repeats}: ' +
                       ', '.join(f'{r:,.0f}' for r in rates) +
                       (f'; {median / ref:.0f}x nathanwispinski/meta-rl reference (~{ref:,}/s)'
                        if ref else '')))
      print(rows[-1], flush=True)

    run_dir = os.path.join(tmp, 'default')
    total = run_main(os.path.join(ROOT, 'configs', 'bandit_train.py') + ':a3c',
                     f'--config.run_dir={run_dir}')
    evals = read_csv(os.path.join(run_dir, 'eval.csv'))
    train = read_csv(os.path.join(run_dir, 'train.csv'))
    eval_dir = os.path.join(tmp, 'eval')
    run_main(os.path.join(ROOT, 'configs', 'eval.py'),
             f'--config.params_path={run_dir}/params.pickle', f'--config.run_dir={eval_dir}')
    summary = {r['method']: r for r in read_csv(os.path.join(eval_dir, 'eval_summary.csv'))}
    thompson = float(summary['thompson']['mean_cumulative_regret'])
    target = 1.25 * thompson
    hit = next((r for r in evals if float(r['mean_cumulative_regret']) <= target), None)
    steady = statistics.median(float(r['env_steps_per_sec']) for r in train[1:])
    rows.append(dict(section='b_default_run', setting='total wall time',
                     value=round(total, 1), unit='s',
                     detail=f"{train[-1]['env_steps']} env steps, process start to exit; "
                     f'median logged rate {steady:,.0f} env-steps/s'))
    rows.append(dict(section='b_default_run', setting='time to <= 1.25x Thompson regret',
                     value=round(float(hit['wall_time']), 1) if hit else '', unit='s',
                     detail=(f"first at {hit['env_steps']} env steps (500-episode "
                             f"evaluation: {float(hit['mean_cumulative_regret']):.2f})"
                             if hit else 'not reached')))
    for method in ('agent', 'thompson', 'ucb1', 'random', 'oracle'):
      r = summary[method]
      rows.append(dict(section='c_regret_2000_episodes', setting=method,
                       value=round(float(r['mean_cumulative_regret']), 3), unit='regret',
                       detail=f"s.e.m. {float(r['sem_cumulative_regret']):.3f}; "
                       f"reward/trial {float(r['mean_reward_per_trial']):.3f}; "
                       f"ratio to Thompson {float(r['ratio_to_thompson'] or 0):.3f}"))

  os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
  save_csv(RESULTS, rows, ['section', 'setting', 'value', 'unit', 'detail'])
  width = max(len(r['setting']) for r in rows)
  print(f"\n{'section':<24} {'setting':<{width}} {'value':>12} unit")
  for r in rows:
    print(f"{r['section']:<24} {r['setting']:<{width}} {r['value']!s:>12} {r['unit']}"
          f"  ({r['detail']})")
  print(f'\nwritten to {RESULTS}')


if __name__ == '__main__':
  main()
