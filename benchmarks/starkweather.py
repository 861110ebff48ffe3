"""Hennig et al. (2023)'s value-RNN study on Starkweather et al. (2017)'s tasks, start to end.

python benchmarks/starkweather.py [--work=DIR] [--figures=docs/figures]

Runs the study's own command, `python main.py --config=configs/starkweather.py[:1]`, for
Task 2 and Task 1 one after the other (12 seeds each in one run, split over the cores, 150
epochs, PyTorch's GRU(50)); each run ends with the belief analysis of its trained networks,
of the same networks untrained and of the belief model (beliefs.csv ... in the run folder).
Then configs/eval.py on each run's params.pickle checks that the offline evaluation writes
the same tables. Writes:

  benchmarks/results/starkweather.csv        per task and measure: the median over seeds of
                                             the trained and the untrained networks, the
                                             belief model's value, the paper's numbers, the
                                             target and whether it is met
  benchmarks/results/starkweather_seeds.csv  beliefs.csv of both tasks (a row per seed and
                                             network)
  benchmarks/results/starkweather_time.csv   wall time of each task's run (training and its
                                             analysis), of the whole study, and whether
                                             configs/eval.py gave the same tables
  FIGURES/starkweather_task{1,2}_*.png/.pdf  the analysis figures

Runs go to WORK/task1 and WORK/task2 and are reused when finished there (--work), so the
tables can be written again without training; each run's wall time is kept beside it
(WORK/task*.seconds) for the time table.
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from metarl.io import atomic_write_bytes, save_csv  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
FIGURES = ('rpe_by_delay', 'beliefs_strip', 'rpe_omission')

# Hennig et al. (2023), medians of 12 networks with 50 units (../shared/SCIENCE.md, A)
PAPER = {
    (2, 'rpe_mse'): (0.0006, 0.009), (2, 'belief_r2'): (0.665, 0.41),
    (1, 'rpe_mse'): (0.0001, 0.013), (1, 'belief_r2'): (0.60, 0.37),
    (2, 'rpe_at_2.0s'): (0.275, None), (2, 'rpe_at_2.8s'): (0.551, None),
}
# the targets: (measure, text, test(trained median, untrained median))
TARGETS = {
    2: [('rpe_mse', '< 0.002 and <= untrained / 4', lambda t, u: t < 0.002 and t * 4 <= u),
        ('belief_r2', '>= untrained + 0.15', lambda t, u: t >= u + 0.15),
        ('rpe_late_rise', '>= 0.15', lambda t, u: t >= 0.15)],
    1: [('rpe_delay_rho', '<= -0.9', lambda t, u: t <= -0.9)],
}
MEASURES = ('rpe_mse', 'belief_r2', 'belief_r2_state_mean', 'belief_r2_noise_free',
            'rpe_at_2.0s', 'rpe_at_2.8s', 'rpe_late_rise', 'rpe_delay_rho')
TABLES = ('beliefs.csv', 'beliefs_summary.csv', 'rpe_by_delay.csv', 'rpe_omission.csv')


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def write_csv(name, rows):
  """Writes RESULTS/name (metarl.io.save_csv) and prints it."""
  os.makedirs(RESULTS, exist_ok=True)
  path = os.path.join(RESULTS, name)
  save_csv(path, rows)
  print(f'\n{path}')
  for row in rows:
    print('  ' + '  '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                           for k, v in row.items()))


def finished(run_dir):
  log = os.path.join(run_dir, 'log.txt')
  return os.path.isfile(log) and '] done: ' in open(log).read()


def read_bytes(path) -> bytes:
  with open(path, 'rb') as f:
    return f.read()


def same_tables(a, b) -> bool:
  """Whether folders a and b hold the same belief tables, byte for byte."""
  for name in TABLES:
    paths = [os.path.join(folder, name) for folder in (a, b)]
    if os.path.isfile(paths[0]) != os.path.isfile(paths[1]):
      return False
    if os.path.isfile(paths[0]) and read_bytes(paths[0]) != read_bytes(paths[1]):
      return False
  return True


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--work', default='')
  parser.add_argument('--figures', default=os.path.join(ROOT, 'docs', 'figures'))
  args = parser.parse_args()
  work = args.work or tempfile.mkdtemp(prefix='metarl_starkweather_')
  os.makedirs(work, exist_ok=True)  # a --work folder not made yet
  times, checks = {}, {}
  for task in (2, 1):  # the study's own command, one task after the other (both cores each)
    run_dir = os.path.join(work, f'task{task}')
    what = f'task {task}: training and its analysis'
    if finished(run_dir):  # reused: its time as measured when it ran, if recorded
      if os.path.isfile(run_dir + '.seconds'):
        with open(run_dir + '.seconds') as f:
          times[what] = float(f.read())
      continue
    shutil.rmtree(run_dir, ignore_errors=True)
    began = time.time()
    with open(run_dir + '.log', 'w') as log:
      done = subprocess.run([sys.executable, 'main.py', f'--config=configs/starkweather.py:{task}',
                             f'--config.run_dir={run_dir}'], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT)
    if done.returncode != 0:
      sys.exit(f'task {task} failed: see {run_dir}.log')
    times[what] = time.time() - began
    atomic_write_bytes(run_dir + '.seconds', f'{times[what]:.1f}'.encode())
  if len(times) == 2:
    times['whole study (both tasks, 12 seeds each, trained and untrained, analyses)'] = sum(
        times.values())
  for task in (1, 2):  # configs/eval.py on the run's params: the same tables?
    run_dir = os.path.join(work, f'task{task}')
    out = os.path.join(run_dir, 'eval')
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run([sys.executable, 'main.py', '--config=configs/eval.py',
                           f'--config.params_path={run_dir}/params.pickle',
                           f'--config.run_dir={out}'], cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.STDOUT)
    if done.returncode != 0:
      sys.exit(f'task {task}: configs/eval.py failed (exit {done.returncode})')
    checks[f'task {task}: configs/eval.py on params.pickle'] = (
        'yes' if same_tables(run_dir, out) else 'no')

  summary, seeds = [], []
  for task in (1, 2):
    out = os.path.join(work, f'task{task}')
    medians = {r['network']: r for r in read_csv(os.path.join(out, 'beliefs_summary.csv'))}
    targets = {m: (text, test) for m, text, test in TARGETS[task]}
    for measure in MEASURES:
      trained = float(medians['trained'][f'median_{measure}'])
      untrained = float(medians['untrained'][f'median_{measure}'])
      belief = medians['belief model'].get(f'median_{measure}', '')
      paper = PAPER.get((task, measure), (None, None))
      text, test = targets.get(measure, ('', None))
      summary.append(dict(task=task, measure=measure, trained_median=trained,
                          untrained_median=untrained,
                          belief_model=float(belief) if belief else '',
                          paper_trained='' if paper[0] is None else paper[0],
                          paper_untrained='' if paper[1] is None else paper[1],
                          target=text, met='' if test is None else
                          ('yes' if test(trained, untrained) else 'no')))
    for row in read_csv(os.path.join(out, 'beliefs.csv')):
      seeds.append(dict(task=task, **row))
    os.makedirs(args.figures, exist_ok=True)
    for name in FIGURES:
      for ext in ('png', 'pdf'):
        source = os.path.join(out, f'{name}.{ext}')
        if os.path.isfile(source):
          shutil.copyfile(source, os.path.join(args.figures,
                                               f'starkweather_task{task}_{name}.{ext}'))
  write_csv('starkweather.csv', summary)
  write_csv('starkweather_seeds.csv', seeds)
  write_csv('starkweather_time.csv', [dict(what=k, wall_s=round(v, 1), same_tables='')
                                      for k, v in times.items()] +
            [dict(what=k, wall_s='', same_tables=v) for k, v in checks.items()])


if __name__ == '__main__':
  main()
