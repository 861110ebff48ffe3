"""Value RNN (td agent) benchmark: 10 seeds of configs/value_td.py, quality and wall time.

python benchmarks/value_td.py [--repeats=3] [--torch_python=/venv/bin/python]

(a) The default experiment (10 seeds, 2000 epochs, one process) end to end through main.py,
    `repeats` times: process wall time (start to exit, medians), the trainer's own time, and
    per seed the MSE of Vhat against the true value on 200 fresh trials, over all
    non-terminal steps and from the cue on; a seed fails if its MSE exceeds 5e-4.
(b) 20 seeds (0-19) of the default, and of the default with one of the two choices that
    make every seed learn undone: Haiku's default initialisation (network.cell_bias=0), one
    fixed set of 100 trials (agent.resample_trials=False, as value-rnn-td): failing seeds.
(c) With --torch_python: value-rnn-td's recipe in PyTorch (benchmarks/torch_value_td.py, one
    seed, 2000 epochs), timed on this machine in the same session.
Prints a table, writes benchmarks/results/value_td.csv (summary) and value_td_seeds.csv
(per seed).
"""

import argparse
import csv
import json
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

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
CONFIG = os.path.join(ROOT, 'configs', 'value_td.py')
FAIL_MSE = 5e-4
ABLATION_SEEDS = 20


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def train(tmp, *overrides):
  """Runs main.py; returns (process seconds, trainer seconds, final eval rows)."""
  run_dir = os.path.join(tmp, f'run_{time.time_ns()}')
  start = time.time()
  subprocess.run([sys.executable, os.path.join(ROOT, 'main.py'), f'--config={CONFIG}',
                  f'--config.run_dir={run_dir}', *overrides], check=True, cwd=ROOT,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  wall = time.time() - start
  with open(os.path.join(run_dir, 'log.txt')) as f:
    trainer = float(re.search(r'done: .* in ([0-9.]+)s', f.read()).group(1))
  rows = read_csv(os.path.join(run_dir, 'eval.csv'))
  last = max(int(r['epoch']) for r in rows)
  return wall, trainer, [r for r in rows if int(r['epoch']) == last]


def failures(rows):
  return sum(float(r['mse']) > FAIL_MSE for r in rows)


def torch_reference(python, repeats):
  seconds = []
  for seed in range(repeats):
    out = subprocess.run([python, os.path.join(ROOT, 'benchmarks', 'torch_value_td.py'),
                          '--epochs=2000', f'--seed={seed}'], check=True, cwd=ROOT,
                         capture_output=True, text=True).stdout
    seconds.append(json.loads(out.strip().splitlines()[-1])['seconds'])
  return seconds


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--torch_python', default='')
  args = parser.parse_args()
  summary = []
  with tempfile.TemporaryDirectory() as tmp:
    runs = [train(tmp) for _ in range(args.repeats)]
    walls = [w for w, _, _ in runs]
    trainers = [t for _, t, _ in runs]
    seeds = runs[0][2]
    mse = [float(r['mse']) for r in seeds]
    from_cue = [float(r['mse_from_cue']) for r in seeds]
    summary += [
        dict(what='default: 10 seeds x 2000 epochs, process wall time (median)',
             value=f'{statistics.median(walls):.1f}', unit='s',
             note='runs: ' + ' '.join(f'{w:.1f}' for w in walls)),
        dict(what='default: trainer time incl. compilation (median)',
             value=f'{statistics.median(trainers):.1f}', unit='s',
             note='runs: ' + ' '.join(f'{t:.1f}' for t in trainers)),
        dict(what='default: worst seed MSE, all non-terminal steps', value=f'{max(mse):.3g}',
             unit='', note=f'median {statistics.median(mse):.3g}'),
        dict(what='default: worst seed MSE, from the cue on', value=f'{max(from_cue):.3g}',
             unit='', note=f'median {statistics.median(from_cue):.3g}'),
        dict(what=f'default: seeds failing (MSE > {FAIL_MSE:g})', value=failures(seeds),
             unit='of 10', note='same MSEs in every repeat (deterministic on CPU)'
             if all([r['mse'] for r in run[2]] == [r['mse'] for r in seeds] for run in runs)
             else 'MSEs differ between repeats'),
    ]
    for label, override in [('default', '--config.seed=0'),
                            ('haiku default init (cell_bias=0)', '--config.network.cell_bias=0'),
                            ('one fixed set of 100 trials (resample_trials=False)',
                             '--config.agent.resample_trials=False')]:
      _, _, rows = train(tmp, override, f'--config.num_seeds={ABLATION_SEEDS}')
      worst = max(float(r['mse']) for r in rows)
      summary.append(dict(what=f'{label}, seeds 0-{ABLATION_SEEDS - 1}: seeds failing',
                          value=failures(rows), unit=f'of {ABLATION_SEEDS}',
                          note=f'worst MSE {worst:.3g}; failing: ' + (' '.join(
                              r['seed'] for r in rows if float(r['mse']) > FAIL_MSE) or '-')))
  if args.torch_python:
    ref = torch_reference(args.torch_python, args.repeats)
    med = statistics.median(ref)
    summary.append(dict(
        what='value-rnn-td recipe in PyTorch: 1 seed x 2000 epochs (median)',
        value=f'{med:.1f}', unit='s', note='runs: ' + ' '.join(f'{s:.1f}' for s in ref)))
    summary.append(dict(
        what='metarl 10 seeds (process wall) / PyTorch 1 seed', unit='ratio',
        value=f'{statistics.median(walls) / med:.2f}',
        note='below 1: all 10 seeds finish before one reference seed'))
  os.makedirs(RESULTS, exist_ok=True)
  save_csv(os.path.join(RESULTS, 'value_td.csv'), summary, ['what', 'value', 'unit', 'note'])
  save_csv(os.path.join(RESULTS, 'value_td_seeds.csv'),
           [dict(seed=r['seed'], mse=r['mse'], mse_from_cue=r['mse_from_cue'])
            for r in seeds])
  width = max(len(r['what']) for r in summary)
  for r in summary:
    print(f"{r['what']:<{width}}  {str(r['value']):>8} {r['unit']:<6} {r['note']}")
  print('\nper seed:')
  for r in seeds:
    print(f"  seed {r['seed']}: mse {float(r['mse']):.3g}, "
          f"from cue {float(r['mse_from_cue']):.3g}")


if __name__ == '__main__':
  main()
