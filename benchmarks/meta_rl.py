"""Meta-RL agents on the bandit against the exact Bayes-optimal player: which training gets
near it, and how fast.

python benchmarks/meta_rl.py [--parts=a,b,c,d] [--work=DIR] [--only=NAME,...]
python benchmarks/meta_rl.py --rescore

(a) Side by side, one after another on this machine, each with 3 seeds trained together in
    one process (`--config.num_seeds=3`), start to exit timed:
      a3c_today          configs/bandit_train.py:a3c, nathanwispinski/meta-rl's A3C settings
                         (10-step unrolls, gamma 0.9), 20M env steps: the default until now
      a3c_whole_episode  the same agent with what whole-episode credit assignment needs:
                         100-step unrolls (one episode each), gamma 1, GAE(0.95) advantages
                         normalised per batch, rewards scaled by 0.05 for the value, the trial
                         in the observation
      ppo_defaults       recurrent PPO with its registered defaults (configs/train.py:ppo on
                         the bandit: 64 envs x 128 steps, gamma 0.99, 4 epochs x 4
                         minibatches, learning rate 3e-4), 10M env steps (its 16
                         minibatch steps per rollout make each env step several times
                         dearer than the default's)
      default            configs/bandit_train.py as shipped (ppo: whole episodes at gamma 1,
                         the trial in the observation, two passes over each rollout of 256
                         episodes in minibatches of 64), 24M env steps
(b) configs/bandit_long.py, the long setting (3 seeds together), start to exit timed.
(c) The two-step task with each agent's settings, 3 seeds together each:
    configs/two_step_train.py (a3c, BKHMSI/Meta-RL-TwoStep-Task's A2C) and
    configs/two_step_train.py:ppo; per seed the last evaluation's reward per trial and
    stay probabilities (eval.num_episodes episodes), into meta_rl_two_step.csv. (ppo on the
    class-query task: benchmarks/long_memory.py --variants=ppo.)
(d) What each ingredient of the default is worth: configs/bandit_train.py with one change
    each (SEARCH: the trial input off, gamma 0.9 or 0.99, GAE lambda 0.95, no reward
    scaling, no advantage normalisation, learning rate 3e-3, one pass over each rollout, a
    value LSTM of its own, an LSTM of 64, groups of 8 episodes on one task with advantages
    taken within each group), 2 seeds together each, evaluated as in (a),
    into meta_rl_search.csv.

Each trained run is then evaluated with configs/eval.py on 2,000 fresh episodes per seed
(the same arm probabilities for every seed and every run), where the exact Bayes-optimal
player, Thompson sampling and the others play the same episodes: per seed the agent's
mean cumulative regret, its ratio to the Bayes-optimal player's (`ratio_to_bayes`) and to
Thompson's, and the share of trials on which its most likely arm is the Bayes-optimal
choice. Writes benchmarks/results/meta_rl.csv (a row per seed and a median row per run),
meta_rl_curves.csv (every evaluation during training: its regret over eval.num_episodes
fresh episodes per seed, over the Bayes-optimal player's expected regret of 1.748) and
docs/figures/meta_rl.png / .pdf (those curves against env steps and wall time). Runs go
to WORK/<name> (a temporary folder unless --work) and are reused when finished there.

The Bayes-optimal player's regret on the episodes is its exact expectation on their arms
(1.752). Until 2026-12-06 it was one play of them (1.685: 4% below, by chance); --rescore
restates the committed rows of runs evaluated then against it, training nothing (the agents'
regrets are the same numbers, on the same episodes).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import pandas as pd  # noqa: E402

from metarl.io import save_csv  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
FIGURE = os.path.join(ROOT, 'docs', 'figures', 'meta_rl.png')
BAYES_EXPECTED = 1.748  # the Bayes-optimal player's expected regret, 2 arms, 100 trials
EPISODES = 2000
SEEDS = 3
TOP = 4  # the figure's regret ratios go up to this
WHOLE_EPISODE = ('agent.unroll_length=100', 'agent.n_step=100', 'agent.advantage=gae',
                 'agent.gamma=1.0', 'agent.gae_lambda=0.95', 'agent.normalize_advantages=True',
                 'agent.reward_scale=0.05', 'agent.value_coef=0.5', 'env.observe_trial=True')

# (d): one change each to configs/bandit_train.py, 2 seeds together (one per core)
SEARCH = {
    'search_default': (),
    'search_no_trial_input': ('env.observe_trial=False',),
    'search_gamma_0.99': ('agent.gamma=0.99',),
    'search_gamma_0.9': ('agent.gamma=0.9',),
    'search_lambda_0.95': ('agent.gae_lambda=0.95',),
    'search_no_reward_scale': ('agent.reward_scale=1.0',),
    'search_no_advantage_norm': ('agent.normalize_advantages=False',),
    'search_lr_3e-3': ('agent.learning_rate=3e-3',),
    'search_1_epoch': ('agent.epochs=1',),  # half the updates and about half the time
    'search_separate_value_core': ('network.value_core=separate',),
    'search_lstm_64': ('network.hidden_size=64',),
    # the 256 episodes of a rollout on 32 tasks, 8 each, advantages centred within each 8
    'search_task_groups_8': ('agent.task_group_size=8',),
}


class Run(NamedTuple):
  part: str
  config: str
  overrides: tuple[str, ...] = ()
  seeds: int = SEEDS


RUNS = {
    'a3c_today': Run('a', 'configs/bandit_train.py:a3c'),
    'a3c_whole_episode': Run('a', 'configs/bandit_train.py:a3c', WHOLE_EPISODE),
    'ppo_defaults': Run('a', 'configs/train.py:ppo', (
        'env.name=bandit', 'total_env_steps=10000000', 'log_every_env_steps=1000000',
        'eval.every_env_steps=2500000', 'eval.num_episodes=500', 'launch.updates_per_call=10',
        'checkpoint_every=5000000')),
    'default': Run('a', 'configs/bandit_train.py'),
    'long': Run('b', 'configs/bandit_long.py'),
    'two_step_a3c': Run('c', 'configs/two_step_train.py'),
    'two_step_ppo': Run('c', 'configs/two_step_train.py:ppo'),
    **{name: Run('d', 'configs/bandit_train.py', overrides, seeds=2)
       for name, overrides in SEARCH.items()},
}
STAY = ('stay_rewarded_common', 'stay_rewarded_uncommon', 'stay_unrewarded_common',
        'stay_unrewarded_uncommon')


def merged(path: str, rows: list[dict], names) -> list[dict]:
  """`rows` after the rows of the committed table at `path` whose run is not in `names`
  (a call with --parts or --only keeps the other runs' rows)."""
  if not os.path.isfile(path):
    return rows
  kept = pd.read_csv(path, dtype=str, keep_default_na=False)
  kept = kept[~kept['run'].isin(list(names))]
  return kept.to_dict('records') + rows


def finished(run_dir: str) -> bool:
  return os.path.isfile(os.path.join(run_dir, 'params.pickle'))


def timed(command, log_path) -> tuple[float, int]:
  start = time.time()
  with open(log_path, 'w') as log:
    rc = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
  return time.time() - start, rc


def train(work: str, name: str) -> float:
  """Trains run `name` into WORK/name unless it finished there; its start-to-exit seconds
  (kept beside the run, so a reused run reports the time it took)."""
  _, config, overrides, seeds = RUNS[name]
  run_dir = os.path.join(work, name)
  timing = run_dir + '_wall.txt'
  if not (finished(run_dir) and os.path.isfile(timing)):
    wall, rc = timed([sys.executable, os.path.join(ROOT, 'main.py'), f'--config={config}',
                      f'--config.num_seeds={seeds}', f'--config.run_dir={run_dir}',
                      *[f'--config.{o}' for o in overrides]], run_dir + '.log')
    if rc:
      raise SystemExit(f'{name} failed (exit {rc}); see {run_dir}.log')
    with open(timing, 'w') as f:
      f.write(f'{wall:.1f}')
  with open(timing) as f:
    return float(f.read())


def evaluate(work: str, name: str) -> pd.DataFrame:
  """configs/eval.py on the run's params: eval_summary.csv of every seed."""
  out = os.path.join(work, f'{name}_eval')
  summary = os.path.join(out, 'eval_summary.csv')
  if not os.path.isfile(summary):
    _, rc = timed([sys.executable, os.path.join(ROOT, 'main.py'), '--config=configs/eval.py',
                   f'--config.params_path={os.path.join(work, name, "params.pickle")}',
                   f'--config.num_episodes={EPISODES}', f'--config.run_dir={out}'],
                  out + '.log')
    if rc:
      raise SystemExit(f'the evaluation of {name} failed (exit {rc}); see {out}.log')
  return pd.read_csv(summary)


def rows_of(work: str, name: str, wall: float) -> list[dict]:
  part, config, overrides, _ = RUNS[name]
  summary = evaluate(work, name)
  train_csv = pd.read_csv(os.path.join(work, name, 'train.csv'))
  rows = []
  for seed, table in summary.groupby('seed'):
    by = table.set_index('method')
    agent = by.loc['agent']
    rows.append(dict(
        part=part, run=name, seed=int(seed), config=config, overrides=' '.join(overrides),
        env_steps=int(train_csv['env_steps'].max()), wall_s=round(wall, 1),
        train_s=round(float(train_csv['wall_time'].max()), 1),
        regret=float(agent['mean_cumulative_regret']),
        sem=float(agent['sem_cumulative_regret']),
        bayes_regret=float(by.loc['bayes_optimal', 'mean_cumulative_regret']),
        thompson_regret=float(by.loc['thompson', 'mean_cumulative_regret']),
        ratio_to_bayes=float(agent['ratio_to_bayes_optimal']),
        ratio_to_thompson=float(agent['ratio_to_thompson']),
        bayes_agreement=float(agent['bayes_agreement'])))
  ratios = [r['ratio_to_bayes'] for r in rows]
  rows.append(dict(rows[0], seed='median', regret=statistics.median(r['regret'] for r in rows),
                   sem='', ratio_to_bayes=statistics.median(ratios),
                   ratio_to_thompson=statistics.median(r['ratio_to_thompson'] for r in rows),
                   bayes_agreement=statistics.median(r['bayes_agreement'] for r in rows),
                   worst_ratio_to_bayes=max(ratios)))
  return rows


def two_step_rows(work: str, name: str, wall: float) -> list[dict]:
  part, config, _, _ = RUNS[name]
  evals = pd.read_csv(os.path.join(work, name, 'eval.csv'))
  last = evals[evals.env_steps == evals.env_steps.max()]
  rows = [dict(part=part, run=name, seed=int(r.seed), config=config, env_steps=int(r.env_steps),
               wall_s=round(wall, 1), reward_per_trial=float(r.mean_reward_per_trial),
               **{k: float(getattr(r, k)) for k in STAY}) for r in last.itertuples()]
  rows.append(dict(rows[0], seed='median', **{
      k: statistics.median(r[k] for r in rows) for k in ('reward_per_trial',) + STAY}))
  return rows


def curves(work: str, names) -> list[dict]:
  rows = []
  for name in names:
    evals = pd.read_csv(os.path.join(work, name, 'eval.csv'))
    for r in evals.itertuples():
      rows.append(dict(run=name, seed=int(r.seed), env_steps=int(r.env_steps),
                       wall_time=float(r.wall_time), regret=float(r.mean_cumulative_regret),
                       ratio_to_expected_bayes=float(r.mean_cumulative_regret) / BAYES_EXPECTED))
  return rows


def figure(curve_rows: list[dict]) -> None:
  from metarl.analysis.figures import plt, save
  table = pd.DataFrame(curve_rows)
  for column in ('env_steps', 'wall_time', 'ratio_to_expected_bayes'):
    table[column] = table[column].astype(float)
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
  for i, (name, runs) in enumerate(table.groupby('run', sort=False)):
    color = f'C{i}'
    for _, seed in runs.groupby('seed'):
      axes[0].plot(seed.env_steps / 1e6, seed.ratio_to_expected_bayes, color=color, lw=0.6,
                   alpha=0.5)
      axes[1].plot(seed.wall_time, seed.ratio_to_expected_bayes, color=color, lw=0.6,
                   alpha=0.5)
    median = runs.groupby('env_steps').agg(ratio=('ratio_to_expected_bayes', 'median'),
                                           wall=('wall_time', 'median'))
    label = (name if median.ratio.min() < TOP else
             f'{name} (above {TOP}: {median.ratio.iloc[-1]:.1f} at the end)')
    axes[0].plot(median.index / 1e6, median.ratio, color=color, lw=2, label=label)
    axes[1].plot(median.wall, median.ratio, color=color, lw=2, label=label)
  for ax, xlabel in zip(axes, ('env steps per seed (millions)',
                               'training wall time (s), 3 seeds together on 2 cores'),
                        strict=True):
    ax.axhline(1.0, color='k', lw=1, label='Bayes-optimal player')
    ax.axhline(2.78 / BAYES_EXPECTED, color='grey', ls='--', lw=1, label='Thompson sampling')
    ax.axhline(1.25, color='grey', ls=':', lw=1, label='1.25x Bayes-optimal')
    ax.set_xlabel(xlabel)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
  axes[0].set_ylabel('regret / Bayes-optimal regret (1.748)')
  axes[0].set_ylim(0, TOP)
  axes[0].legend(fontsize='small')
  fig.suptitle('Bandits (2 independent arms, 100 trials): evaluations during training, '
               'median of 3 seeds (thick) and each seed (thin)')
  save(fig, FIGURE)


def bayes_on_evaluation_arms() -> float:
  """The Bayes-optimal player's exact expected regret on the 2,000 episodes configs/eval.py
  plays: the bayes_optimal row of its eval_summary.csv."""
  import jax

  from metarl.analysis import bandit, bayes_optimal
  from metarl.envs.bandit import Bandit
  from metarl.evaluation import EVAL_SEED
  arms = bandit.evaluation_arms(Bandit(2, 'independent', 100), jax.random.PRNGKey(EVAL_SEED),
                                EPISODES)
  regret, _ = bayes_optimal.expected_play(bayes_optimal.solve(100), arms)
  return float(regret.sum(axis=1).mean())


def rescore(path: str, bayes: float) -> None:
  """Restates the table's ratios to the Bayes-optimal player against `bayes` (the agents'
  regrets, on the same episodes, are unchanged): the rows of runs evaluated while its regret
  there was one play of the episodes (1.685) rather than its expectation."""
  rows = pd.read_csv(path, dtype=str, keep_default_na=False).to_dict('records')
  for name in dict.fromkeys(r['run'] for r in rows):
    ratios = []
    for r in rows:
      if r['run'] == name and r['seed'] != 'median':
        r['ratio_to_bayes'] = float(r['regret']) / bayes
        ratios.append(r['ratio_to_bayes'])
    for r in rows:
      if r['run'] == name and r['seed'] == 'median':
        r['ratio_to_bayes'] = statistics.median(ratios)
        r['worst_ratio_to_bayes'] = max(ratios)
  for r in rows:
    r['bayes_regret'] = bayes
  save_csv(path, rows)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--parts', default='a,b,c,d')
  parser.add_argument('--only', default='', help='comma-separated run names')
  parser.add_argument('--work', default='')
  parser.add_argument('--rescore', action='store_true',
                      help='restate the committed tables against the Bayes-optimal '
                           "player's expected regret on the episodes; trains nothing")
  args = parser.parse_args()
  if args.rescore:
    bayes = bayes_on_evaluation_arms()
    for name in ('meta_rl.csv', 'meta_rl_search.csv'):
      rescore(os.path.join(RESULTS, name), bayes)
    print(f'the Bayes-optimal player on the evaluation episodes: {bayes:.4f}; '
          'meta_rl.csv and meta_rl_search.csv restated')
    return
  parts = set(args.parts.split(','))
  names = [n for n, run in RUNS.items() if run.part in parts
           and (not args.only or n in args.only.split(','))]
  work = args.work or tempfile.mkdtemp(prefix='metarl-meta-rl-')
  os.makedirs(work, exist_ok=True)
  os.makedirs(RESULTS, exist_ok=True)
  rows, tasks, search = [], [], []
  for name in names:
    wall = train(work, name)
    if RUNS[name].part == 'c':
      tasks += two_step_rows(work, name, wall)
    elif RUNS[name].part == 'd':
      search += rows_of(work, name, wall)
    else:
      rows += rows_of(work, name, wall)
    print(f'{name}: {wall:.0f} s', flush=True)
  columns = ['run', 'seed', 'env_steps', 'wall_s', 'regret', 'bayes_regret',
             'ratio_to_bayes', 'ratio_to_thompson', 'bayes_agreement']
  if search:
    path = os.path.join(RESULTS, 'meta_rl_search.csv')
    save_csv(path, merged(path, search, [n for n in names if RUNS[n].part == 'd']))
    print(pd.DataFrame(search)[columns].to_string(index=False,
                                                  float_format=lambda x: f'{x:.3g}'))
    print(path)
  bandit = [n for n in names if RUNS[n].part in ('a', 'b')]
  if bandit:
    table = os.path.join(RESULTS, 'meta_rl.csv')
    save_csv(table, merged(table, rows, bandit))
    curve_path = os.path.join(RESULTS, 'meta_rl_curves.csv')
    curve_rows = merged(curve_path, curves(work, bandit), bandit)
    save_csv(curve_path, curve_rows)
    figure(curve_rows)
    print(pd.DataFrame(rows)[columns].to_string(index=False,
                                                float_format=lambda x: f'{x:.3g}'))
    print(f'{os.path.join(RESULTS, "meta_rl.csv")}, meta_rl_curves.csv, '
          f'{os.path.relpath(FIGURE, ROOT)}')
  if tasks:
    path = os.path.join(RESULTS, 'meta_rl_two_step.csv')
    save_csv(path, merged(path, tasks, [n for n in names if RUNS[n].part == 'c']))
    columns = ['run', 'seed', 'wall_s', 'reward_per_trial', *STAY]
    print(pd.DataFrame(tasks)[columns].to_string(index=False,
                                                 float_format=lambda x: f'{x:.3f}'))
    print(os.path.join(RESULTS, 'meta_rl_two_step.csv'))


if __name__ == '__main__':
  main()
