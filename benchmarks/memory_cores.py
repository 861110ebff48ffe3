"""Recurrent cores for memory: the LRU against GRU and LSTM (issue 22).

python benchmarks/memory_cores.py [--parts=a,b,c,d,e] [--work=DIR] [--repeats=3]
                                  [--long_steps=12000] [--cq_cores=lstm,gru,lru]
                                  [--cq_limit_s=1800] [--parallel=2]

(a) Learner updates per second of recurrent SAC on configs/memory_sac.py (4 sequences, 2
    recurrent layers of 16) at sequence lengths 50, 200 and 500, and on the long task's
    networks (configs/memory_sac_long.py: 64 units, length 500): the GRU (its native kernel),
    the GRU as an XLA scan (METARL_NATIVE=0: what a GRU costs in plain JAX), the LRU (its
    recurrence in the native kernel), each timed by benchmarks/sac_step_costs.py --tick_only
    in a process of its own, the cores taking turns, median of --repeats.
(b) The memory task, H = 10 (configs/memory_sac.py, 200k env steps), 3 seeds trained
    together (num_seeds=3), for each core (gru, lstm, lru): the accuracy on 200 random
    50-step sequences at the end, per seed, and the wall time of the 3 seeds.
(c) The long memory task (configs/memory_sac_long.py: H = 100, sequences of 500, 64 units),
    3 seeds together per core, for a budget of --long_steps env steps (RLtools' schedule is
    200k; at ~25-50 ms per learner update that is 1.5-3 hours per seed here): accuracy on
    200 random 500-step sequences at the end, per seed, and the wall time.
(d) The class-query task at delay 1,000 with the curriculum (configs/class_query_long.py),
    each core and seed a process of its own (--parallel at a time), 200 evaluation episodes
    at delay 1,000 every 1M env steps: the training time (eval.csv's clock) and env steps
    until the first evaluation at delay 1,000 with >= 95% success, at any stage of the
    curriculum (`first_95`: memory learnt at short delays often carries over), and until
    the first made while training at delay 1,000 itself (`solved`: the curriculum done;
    the run is then stopped with Ctrl-C, as a user would), or --cq_limit_s of wall time
    without it.
(e) The meta-RL defaults with each core (lstm is their default; gru; lru; lru with 2
    layers; lru after a dense layer): the bandit (configs/bandit_train.py:a3c) and the two-step
    task (configs/two_step_train.py), 3 seeds together: final mean regret (and its ratio to
    the Bayes-optimal player's 1.748) or reward per trial with the model-based stay
    signature, and the wall time.

Writes benchmarks/results/memory_cores_<part><--tag>.csv and prints each table. The
committed tables: parts a, b, e, c with the defaults; d with --cq_limit_s=300, then
--parts=d --cq_cores=lstm --cq_seeds=0,2 --tag=_lstm_30min (the default 1,800 s). Runs go to
--work (default: a new temporary folder); finished ones are reused there.
"""

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from launch.process_pool import interrupt_runs  # noqa: E402
from metarl.io import save_csv  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
MAIN = os.path.join(ROOT, 'main.py')
CQ_TARGET = 1000
SOLVED = 0.95


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def save(part, rows, tag=''):
  path = os.path.join(RESULTS, f'memory_cores_{part}{tag}.csv')
  os.makedirs(RESULTS, exist_ok=True)
  save_csv(path, rows)
  print(f'\n{path}')
  for row in rows:
    print('  ' + '  '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                           for k, v in row.items()))


