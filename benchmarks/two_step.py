"""Two-step benchmark: speed of the vanilla and episodic agents, and their 8-seed results.

python benchmarks/two_step.py [--repeats=3] [--seeds=8] [--parallel=2]
                              [--vanilla_sweep=DIR] [--episodic_sweep=DIR]

(a) Speed, `repeats` times each, one process (launch.num_workers=0): 10,000 training
    episodes (1M env steps) of configs/two_step_train.py, process start to exit; and the
    steady training throughput in episodes/s (train.csv after its first row, which holds
    start-up and compilation) of the vanilla and the episodic agent.
(b) Quality over `seeds` seeds with launch/sweep.py (into runs/<time>_bench_two_step_*;
    their summary.csv and training_curves.png are copied to benchmarks/results/): the
    default two-step training (stay probabilities and reward per trial at the end, mean and
    spread), and the episodic vs the incremental agent (configs/episodic_two_step_train.py,
    agent.retrieval True / False): reward per trial on cued and uncued trials. A finished
    sweep directory can be given instead of running it again.
Prints a table; writes benchmarks/results/two_step.csv.
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

RESULTS = os.path.join(ROOT, 'benchmarks', 'results', 'two_step.csv')
VANILLA = os.path.join(ROOT, 'configs', 'two_step_train.py')
EPISODIC = os.path.join(ROOT, 'configs', 'episodic_two_step_train.py')
SWEEP = os.path.join(ROOT, 'launch', 'sweep.py')


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def timed_run(tmp, config, *overrides):
  run_dir = os.path.join(tmp, f'run_{time.time_ns()}')
  start = time.time()
  subprocess.run([sys.executable, os.path.join(ROOT, 'main.py'), f'--config={config}',
                  f'--config.run_dir={run_dir}', *overrides], check=True, cwd=ROOT,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  return time.time() - start, run_dir


def steady_episodes_per_sec(run_dir, trials_per_episode=100):
  rows = read_csv(os.path.join(run_dir, 'train.csv'))[1:]
  first, last = rows[0], rows[-1]
  steps = int(last['env_steps']) - int(first['env_steps'])
  return steps / trials_per_episode / (float(last['wall_time']) - float(first['wall_time']))


def sweep(out, seeds, parallel, *variants):
  """`variants`: each a config file, or (file, 'field=value', ...) with its overrides."""
  argv = []
  for variant in variants:
    path, *overrides = (variant,) if isinstance(variant, str) else variant
    argv += [f'--config={path}', *[f'--config.{o}' for o in overrides]]
  subprocess.run([sys.executable, SWEEP, *argv,
                  f'--seeds={seeds}', f'--parallel={parallel}', f'--out={out}'], check=True,
                 cwd=ROOT, stdout=subprocess.DEVNULL)
  return out


def keep(sweep_dir, name):
  """Copies a sweep's summary and training curves next to the benchmark's table."""
  for src, dst in (('summary.csv', f'two_step_{name}_summary.csv'),
                   ('training_curves.png', f'two_step_{name}_curves.png')):
    with open(os.path.join(sweep_dir, src), 'rb') as f:
      data = f.read()
    with open(os.path.join(os.path.dirname(RESULTS), dst), 'wb') as f:
      f.write(data)


def final_stats(sweep_dir):
  """{variant: {metric: (mean, std, min, max, seeds)}} from a sweep's summary.csv."""
  out = {}
  for r in read_csv(os.path.join(sweep_dir, 'summary.csv')):
    out.setdefault(r['variant'], {})[r['metric']] = tuple(
        float(r[k]) for k in ('mean', 'std', 'min', 'max', 'seeds'))
  return out


