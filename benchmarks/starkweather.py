"""Hennig et al. (2023)'s value-RNN study on Starkweather et al. (2017)'s tasks, start to end.

python benchmarks/starkweather.py [--work=DIR] [--figures=docs/figures]

Trains configs/starkweather.py for Task 1 and Task 2 (12 seeds each in one vmapped call,
150 epochs, GRU(50)), the two runs side by side (one per core), then runs the belief analysis
(configs/eval.py on each run's params.pickle: trained and untrained networks, the belief
model) and writes:

  benchmarks/results/starkweather.csv        per task and measure: the median over seeds of
                                             the trained and the untrained networks, the
                                             belief model's value, the paper's numbers, the
                                             target and whether it is met
  benchmarks/results/starkweather_seeds.csv  beliefs.csv of both tasks (a row per seed and
                                             network)
  benchmarks/results/starkweather_time.csv   wall time of each training and analysis and of
                                             the whole study
  FIGURES/starkweather_task{1,2}_*.png/.pdf  the analysis figures

Runs go to WORK/task1 and WORK/task2 and are reused when finished there (--work), so the
tables can be written again without training.
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
        ('belief_r2', '>= 0.55 and >= untrained + 0.15', lambda t, u: t >= 0.55 and
         t >= u + 0.15),
        ('rpe_late_rise', '>= 0.15', lambda t, u: t >= 0.15)],
    1: [('rpe_delay_rho', '<= -0.9', lambda t, u: t <= -0.9)],
}
MEASURES = ('rpe_mse', 'belief_r2', 'belief_r2_state_mean', 'rpe_at_2.0s', 'rpe_at_2.8s',
            'rpe_late_rise', 'rpe_delay_rho')


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def write_csv(name, rows):
  os.makedirs(RESULTS, exist_ok=True)
  columns = []
  for row in rows:
    columns += [k for k in row if k not in columns]
  path = os.path.join(RESULTS, name)
  with open(path + '.tmp', 'w', newline='') as f:
    writer = csv.DictWriter(f, columns)
    writer.writeheader()
    writer.writerows(rows)
  os.replace(path + '.tmp', path)
  print(f'\n{path}')
  for row in rows:
    print('  ' + '  '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                           for k, v in row.items()))


def finished(run_dir):
  log = os.path.join(run_dir, 'log.txt')
  return os.path.isfile(log) and '] done: ' in open(log).read()


def start(command, log_path):
  return subprocess.Popen(command, stdout=open(log_path, 'w'), stderr=subprocess.STDOUT,
                          cwd=ROOT)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--work', default='')
  parser.add_argument('--figures', default=os.path.join(ROOT, 'docs', 'figures'))
  args = parser.parse_args()
  work = args.work or tempfile.mkdtemp(prefix='metarl_starkweather_')
  times = {}
  study_start = time.time()
  # Training: both tasks side by side (each run computes on about one core).
  running = {}
  for task in (1, 2):
    run_dir = os.path.join(work, f'task{task}')
    if finished(run_dir):
      continue
    shutil.rmtree(run_dir, ignore_errors=True)
    running[task] = (time.time(), start(
        [sys.executable, 'main.py', f'--config=configs/starkweather.py:{task}',
         '--config.eval.analyze_at_end=False', f'--config.run_dir={run_dir}'],
        run_dir + '.log'))
  for task, (began, process) in running.items():
    if process.wait() != 0:
      sys.exit(f'task {task} training failed: see {work}/task{task}.log')
    times[f'task {task} training'] = time.time() - began
  # Analysis: configs/eval.py on each run's params (trained and untrained, belief model).
  for task in (1, 2):
    run_dir = os.path.join(work, f'task{task}')
    out = os.path.join(run_dir, 'analysis')
    if os.path.isfile(os.path.join(out, 'beliefs_summary.csv')):
      continue
    began = time.time()
    done = subprocess.run([sys.executable, 'main.py', '--config=configs/eval.py',
                           f'--config.params_path={run_dir}/params.pickle',
                           f'--config.run_dir={out}'], cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.STDOUT)
    if done.returncode != 0:
      sys.exit(f'task {task} analysis failed (exit {done.returncode})')
    times[f'task {task} analysis'] = time.time() - began
  for task in (1, 2):  # reused runs: the training wall time each run recorded
    rows = read_csv(os.path.join(work, f'task{task}', 'train.csv'))
    times.setdefault(f'task {task} training', max(float(r['wall_time']) for r in rows))
  if running and len(times) == 4:
    times['whole study, start to end'] = time.time() - study_start
  elif len(times) == 4:  # the trainings ran side by side, then the analyses
    times['whole study (trainings side by side, then the analyses)'] = max(
        times['task 1 training'], times['task 2 training']) + times[
            'task 1 analysis'] + times['task 2 analysis']

  summary, seeds = [], []
  for task in (1, 2):
    out = os.path.join(work, f'task{task}', 'analysis')
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
  write_csv('starkweather_time.csv', [dict(what=k, wall_s=round(v, 1))
                                      for k, v in times.items()])


if __name__ == '__main__':
  main()