def timed(command, log_path, env=None):
  """(seconds start to exit, exit code) of `command`, its output to `log_path`."""
  start = time.time()
  with open(log_path, 'w') as log:
    rc = subprocess.call(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
  return time.time() - start, rc


def train(run_dir, config, overrides):
  """Trains `config` into run_dir unless a finished run is there; its start-to-exit time."""
  timing = run_dir + '_wall.txt'
  if not (os.path.isfile(timing) and os.path.isfile(os.path.join(run_dir, 'params.pickle'))):
    shutil.rmtree(run_dir, ignore_errors=True)
    wall, rc = timed([sys.executable, MAIN, f'--config={ROOT}/configs/{config}',
                      f'--config.run_dir={run_dir}', *[f'--config.{o}' for o in overrides]],
                     run_dir + '.log')
    if rc != 0:
      raise SystemExit(f'{run_dir} failed (exit {rc}); see {run_dir}.log')
    with open(timing, 'w') as f:
      f.write(f'{wall:.1f}')
  with open(timing) as f:
    return float(f.read())


def last_eval(run_dir):
  """{seed: the row of its last evaluation}."""
  rows = read_csv(os.path.join(run_dir, 'eval.csv'))
  last = max(int(r['env_steps']) for r in rows)
  return {r.get('seed', '0'): r for r in rows if int(r['env_steps']) == last}


# (a) ------------------------------------------------------------------------------------

TICKS = [  # (setting, overrides of configs/memory_sac.py)
    ('memory_sac, length 50', ['replay.sequence_length=50']),
    ('memory_sac, length 200', ['replay.sequence_length=200']),
    ('memory_sac, length 500', ['replay.sequence_length=500']),
    ('memory_sac_long (64 units), length 500',
     ['network.torso_sizes=(64,)', 'network.hidden_sizes=(64,64)', 'env.horizon=100',
      'replay.sequence_length=500']),
]
TICK_CORES = [('gru', 'gru', {}), ('gru_xla', 'gru', {'METARL_NATIVE': '0'}),
              ('lru', 'lru', {})]


def part_a(work, repeats):
  rows = []
  for setting, overrides in TICKS:
    times = {name: [] for name, *_ in TICK_CORES}
    for _ in range(repeats):
      for name, core, env in TICK_CORES:  # the cores take turns
        out = subprocess.run(
            [sys.executable, os.path.join(ROOT, 'benchmarks', 'sac_step_costs.py'),
             '--tick_only', f'--config.network.core={core}',
             *[f'--config.{o}' for o in overrides]],
            cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, **env))
        if out.returncode:
          raise SystemExit(f'{name} {setting}: {out.stderr[-2000:]}')
        times[name].append(json.loads(out.stdout.strip().splitlines()[-1])['ms_per_tick'])
    gru = statistics.median(times['gru'])
    for name, *_ in TICK_CORES:
      ms = statistics.median(times[name])
      rows.append(dict(part='a', setting=setting, core=name, ms_per_update=ms,
                       updates_per_sec=1000 / ms, speed_vs_native_gru=gru / ms,
                       runs=' '.join(f'{t:.3f}' for t in times[name])))
      print(rows[-1], flush=True)
  return rows


# (b), (c) -------------------------------------------------------------------------------

def memory_rows(part, work, config, cores, overrides):
  rows = []
  for core in cores:
    run_dir = os.path.join(work, f'{part}_{core}')
    wall = train(run_dir, config, [f'network.core={core}', 'num_seeds=3', *overrides])
    final = last_eval(run_dir)
    accuracy = {seed: float(r['accuracy']) for seed, r in sorted(final.items())}
    steps = int(next(iter(final.values()))['env_steps'])
    rows.append(dict(part=part, config=config, core=core, env_steps_per_seed=steps,
                     **{f'accuracy_seed_{k}': v for k, v in accuracy.items()},
                     accuracy_median=statistics.median(accuracy.values()),
                     seeds_at_90=sum(a >= 0.9 for a in accuracy.values()),
                     wall_s_3_seeds=wall, overrides=' '.join(overrides)))
    print(rows[-1], flush=True)
  return rows


def part_b(work):
  return memory_rows('b', work, 'memory_sac.py', ('gru', 'lstm', 'lru'),
                     ['checkpoint_every=0'])


def part_c(work, steps, cores):
  return memory_rows('c', work, 'memory_sac_long.py', cores,
                     ['checkpoint_every=0', f'total_env_steps={steps}',
                      f'eval.every_env_steps={steps}', f'log_every_env_steps={steps // 10}'])


