"""Two-step analysis of a frozen meta-RL agent (Wang et al. 2018, Fig. 4;
BKHMSI/Meta-RL-TwoStep-Task).

Writes into `out_dir`:
  eval_data.pickle        per trial, arrays [E, T]: `action` (stage 1), `stage2` (0 = S1,
                          1 = S2), `common` (bool), `reward`, `good` (the good state during
                          the trial); `hidden` [E, T, H] with log_dynamics
  stay_probability.csv    one row per condition of the previous trial: rewarded, common,
                          stay_probability, sem, count, published (Wang 2018)
  stay_probability.png    the bar chart of Wang 2018 Fig. 4 / BKHMSI/Meta-RL-TwoStep-Task,
                          published values marked
  trial_history.csv       Miller et al. (2017)'s lagged regression: agent, type (CR, CO,
                          UR, UO), lag, weight; for the played episodes and for model-based
                          and model-free Q-learners on the same task (trial_history.py)
  trial_history_indices.csv  agent, model_based_index, model_free_index, intercept, trials
  one_back.csv            Daw et al. (2011)'s stay regression (b0, bR, bT, bRT) without and
                          with Akam et al. (2015)'s correct-choice regressor (bC), per agent
  trial_history.png       the lagged weights per agent and the two indices
"""

import os

import jax
import numpy as np

from metarl.analysis import trial_history
from metarl.analysis.figures import plt, save, stay_bars
from metarl.analysis.registry import Analysis, EvalRequest, register
from metarl.envs.two_step import CONDITIONS, TwoStep
from metarl.evaluation import make_evaluator
from metarl.io import save_csv, save_pickle

# Wang et al. 2018 Fig. 4 as read off the figure in BKHMSI/Meta-RL-TwoStep-Task's repository.
PUBLISHED = {'rewarded_common': 0.99, 'rewarded_uncommon': 0.63,
             'unrewarded_common': 0.61, 'unrewarded_uncommon': 0.99}


def stay_rows(stay, prev_reward, prev_common, valid, published=PUBLISHED) -> list:
  """Stay probability (with s.e.m. and count) per condition of the previous trial.

  Args:
    stay: bool array, the choice repeated the earlier one.
    prev_reward, prev_common: the earlier trial's reward and transition, same shape.
    valid: which entries count.
    published: {condition: value} for the `published` column, or None for blanks.
  """
  rows = []
  for name, rewarded, is_common in CONDITIONS:
    mask = valid & (prev_reward == rewarded) & (prev_common == is_common)
    total = int(mask.sum())
    p = float(stay[mask].mean()) if total else float('nan')
    sem = float(np.sqrt(p * (1 - p) / total)) if total else float('nan')
    rows.append(dict(condition=name, rewarded=rewarded, common=int(is_common),
                     stay_probability=p, sem=sem, count=total,
                     published=published[name] if published else ''))
  return rows


def play_episodes(request: EvalRequest):
  """`request.num_episodes` frozen episodes of the agent.

  Returns:
    (trajectory [T, E], hidden): hidden is [E, T, H] with `log_dynamics`, else None.
  """
  evaluate = make_evaluator(request.env, request.policy.actor, request.num_episodes)
  traj = jax.device_get(evaluate(request.params, request.key)).trajectory
  hidden = (np.swapaxes(np.asarray(traj.extras['hidden']), 0, 1)
            if request.log_dynamics and 'hidden' in traj.extras else None)
  return traj, hidden


def trial_data(env: TwoStep, states, actions, hidden=None) -> dict:
  """Per-trial arrays [E, T] of played episodes: action, stage2, common, reward, good.

  Args:
    env: the task played.
    states: the env states before each action, leaves [T, E] (whole episodes, as the
      evaluator records them).
    actions: [T, E] stage-1 choices.
    hidden: optional [E, T, H] network activity, kept as `hidden`.
  """
  outcome = jax.device_get(env.trial_outcomes(states, actions))
  data = dict(action=actions, stage2=outcome.stage2, common=outcome.common,
              reward=outcome.reward, good=outcome.good)
  data = {k: np.asarray(v).T for k, v in data.items()}
  if hidden is not None:
    data['hidden'] = hidden
  return data


def analyze(request: EvalRequest) -> dict:
  """Plays `request.num_episodes` frozen episodes and writes the files above."""
  traj, hidden = play_episodes(request)
  return write_results(request.out_dir, request.env, traj.env_state, traj.action, hidden)


def played(env: TwoStep, states, actions, rewards, out_dir: str, seed: int = 0) -> dict:
  del rewards, seed
  return write_results(out_dir, env, states, actions)


