"""Many seeds (and variants) of an experiment, run side by side, with aggregated results.

    python launch/sweep.py --config=configs/two_step_train.py --seeds=8
    python launch/sweep.py --seeds=8 \
        --config=configs/episodic_two_step_train.py \
        --config=configs/episodic_two_step_train.py:agent.retrieval=False \
        --set=total_env_steps=5000000

Each --config is a variant: a config file, optionally followed by `:field=value,...`
overrides; --set overrides apply to every variant. Every run is `main.py` in its own process
(seed = --first_seed + i, evaluation inline), at most --parallel at a time. Every config is
validated before any process starts. Writes into --out (default runs/<time>_sweep):
  runs.csv             variant, seed, run_dir, exit code, wall seconds
  eval_all.csv         every eval.csv row of every run, with `variant` and `seed` columns
  summary.csv          per variant and eval metric: mean, std, min, max over seeds at the
                       last evaluation
  training_curves.png  mean (line) and spread (band: min to max) over seeds of --metric
                       against env steps, one line per variant
Ctrl-C or SIGTERM stops every run (each saves its params) and leaves no process behind.
"""

import argparse
import ast
import csv
import os
import runpy
import signal
import subprocess
import sys
import time
from typing import Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from metarl import io  # noqa: E402
from metarl.validation import ConfigError, validate  # noqa: E402


class SweepError(Exception):
  """A sweep argument that cannot run."""


def parse_variant(text: str) -> Tuple[str, List[str]]:
  path, _, overrides = text.partition(':')
  return path, [o for o in overrides.split(',') if o]


def _parse_value(text: str):
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def load_config(path: str, overrides: List[str]):
  """The config of `path` with `field=value` overrides, as main.py would build it."""
  if not os.path.isfile(path):
    raise SweepError(f'--config {path}: no such file')
  config = runpy.run_path(path)['get_config']()
  config.lock()
  for item in overrides:
    field, sep, value = item.partition('=')
    if not sep:
      raise SweepError(f'override {item!r}: expected field=value')
    node, *parts = [config] + field.split('.')
    for part in parts[:-1]:
      if part not in node:
        raise SweepError(f'override {item!r}: the config has no field {field!r}')
      node = node[part]
    if parts[-1] not in node:
      raise SweepError(f'override {item!r}: the config has no field {field!r}')
    try:
      node[parts[-1]] = _parse_value(value)
    except (TypeError, ValueError) as e:
      raise SweepError(f'override {item!r}: {e}')
  return config


def variant_name(path: str, overrides: List[str]) -> str:
  base = os.path.splitext(os.path.basename(path))[0]
  return base + ''.join(f'[{o}]' for o in overrides)


def plan(args) -> List[Dict]:
  """Every run of the sweep, each validated; raises SweepError / ConfigError first."""
  runs = []
  names = set()
  for text in args.config:
    path, overrides = parse_variant(text)
    overrides = list(args.set) + overrides
    name = variant_name(path, parse_variant(text)[1])
    if name in names:
      raise SweepError(f'--config {text}: given twice')
    names.add(name)
    for i in range(args.seeds):
      seed = args.first_seed + i
      run_dir = os.path.join(args.out, f'{len(names) - 1:02d}_{name}', f'seed_{seed}')
      run_overrides = overrides + [f'seed={seed}', f'run_dir={run_dir}',
                                   'launch.num_evaluators=0']
      config = load_config(path, run_overrides)
      if config.mode != 'train':
        raise SweepError(f'--config {path}: a training config is required')
      validate(config)
      runs.append(dict(variant=name, seed=seed, run_dir=run_dir, path=path,
                       overrides=run_overrides))
  return runs


def command(run: Dict) -> List[str]:
  return ([sys.executable, os.path.join(ROOT, 'main.py'), f'--config={run["path"]}'] +
          [f'--config.{o}' for o in run['overrides']])