# (d) ------------------------------------------------------------------------------------

def milestones(run_dir):
  """(the first evaluation at delay 1,000 with >= 95% success at any stage of the
  curriculum, the first made while training at delay 1,000 itself): each (env steps,
  seconds of training by eval.csv's clock) or None."""
  path = os.path.join(run_dir, 'eval.csv')
  try:
    rows = read_csv(path) if os.path.isfile(path) else []
  except (OSError, csv.Error, ValueError):
    rows = []
  good = [r for r in rows if r.get('target_success') and float(r['target_success']) >= SOLVED]
  at_target = [r for r in good if int(float(r['delay'])) == CQ_TARGET]
  mark = lambda r: (int(r['env_steps']), float(r['wall_time']))  # noqa: E731
  return (mark(good[0]) if good else None), (mark(at_target[0]) if at_target else None)


def part_d(work, cores, seeds, limit, parallel):
  jobs = [(core, seed) for core in cores for seed in seeds]
  results = {}
  for core, seed in jobs:  # finished ones are reused
    path = os.path.join(work, f'd_{core}_s{seed}.json')
    if os.path.isfile(path):
      with open(path) as f:
        results[(core, seed)] = json.load(f)
  pending = [j for j in jobs if j not in results]
  running = []
  while pending or running:
    while pending and len(running) < parallel:
      core, seed = pending.pop(0)
      run_dir = os.path.join(work, f'd_{core}_s{seed}')
      shutil.rmtree(run_dir, ignore_errors=True)
      log = open(run_dir + '.log', 'w')
      proc = subprocess.Popen(
          [sys.executable, MAIN, f'--config={ROOT}/configs/class_query_long.py',
           f'--config.run_dir={run_dir}', f'--config.network.core={core}',
           f'--config.seed={seed}', '--config.checkpoint_every=0'],
          cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
      running.append((core, seed, run_dir, proc, log, time.time()))
      print(f'started class query {core} seed {seed}', flush=True)
    time.sleep(2.0)
    for item in list(running):
      core, seed, run_dir, proc, log, t0 = item
      first, done = milestones(run_dir)
      elapsed = time.time() - t0
      if proc.poll() is None and done is None and elapsed < limit:
        continue
      interrupt_runs([proc], timeout_s=120)  # solved or out of time: stopped as a user would
      log.close()
      running.remove(item)
      rows = read_csv(os.path.join(run_dir, 'eval.csv'))
      best = max(rows, key=lambda r: (int(float(r['delay'])), float(r['target_success'])))
      first, done = milestones(run_dir)
      result = dict(core=core, seed=seed, solved=int(done is not None),
                    solved_train_s=done and round(done[1], 1),
                    solved_env_steps=done and done[0],
                    first_95_train_s=first and round(first[1], 1),
                    first_95_env_steps=first and first[0],
                    final_delay=int(float(rows[-1]['delay'])),
                    last_target_success=float(rows[-1]['target_success']),
                    best_delay=int(float(best['delay'])), env_steps=int(rows[-1]['env_steps']),
                    wall_s=round(time.time() - t0, 1))
      results[(core, seed)] = result
      with open(os.path.join(work, f'd_{core}_s{seed}.json'), 'w') as f:
        json.dump(result, f)
      print(f'class query {core} seed {seed}: {result}', flush=True)
  rows = [dict(part='d', limit_s=limit, **results[j]) for j in jobs]
  for core in cores:
    mine = [results[(core, s)] for s in seeds]
    times = [r['solved_train_s'] for r in mine if r['solved']]
    firsts = [r['first_95_train_s'] for r in mine if r['first_95_train_s'] is not None]
    rows.append(dict(part='d', limit_s=limit, core=core, seed='all', solved=sum(r['solved'] for r in mine),
                     solved_train_s=max(times) if len(times) == len(mine) else None,
                     first_95=len(firsts),
                     first_95_train_s=max(firsts) if len(firsts) == len(mine) else None,
                     final_delay=statistics.median(r['final_delay'] for r in mine)))
  return rows


# (e) ------------------------------------------------------------------------------------

META_CORES = [  # (label, overrides): the defaults' core swapped, then LRU layouts with a
    # nonlinearity before the recurrence (a single linear LRU layer integrates a linear
    # mix of its inputs, so it cannot count the rewards of each arm apart)
    ('lstm', ['network.core=lstm']), ('gru', ['network.core=gru']),
    ('lru', ['network.core=lru']),
    ('lru, 2 layers', ['network.core=lru', 'network.core_layers=2']),
    ('lru, dense layer (48) before it', ['network.core=lru', 'network.torso_sizes=(48,)']),
]


def part_e(work):
  from metarl.analysis import bayes_optimal
  optimal = bayes_optimal.solve(100).regret
  rows = []
  for task, config in (('bandit', 'bandit_train.py:a3c'), ('two_step', 'two_step_train.py')):
    for label, overrides in META_CORES:
      name = label.replace(', ', '_').replace(' ', '_').replace('(', '').replace(')', '')
      run_dir = os.path.join(work, f'e_{task}_{name}')
      wall = train(run_dir, config, [*overrides, 'num_seeds=3', 'checkpoint_every=0'])
      final = last_eval(run_dir)
      row = dict(part='e', task=task, core=label)
      if task == 'bandit':
        values = {s: float(r['mean_cumulative_regret']) for s, r in sorted(final.items())}
        row.update({f'seed_{k}': v for k, v in values.items()}, measure='regret',
                   median=statistics.median(values.values()),
                   ratio_to_bayes_optimal=statistics.median(values.values()) / optimal)
      else:
        values = {s: float(r['mean_reward_per_trial']) for s, r in sorted(final.items())}
        row.update({f'seed_{k}': v for k, v in values.items()}, measure='reward per trial',
                   median=statistics.median(values.values()),
                   stay_interaction_median=statistics.median(
                       _interaction(r) for r in final.values()))
      row.update(wall_s_3_seeds=wall, overrides=' '.join(overrides))
      rows.append(row)
      print(rows[-1], flush=True)
  return rows


def _interaction(r):
  """Stay probabilities: (rewarded, common) - (rewarded, rare) - (unrewarded, common) +
  (unrewarded, rare): the model-based signature of the two-step task."""
  return (float(r['stay_rewarded_common']) - float(r['stay_rewarded_uncommon'])
          - float(r['stay_unrewarded_common']) + float(r['stay_unrewarded_uncommon']))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--parts', default='a,b,c,d,e')
  parser.add_argument('--work', default='')
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--long_steps', type=int, default=12_000)
  parser.add_argument('--long_cores', default='gru,lru')
  parser.add_argument('--cq_cores', default='lstm,gru,lru')
  parser.add_argument('--cq_seeds', default='0,1,2')
  parser.add_argument('--cq_limit_s', type=float, default=1800)
  parser.add_argument('--parallel', type=int, default=2)
  parser.add_argument('--tag', default='', help='appended to the results file names')
  args = parser.parse_args()
  work = args.work or tempfile.mkdtemp(prefix='memory_cores_')
  os.makedirs(work, exist_ok=True)
  print(f'runs in {work}', flush=True)
  parts = args.parts.split(',')
  if 'a' in parts:
    save('a', part_a(work, args.repeats), args.tag)
  if 'b' in parts:
    save('b', part_b(work), args.tag)
  if 'c' in parts:
    save('c', part_c(work, args.long_steps, args.long_cores.split(',')), args.tag)
  if 'd' in parts:
    save('d', part_d(work, args.cq_cores.split(','),
                     [int(s) for s in args.cq_seeds.split(',')], args.cq_limit_s,
                     args.parallel), args.tag)
  if 'e' in parts:
    save('e', part_e(work), args.tag)


if __name__ == '__main__':
  main()
