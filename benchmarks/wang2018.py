"""Wang, Kurth-Nelson et al. (2018), simulations 1, 2 and 6: each config trained as it is
(8 networks side by side) and analysed by configs/eval.py, every number beside the paper's,
with the criteria of done and the wall times.

python benchmarks/wang2018.py [--only=history,volatility,rpe] [--work=DIR]
                              [--run=NAME=RUN_DIR ...]

For each simulation: `python main.py --config=configs/wang2018_<name>.py` into
`--work`/<name> (or the finished run `--run` names: its training time is read from its
log.txt), then `python main.py --config=configs/eval.py` on its params.pickle into
`--work`/<name>_eval. Rows per measure: the median over the seeds, their range, how many
seeds meet the criterion, the paper's value. Prints the table and writes
benchmarks/results/wang2018.csv (the rows of simulations not run this time are kept).
"""

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from metarl.io import new_timestamped_dir, save_csv  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results', 'wang2018.csv')
SIMULATIONS = {'history': 1, 'volatility': 2, 'rpe': 6}


def read(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def run_main(*args) -> float:
  start = time.time()
  subprocess.run([sys.executable, os.path.join(ROOT, 'main.py'), *args], check=True, cwd=ROOT,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  return time.time() - start


def training_seconds(run_dir: str) -> float:
  """The trainer's own 'done: ... in X s' line of the run's log.txt."""
  with open(os.path.join(run_dir, 'log.txt')) as f:
    found = re.findall(r'done: .* in ([\d.]+)s', f.read())
  return float(found[-1]) if found else float('nan')


def per_seed(rows, value, **where):
  """{seed: float(row[value])} of the gathered table's rows matching `where`."""
  return {r['seed']: float(r[value]) for r in rows
          if all(r[k] == v for k, v in where.items())}


def row(simulation, measure, values: dict, paper='', criterion='', meets=None):
  """A table row: the median and range over seeds; `meets(seed value)` counts the seeds."""
  v = list(values.values())
  return dict(simulation=simulation, measure=measure, median=round(statistics.median(v), 4),
              low=round(min(v), 4), high=round(max(v), 4), seeds=len(v),
              seeds_meeting='' if meets is None else sum(bool(meets(s)) for s in values),
              criterion=criterion, paper=paper)


def history_rows(out):
  rewards = read(os.path.join(out, 'reward_by_set.csv'))
  agent = per_seed(rewards, 'mean_reward_per_trial', p0_set='held_out', player='agent')
  ref = per_seed(rewards, 'mean_reward_per_trial', p0_set='held_out', player='Q-learner')
  lag1 = per_seed(read(os.path.join(out, 'choice_regression.csv')), 'weight', player='agent',
                  regressor='reward', lag='1')
  rows = [row(1, 'reward per trial, held-out p0 ranges', agent,
              criterion='above the Q-learner reference', meets=lambda s: agent[s] > ref[s]),
          row(1, 'reward per trial of the Q-learner reference, held-out', ref),
          row(1, 'reward per trial, training ranges', per_seed(
              rewards, 'mean_reward_per_trial', p0_set='train', player='agent')),
          row(1, 'lag-1 weight of a rewarded choice', lag1, paper='positive',
              criterion='> 0', meets=lambda s: lag1[s] > 0)]
  units = read(os.path.join(out, 'unit_correlations.csv'))
  for name in ('last_action', 'last_reward', 'action_x_reward', 'chosen_value'):
    values = per_seed(units, 'mean_abs_r', regressor=name)
    paper = next(r['published'] for r in units if r['regressor'] == name)
    rows.append(row(1, f'mean |r| of the units, {name}', values, paper=f'~{paper}'))
  return rows


def volatility_rows(out):
  rates = read(os.path.join(out, 'learning_rates.csv'))
  rows = []
  both = {}
  for order in ('stable_first', 'volatile_first'):
    values = {}
    for phase in ('stable', 'volatile'):
      values[phase] = per_seed(rates, 'alpha', who='agent', order=order, phase=phase)
      paper = next(r['published'] for r in rates if r['who'] == 'agent' and
                   r['order'] == order and r['phase'] == phase)
      rows.append(row(2, f'learning rate, {order}, {phase} phase', values[phase],
                      paper=f'~{paper}'))
      rows.append(row(2, f'learning rate of the Bayesian learner, {order}, {phase} phase',
                      per_seed(rates, 'alpha', who='Bayesian learner', order=order,
                               phase=phase)))
    both[order] = values
  above = {s: all(both[o]['volatile'][s] > both[o]['stable'][s] for o in both)
           for s in both['stable_first']['stable']}
  rows.append(row(2, 'volatile above stable in both orders (1 = yes)',
                  {s: float(v) for s, v in above.items()}, paper='yes',
                  criterion='on at least 7 of 8 seeds', meets=lambda s: above[s]))
  decoding = read(os.path.join(out, 'volatility_decoding.csv'))
  accuracy = per_seed(decoding, 'accuracy')
  chance = per_seed(decoding, 'chance')
  rows.append(row(2, 'phase decoded from the units, accuracy (cross-validated)', accuracy,
                  criterion='above chance', meets=lambda s: accuracy[s] > chance[s]))
  return rows


def rpe_rows(out):
  choice = read(os.path.join(out, 'risky_choice.csv'))
  rows = []
  for condition in ('control', 'risky_reward', 'safe_choice', 'risky_loss'):
    for prob in ('0.125', '0.5', 'all'):
      values = per_seed(choice, 'p_risky', condition=condition, risky_prob=prob)
      if not values:
        continue
      if condition == 'control' or prob != 'all':
        rows.append(row(6, f'P(risky), {condition}, risky p {prob}', values))
        continue
      control = per_seed(choice, 'p_risky', condition='control', risky_prob='all')
      expected = next(r['expected'] for r in choice if r['condition'] == condition)
      moved = {s: values[s] - control[s] for s in values}
      rows.append(row(6, f'P(risky), {condition} minus control', moved, paper=expected,
                      criterion=f'moves {expected}',
                      meets=lambda s, m=moved, e=expected: (m[s] > 0) == (e == 'up')))
  return rows


ROWS = {'history': history_rows, 'volatility': volatility_rows, 'rpe': rpe_rows}


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--only', default=','.join(SIMULATIONS))
  parser.add_argument('--work', default='')
  parser.add_argument('--run', action='append', default=[],
                      help='NAME=RUN_DIR: analyse this finished run instead of training')
  args = parser.parse_args()
  only = [s for s in args.only.split(',') if s]
  unknown = set(only) - set(SIMULATIONS)
  if unknown:
    parser.error(f'unknown simulations {sorted(unknown)}; known: {",".join(SIMULATIONS)}')
  given = dict(r.split('=', 1) for r in args.run)
  work = args.work or new_timestamped_dir(os.path.join(ROOT, 'runs'), 'bench_wang2018')
  os.makedirs(work, exist_ok=True)
  table = [r for r in (read(RESULTS) if os.path.exists(RESULTS) else [])
           if int(r['simulation']) not in {SIMULATIONS[s] for s in only}]
  for name in only:
    config = os.path.join(ROOT, 'configs', f'wang2018_{name}.py')
    run_dir = given.get(name) or os.path.join(work, name)
    if name not in given:
      run_main(f'--config={config}', f'--config.run_dir={run_dir}')
    out = os.path.join(work, f'{name}_eval')
    eval_s = run_main(f'--config={os.path.join(ROOT, "configs", "eval.py")}',
                      f'--config.params_path={os.path.join(run_dir, "params.pickle")}',
                      f'--config.run_dir={out}')
    rows = ROWS[name](out)
    train_s = training_seconds(run_dir)
    for r in rows:
      r.update(config=f'configs/wang2018_{name}.py', train_s=round(train_s),
               analysis_s=round(eval_s))
    table += rows
    for r in rows:
      print(f"sim {r['simulation']}  {r['measure']:<62} {r['median']:>8} "
            f"({r['low']} to {r['high']})  {r['seeds_meeting']!s:>2}/{r['seeds']}  "
            f"paper {r['paper']}", flush=True)
    print(f'sim {SIMULATIONS[name]}: trained in {train_s:.0f} s, analysed in {eval_s:.0f} s',
          flush=True)
  table.sort(key=lambda r: int(r['simulation']))
  save_csv(RESULTS, table)
  print(f'written {os.path.relpath(RESULTS, ROOT)}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