def execute(runs: List[Dict], parallel: int, log) -> None:
  """Runs at most `parallel` processes at a time; on Ctrl-C stops them all."""
  pending = list(runs)
  active: Dict[subprocess.Popen, Tuple[Dict, float, object]] = {}
  try:
    while pending or active:
      while pending and len(active) < parallel:
        run = pending.pop(0)
        os.makedirs(os.path.dirname(run['run_dir']), exist_ok=True)
        out = open(run['run_dir'] + '.log', 'w')
        proc = subprocess.Popen(command(run), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        active[proc] = (run, time.time(), out)
        print(f'started {run["variant"]} seed {run["seed"]} (pid {proc.pid})', flush=True)
      time.sleep(0.5)
      for proc in [p for p in active if p.poll() is not None]:
        run, start, out = active.pop(proc)
        out.close()
        run.update(exit_code=proc.returncode, wall_s=round(time.time() - start, 1))
        log.write({k: run[k] for k in ('variant', 'seed', 'run_dir', 'exit_code', 'wall_s')})
        status = 'done' if proc.returncode == 0 else f'FAILED (see {run["run_dir"]}.log)'
        print(f'{status}: {run["variant"]} seed {run["seed"]} in {run["wall_s"]}s',
              flush=True)
  finally:
    for proc in active:  # stop like Ctrl-C: each run saves its params, then exits
      if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    for proc in active:
      try:
        proc.wait(timeout=60)
      except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def read_csv(path: str) -> List[Dict]:
  with open(path) as f:
    return list(csv.DictReader(f))


def aggregate(runs: List[Dict], out: str, metric: str) -> Dict[str, Dict]:
  """Writes eval_all.csv, summary.csv and training_curves.png; returns the summary."""
  import numpy as np
  rows = []
  for run in runs:
    path = os.path.join(run['run_dir'], 'eval.csv')
    if run.get('exit_code') == 0 and os.path.isfile(path):
      for row in read_csv(path):
        rows.append(dict(variant=run['variant'], seed=run['seed'], **row))
  if not rows:
    raise SweepError('no run finished with an eval.csv')
  columns = list(rows[0])
  for row in rows:
    columns += [c for c in row if c not in columns]
  log = io.CsvLog(os.path.join(out, 'eval_all.csv'), columns)
  for row in rows:
    log.write(row)
  log.close()
  skip = {'variant', 'seed', 'env_steps', 'updates', 'wall_time', 'epoch'}
  summary, curves = {}, {}
  for variant in dict.fromkeys(r['variant'] for r in rows):
    mine = [r for r in rows if r['variant'] == variant]
    last = {}
    for r in mine:
      last[r['seed']] = r  # rows are in time order per seed
    finals = list(last.values())
    summary[variant] = {}
    for key in [c for c in columns if c not in skip]:
      values = np.array([float(r[key]) for r in finals if r.get(key) not in (None, '')])
      if len(values):
        summary[variant][key] = dict(mean=values.mean(), std=values.std(), min=values.min(),
                                     max=values.max(), seeds=len(values))
    steps = sorted({int(r['env_steps']) for r in mine})
    table = np.full((len(last), len(steps)), np.nan)
    seeds = list(last)
    for r in mine:
      if metric in r and r[metric] != '':
        table[seeds.index(r['seed']), steps.index(int(r['env_steps']))] = float(r[metric])
    curves[variant] = (np.array(steps), table)
  log = io.CsvLog(os.path.join(out, 'summary.csv'),
                  ['variant', 'metric', 'mean', 'std', 'min', 'max', 'seeds'])
  for variant, metrics in summary.items():
    for key, stats in metrics.items():
      log.write(dict(variant=variant, metric=key, **stats))
  log.close()
  from metarl.analysis import plots
  plots.training_curves(os.path.join(out, 'training_curves.png'), curves, metric)
  return summary


def _raise_interrupt(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', action='append', required=True,
                      help='config file[:field=value,...]; repeat for variants')
  parser.add_argument('--seeds', type=int, default=8)
  parser.add_argument('--first_seed', type=int, default=0)
  parser.add_argument('--set', action='append', default=[],
                      help='field=value override for every variant (repeatable)')
  parser.add_argument('--parallel', type=int, default=os.cpu_count() or 1,
                      help='runs at a time (default: the number of CPU cores)')
  parser.add_argument('--metric', default='mean_reward_per_trial',
                      help='eval.csv column drawn in training_curves.png')
  parser.add_argument('--out', default='')
  args = parser.parse_args(argv)
  signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` stops a sweep like Ctrl-C
  if args.seeds < 1 or args.parallel < 1:
    sys.exit('sweep: --seeds and --parallel must be >= 1')
  args.out = args.out or io.timestamped_dir(os.path.join(ROOT, 'runs'), 'sweep')
  try:
    runs = plan(args)
  except (SweepError, ConfigError) as e:
    sys.exit(f'sweep: {e}')
  os.makedirs(args.out, exist_ok=True)
  log = io.CsvLog(os.path.join(args.out, 'runs.csv'),
                  ['variant', 'seed', 'run_dir', 'exit_code', 'wall_s'])
  try:
    execute(runs, args.parallel, log)
  except KeyboardInterrupt:
    sys.exit('sweep: interrupted; every run stopped (each saved its params)')
  finally:
    log.close()
  failed = [r for r in runs if r.get('exit_code') != 0]
  try:
    summary = aggregate(runs, args.out, args.metric)
  except SweepError as e:
    sys.exit(f'sweep: {e}')
  for variant, metrics in summary.items():
    print(variant)
    for key, s in metrics.items():
      print(f'  {key:<28} {s["mean"]:.4g} (std {s["std"]:.3g}, {s["min"]:.4g} to '
            f'{s["max"]:.4g}, {s["seeds"]} seeds)')
  print(f'sweep written to {args.out}')
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