def fmt(stats):
  mean, std, low, high, n = stats
  return f'{mean:.3f}', f'std {std:.3f}, range {low:.3f}-{high:.3f}, {int(n)} seeds'


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--seeds', type=int, default=8)
  parser.add_argument('--parallel', type=int, default=2)
  parser.add_argument('--vanilla_sweep', default='')
  parser.add_argument('--episodic_sweep', default='')
  args = parser.parse_args()
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    walls, rates = [], {'vanilla': [], 'episodic': []}
    for _ in range(args.repeats):
      wall, run_dir = timed_run(tmp, VANILLA, '--config.total_env_steps=1000000',
                                '--config.launch.num_evaluators=0',
                                '--config.eval.every_env_steps=1000000')
      walls.append(wall)
      rates['vanilla'].append(steady_episodes_per_sec(run_dir))
      _, run_dir = timed_run(tmp, EPISODIC, '--config.total_env_steps=1500000',
                             '--config.launch.num_evaluators=0',
                             '--config.eval.every_env_steps=1500000')
      rates['episodic'].append(steady_episodes_per_sec(run_dir))
    rows.append(dict(what='vanilla: 10,000 training episodes, start to exit (median)',
                     value=f'{statistics.median(walls):.1f}', unit='s',
                     note='runs: ' + ' '.join(f'{w:.1f}' for w in walls) +
                     '; BKHMSI/Meta-RL-TwoStep-Task (PyTorch): ~660 CPU-s per seed'
                     ' (quoted, not re-measured)'))
    for name, values in rates.items():
      rows.append(dict(what=f'{name}: training throughput (median)',
                       value=f'{statistics.median(values):,.0f}', unit='episodes/s',
                       note='runs: ' + ' '.join(f'{v:,.0f}' for v in values)))
    stamp = time.strftime('%Y%m%d-%H%M%S')
    vanilla_dir = args.vanilla_sweep or sweep(
        os.path.join(ROOT, 'runs', f'{stamp}_bench_two_step_vanilla'), args.seeds,
        args.parallel, VANILLA)
    keep(vanilla_dir, 'vanilla')
    stats = final_stats(vanilla_dir)['two_step_train']
    for metric in ('mean_reward_per_trial', 'stay_rewarded_common', 'stay_rewarded_uncommon',
                   'stay_unrewarded_common', 'stay_unrewarded_uncommon'):
      value, note = fmt(stats[metric])
      rows.append(dict(what=f'vanilla, end of default training: {metric}', value=value,
                       unit='', note=note))
    margins = (stats['stay_rewarded_common'][0] - stats['stay_rewarded_uncommon'][0],
               stats['stay_unrewarded_uncommon'][0] - stats['stay_unrewarded_common'][0])
    rows.append(dict(what='vanilla: rewarded common - uncommon / unrewarded uncommon - common',
                     value=f'{margins[0]:.3f} / {margins[1]:.3f}', unit='',
                     note='of the seed means; Wang 2018: 0.36 / 0.38'))
    episodic_dir = args.episodic_sweep or sweep(
        os.path.join(ROOT, 'runs', f'{stamp}_bench_two_step_episodic'), args.seeds,
        args.parallel, EPISODIC, (EPISODIC, 'agent.retrieval=False'))
    keep(episodic_dir, 'episodic')
    stats = final_stats(episodic_dir)
    names = {'episodic': 'episodic_two_step_train',
             'incremental': 'episodic_two_step_train[agent.retrieval=False]'}
    for label, variant in names.items():
      for metric in ('reward_cued', 'reward_uncued'):
        value, note = fmt(stats[variant][metric])
        rows.append(dict(what=f'{label}: {metric}', value=value, unit='per trial', note=note))
    diff = (stats[names['episodic']]['reward_cued'][0] -
            stats[names['incremental']]['reward_cued'][0])
    spread = (stats[names['episodic']]['reward_cued'][1] ** 2 +
              stats[names['incremental']]['reward_cued'][1] ** 2) ** 0.5
    rows.append(dict(what='episodic - incremental: reward on cued trials', unit='per trial',
                     value=f'{diff:.3f}', note=f'spread (std of the difference of seed '
                     f'draws) {spread:.3f}'))
  os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
  save_csv(RESULTS, rows, ['what', 'value', 'unit', 'note'])
  width = max(len(r['what']) for r in rows)
  for r in rows:
    print(f"{r['what']:<{width}}  {r['value']:>14} {r['unit']:<11} {r['note']}")


if __name__ == '__main__':
  main()
