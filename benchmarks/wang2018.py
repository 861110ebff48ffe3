"""Wang, Kurth-Nelson et al. (2018), its six simulations: each config trained as it is (8
networks side by side) and analysed by configs/eval.py, every number beside the paper's,
with the criteria of done and the wall times.

python benchmarks/wang2018.py [--only=history,volatility,inferred,two_step,harlow,rpe]
                              [--work=DIR]
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
SIMULATIONS = {'history': 1, 'volatility': 2, 'inferred': 3, 'two_step': 4, 'harlow': 5,
               'rpe': 6}


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


def per_seed(rows, column, **where):
  """{seed: float(row[column])} of the gathered table's rows matching `where`."""
  return {r['seed']: float(r[column]) for r in rows
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


def inferred_rows(out):
  rpe = read(os.path.join(out, 'cue_rpe.csv'))
  rows = []
  after = {}
  for kind in ('experienced', 'inferred'):
    for value in ('rewarded', 'unrewarded'):
      after[(kind, value)] = per_seed(rpe, 'rpe', trial='2', cue=kind, value=value,
                                      switched='1')
      paper = next(r['published'] for r in rpe if r['trial'] == '2' and r['cue'] == kind and
                   r['value'] == value and r['switched'] == '1')
      rows.append(row(3, f'cue RPE, trial 2 after a switch, {kind} cue, now {value}',
                      after[(kind, value)], paper=f'~{float(paper):+.2f}'))
  for value in ('rewarded', 'unrewarded'):
    rows.append(row(3, f'cue RPE, trial 1 after a switch, now {value}', per_seed(
        rpe, 'rpe', trial='1', cue='both', value=value, switched='1')))
  signs = {s: all(after[(k, 'rewarded')][s] > 0 > after[(k, 'unrewarded')][s]
                  for k in ('experienced', 'inferred')) for s in after[('inferred', 'rewarded')]}
  rows.append(row(3, 'both cues with the new sign on trial 2 (1 = yes)',
                  {s: float(v) for s, v in signs.items()}, paper='yes',
                  criterion='on at least 7 of 8 seeds', meets=lambda s: signs[s]))
  size = {k: {s: after[(k, 'rewarded')][s] - after[(k, 'unrewarded')][s] for s in signs}
          for k in ('experienced', 'inferred')}
  ratio = {s: size['inferred'][s] / size['experienced'][s] if size['experienced'][s] else
           float('nan') for s in signs}
  rows.append(row(3, 'inferred over experienced (rewarded minus unrewarded RPE)', ratio,
                  paper='~1.0', criterion='at least 0.5', meets=lambda s: ratio[s] >= 0.5))
  return rows


def two_step_rows(out):
  stay = read(os.path.join(out, 'stay_probability.csv'))
  rows = []
  for condition in ('rewarded_common', 'rewarded_uncommon', 'unrewarded_common',
                    'unrewarded_uncommon'):
    values = per_seed(stay, 'stay_probability', condition=condition)
    paper = next(r['published'] for r in stay if r['condition'] == condition)
    rows.append(row(4, f'stay probability, {condition}', values, paper=f'~{paper}'))
  fits = read(os.path.join(out, 'rpe_regression.csv'))
  based = per_seed(fits, 'r2', learner='model-based planner')
  free = per_seed(fits, 'r2', learner='model-free learner')
  rows += [row(4, 'r2 of the second-stage RPE on the model-based planner\'s', based,
               paper='0.89', criterion='at least 0.5', meets=lambda s: based[s] >= 0.5),
           row(4, 'r2 of the second-stage RPE on the model-free learner\'s', free,
               paper='~0'),
           row(4, 'model-based r2 over model-free r2', {s: based[s] / free[s] for s in based},
               criterion='at least 5', meets=lambda s: based[s] >= 5 * free[s]),
           row(4, 'r2 the model-based planner adds to the model-free learner', per_seed(
               fits, 'r2_beyond_other', learner='model-based planner')),
           row(4, 'r2 the model-free learner adds to the model-based planner', per_seed(
               fits, 'r2_beyond_other', learner='model-free learner')),
           row(4, 'r2 of the two learners\' RPEs with each other', per_seed(
               fits, 'r2', learner='model-based planner vs model-free learner'))]
  return rows


def harlow_rows(out):
  accuracy = read(os.path.join(out, 'harlow_accuracy.csv'))
  first = per_seed(accuracy, 'accuracy', object_set='test', trial='1')
  second = per_seed(accuracy, 'accuracy', object_set='test', trial='2')
  learnt = {s: float(second[s] >= 0.9 and 0.45 <= first[s] <= 0.55) for s in second}
  return [row(5, 'accuracy on trial 1, held-out objects', first, paper='~0.5'),
          row(5, 'accuracy on trial 2, held-out objects', second, paper='~0.97 (those shown)',
              criterion='at least 0.9', meets=lambda s: second[s] >= 0.9),
          row(5, 'accuracy on trial 6, held-out objects', per_seed(
              accuracy, 'accuracy', object_set='test', trial='6')),
          row(5, 'accuracy on trial 2, training objects', per_seed(
              accuracy, 'accuracy', object_set='train', trial='2')),
          row(5, 'learnt to learn: trial 2 >= 0.9, trial 1 in 0.45-0.55 (1 = yes)', learnt,
              paper='28% of 50 networks', criterion='on at least 6 of 8 seeds',
              meets=lambda s: learnt[s])]


ROWS = {'history': history_rows, 'volatility': volatility_rows, 'inferred': inferred_rows,
        'two_step': two_step_rows, 'harlow': harlow_rows, 'rpe': rpe_rows}


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
