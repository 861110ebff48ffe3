"""Checks that a refactor left training's numbers alone: bit-identical params, identical CSV rows.

    python3 benchmarks/behaviour_check.py record   # before: writes the reference file
    python3 benchmarks/behaviour_check.py check    # after: compares, exit status 1 on a change

Trains each system briefly with fixed seeds through `main.py` (evaluation inline, so that the
eval.csv rows do not depend on process timing) and digests what the run wrote: every params
leaf (its path, dtype, shape and a SHA-256 of its bytes) and every train.csv / eval.csv row
with the timing columns left out. `record` stores the digests in
benchmarks/results/behaviour_reference.json; `check` runs the same commands and prints one
line per system and file, naming the first leaf or row that differs, and writes that table
to benchmarks/results/behaviour_check.csv.
"""

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from metarl.io import load_pickle  # noqa: E402

REFERENCE = os.path.join(ROOT, 'benchmarks', 'results', 'behaviour_reference.json')
TABLE = os.path.join(ROOT, 'benchmarks', 'results', 'behaviour_check.csv')
TIMING_COLUMNS = {'wall_time', 'env_steps_per_sec'}

# name -> (config file, overrides): short runs of every trainer kind, each system's defaults.
SYSTEMS = {
    'bandit': ('configs/bandit_train.py:a3c', [
        'total_env_steps=3000000', 'log_every_env_steps=500000', 'eval.every_env_steps=1000000',
        'eval.num_episodes=200', 'launch.num_evaluators=0']),
    'bandit_ppo': ('configs/bandit_train.py', [
        'total_env_steps=3072000', 'log_every_env_steps=512000', 'eval.every_env_steps=1024000',
        'eval.num_episodes=200', 'launch.num_evaluators=0']),
    'two_step': ('configs/two_step_train.py', [
        'total_env_steps=1000000', 'log_every_env_steps=250000',
        'eval.every_env_steps=500000', 'eval.num_episodes=100', 'launch.num_evaluators=0']),
    'episodic_two_step': ('configs/episodic_two_step_train.py', [
        'total_env_steps=400000', 'log_every_env_steps=100000',
        'eval.every_env_steps=200000', 'eval.num_episodes=50', 'launch.num_evaluators=0']),
    'value_td': ('configs/value_td.py', [
        'agent.epochs=400', 'num_seeds=3', 'log_every_epochs=100', 'eval.every_epochs=200',
        'eval.analyze_at_end=False']),
    'memory_sac': ('configs/memory_sac.py', [
        'total_env_steps=20000', 'log_every_env_steps=5000', 'eval.every_env_steps=10000',
        'launch.num_evaluators=0']),
    'class_query': ('configs/class_query.py', [
        'total_env_steps=2000000', 'log_every_env_steps=250000',
        'eval.every_env_steps=250000', 'launch.num_evaluators=0']),
}


def _leaves(tree, path=''):
  """(path, array) of every array in a nested dict / list, sorted by path."""
  if isinstance(tree, dict):
    for key in sorted(tree, key=str):
      yield from _leaves(tree[key], f'{path}/{key}')
  elif isinstance(tree, (list, tuple)):
    for i, item in enumerate(tree):
      yield from _leaves(item, f'{path}/{i}')
  else:
    array = np.asarray(tree)
    yield path, array


def params_digest(path: str) -> list:
  """[path, dtype, shape, sha256] of every leaf of the params in a params.pickle."""
  payload = load_pickle(path)
  return [[p, str(a.dtype), list(a.shape), hashlib.sha256(a.tobytes()).hexdigest()]
          for p, a in _leaves(payload['params'])]


def csv_rows(path: str) -> dict:
  """The columns and rows of a CSV, timing columns left out."""
  if not os.path.exists(path):
    return {'columns': [], 'rows': []}
  with open(path, newline='') as f:
    rows = list(csv.reader(f))
  keep = [i for i, c in enumerate(rows[0]) if c not in TIMING_COLUMNS]
  return {'columns': [rows[0][i] for i in keep],
          'rows': [[r[i] for i in keep] for r in rows[1:]]}


def run_system(name: str, work: str) -> dict:
  config, overrides = SYSTEMS[name]
  run_dir = os.path.join(work, name)
  command = [sys.executable, 'main.py', f'--config={config}', f'--config.run_dir={run_dir}',
             *(f'--config.{o}' for o in overrides)]
  start = time.time()
  done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
  if done.returncode:
    raise SystemExit(f'{name}: {" ".join(command)} failed:\n{done.stderr[-3000:]}')
  return {'command': ' '.join(command[1:]).replace(run_dir, 'RUN'),
          'seconds': round(time.time() - start, 1),
          'params': params_digest(os.path.join(run_dir, 'params.pickle')),
          'train.csv': csv_rows(os.path.join(run_dir, 'train.csv')),
          'eval.csv': csv_rows(os.path.join(run_dir, 'eval.csv'))}


def first_difference(name: str, what: str, before, after) -> str:
  """'' when equal, else a short description of the first difference."""
  if before == after:
    return ''
  if what == 'params':
    if len(before) != len(after):
      return f'{len(before)} leaves before, {len(after)} now'
    for b, a in zip(before, after, strict=True):
      if b != a:
        return f'leaf {b[0]}: {b[1:3]} -> {a[0]} {a[1:3]}' + (
            ' (values differ)' if b[:3] == [a[0], a[1], a[2]] else '')
  if before['columns'] != after['columns']:
    return f'columns {before["columns"]} -> {after["columns"]}'
  if len(before['rows']) != len(after['rows']):
    return f'{len(before["rows"])} rows before, {len(after["rows"])} now'
  for i, (b, a) in enumerate(zip(before['rows'], after['rows'], strict=True)):
    if b != a:
      cells = [f'{c}: {x} -> {y}' for c, x, y in zip(before['columns'], b, a, strict=True)
               if x != y]
      return f'row {i + 1}: ' + '; '.join(cells[:3])
  return 'differs'


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('action', choices=('record', 'check'))
  parser.add_argument('--only', nargs='*', default=list(SYSTEMS), choices=list(SYSTEMS))
  args = parser.parse_args()
  results = {}
  with tempfile.TemporaryDirectory(prefix='metarl-behaviour-') as work:
    for name in args.only:
      results[name] = run_system(name, work)
      print(f'{name}: {results[name]["seconds"]} s', flush=True)
  if args.action == 'record':
    reference = {}
    if os.path.exists(REFERENCE):
      with open(REFERENCE) as f:
        reference = json.load(f)
    reference.update(results)
    tmp = REFERENCE + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(reference, f, indent=1)
    os.replace(tmp, REFERENCE)
    print(f'recorded {", ".join(results)} in {os.path.relpath(REFERENCE, ROOT)}')
    return
  with open(REFERENCE) as f:
    reference = json.load(f)
  changed = 0
  table = []
  print(f'{"system":<18} {"file":<10} result')
  for name, now in results.items():
    for what in ('params', 'train.csv', 'eval.csv'):
      diff = first_difference(name, what, reference[name][what], now[what])
      changed += bool(diff)
      result = 'identical' if not diff else 'CHANGED: ' + diff
      print(f'{name:<18} {what:<10} {result}')
      table.append([name, what, result, now['seconds']])
  tmp = TABLE + '.tmp'
  with open(tmp, 'w', newline='') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(['system', 'file', 'result', 'run_seconds'])
    writer.writerows(table)
  os.replace(tmp, TABLE)
  if changed:
    raise SystemExit(f'{changed} outputs changed')
  print('every output identical to the reference')


if __name__ == '__main__':
  main()