def write_results(out_dir: str, env: TwoStep, states, actions, hidden=None) -> dict:
  """Stay probabilities of played episodes (an agent's or a human's); writes the files above.

  Args:
    out_dir: folder for the files.
    env: the task played.
    states, actions: env states before each action (leaves [T, E]) and the actions [T, E].
    hidden: optional [E, T, H] network activity.

  Returns:
    {condition: stay probability, 'mean_reward_per_trial': ...}.
  """
  data = trial_data(env, states, actions, hidden)
  trial = np.asarray(states.trial).T
  action = data['action']
  rows = stay_rows(action[:, 1:] == action[:, :-1], data['reward'][:, :-1],
                   data['common'][:, :-1], trial[:, 1:] > 0)
  data['stay_probability'] = rows
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), data)
  save_csv(os.path.join(out_dir, 'stay_probability.csv'), rows)
  plot_stay_probability(os.path.join(out_dir, 'stay_probability.png'), rows)
  summary = {r['condition']: r['stay_probability'] for r in rows}
  summary['mean_reward_per_trial'] = float(data['reward'].mean())
  indices = write_trial_history(out_dir, env, data, who='agent')
  summary.update(model_based_index=indices['model_based_index'],
                 model_free_index=indices['model_free_index'])
  return summary


def write_trial_history(out_dir: str, env, data, who: str, valid=None, seed: int = 0) -> dict:
  """The trial-history regressions of the played episodes (`data`: [E, T] action, common,
  reward, good) and of model-based and model-free Q-learners playing as many episodes of
  the same task; writes trial_history.csv, trial_history_indices.csv, one_back.csv and
  trial_history.png. Returns the played episodes' index row."""
  params = env.default_params()
  episodes, trials = np.asarray(data['action']).shape
  rng = np.random.default_rng(seed)
  players = [(who, data, valid)] + [
      (f'{kind.replace("_", "-")} Q-learner', trial_history.simulate_q_learner(
          kind, episodes, trials, rng, float(params.common_prob), float(params.reward_prob),
          float(params.swap_prob)), None) for kind in ('model_based', 'model_free')]
  lag_rows, index_rows, back_rows = [], [], []
  for name, played_data, mask in players:
    lags, index, back = trial_history.regression_rows(name, played_data, mask)
    lag_rows += lags
    index_rows.append(index)
    back_rows += back
  save_csv(os.path.join(out_dir, 'trial_history.csv'), lag_rows)
  save_csv(os.path.join(out_dir, 'trial_history_indices.csv'), index_rows)
  save_csv(os.path.join(out_dir, 'one_back.csv'), back_rows)  # bC: Akam's rows only
  plot_trial_history(os.path.join(out_dir, 'trial_history.png'), lag_rows, index_rows)
  return index_rows[0]


register(Analysis(env='two_step', analyze=analyze, played=played, num_episodes=1000,
                  log_dynamics=True))


# Figures -----------------------------------------------------------------------------------

def plot_stay_probability(path: str, rows, title: str = 'frozen agent') -> None:
  """Wang 2018 Fig. 4 / BKHMSI/Meta-RL-TwoStep-Task: stay probability after rewarded /
  unrewarded trials, common (blue) vs uncommon (red) transitions, +/- s.e.m.; published values
  as dots."""
  fig, ax = plt.subplots(figsize=(4.5, 4))
  stay_bars(ax, rows, title)
  save(fig, path)


TYPE_COLORS = {'CR': '#1f77b4', 'CO': '#aec7e8', 'UR': '#d62728', 'UO': '#ff9896'}

TYPE_NAMES = {'CR': 'common, rewarded', 'CO': 'common, unrewarded',
              'UR': 'uncommon, rewarded', 'UO': 'uncommon, unrewarded'}


def plot_trial_history(path: str, lag_rows, index_rows) -> None:
  """Miller et al. (2017)'s figure: per agent, the regression weight of each past trial type
  against the lag; last panel, the model-based against the model-free index."""
  agents = [r['agent'] for r in index_rows]
  fig, axes = plt.subplots(1, len(agents) + 1, figsize=(3.6 * (len(agents) + 1), 3.3),
                           squeeze=False)
  lags = sorted({r['lag'] for r in lag_rows})
  for ax, agent in zip(axes[0], agents, strict=False):
    for kind, color in TYPE_COLORS.items():
      weights = [r['weight'] for r in lag_rows if r['agent'] == agent and r['type'] == kind]
      ax.plot(lags, weights, color=color, marker='o', ms=4, lw=1.8, label=TYPE_NAMES[kind])
    ax.axhline(0.0, color='gray', lw=0.8)
    ax.set_xticks(lags)
    ax.set_xlabel('trials back')
    ax.set_title(agent, fontsize='medium')
  axes[0, 0].set_ylabel('regression weight (log-odds)')
  axes[0, 0].legend(fontsize='x-small', frameon=False)
  ax = axes[0, -1]
  for i, row in enumerate(index_rows):
    ax.scatter(row['model_free_index'], row['model_based_index'], s=40,
               color=plt.cm.tab10(i % 10), label=row['agent'], zorder=3)
  ax.axhline(0.0, color='gray', lw=0.8)
  ax.axvline(0.0, color='gray', lw=0.8)
  ax.set_xlabel('model-free index')
  ax.set_ylabel('model-based index')
  ax.legend(fontsize='x-small', frameon=False)
  save(fig, path)
