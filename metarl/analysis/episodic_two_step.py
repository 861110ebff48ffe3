"""Analysis of episodic and incremental agents on the episodic two-step task (Ritter et al.
2018; BKHMSI/Meta-RL-TwoStep-Task).

Writes into `out_dir`:
  eval_data.pickle        per trial, arrays [E, T]: action, stage2, common, reward, good,
                          cue_index (-1 on uncued trials); `hidden` with log_dynamics
  stay_probability.csv    rows per analysis and condition: `uncued` (trial t+1 vs t, both
                          uncued), `cued` (both cued), `episodic` (a cued trial vs the
                          earlier trial whose context it presents, by that trial's outcome)
  reward_per_trial.csv    mean reward per trial (and s.e.m.) on uncued and on cued trials
  stay_probability.png    the three stay-probability bar charts side by side
  trial_history*.csv, one_back.csv, trial_history.png  the two-step regressions of
                          analysis/two_step.py, predicting the uncued trials
"""

import os

import numpy as np

from metarl.analysis.figures import plt, save, stay_bars
from metarl.analysis.registry import Analysis, EvalRequest, register
from metarl.analysis.two_step import (
  PUBLISHED,
  play_episodes,
  stay_rows,
  trial_data,
  write_trial_history,
)
from metarl.envs.episodic_two_step import EpisodicTwoStep
from metarl.io import save_csv, save_pickle


def stay_tables(action, reward, common, cue_index) -> list:
  """All stay rows for [E, T] arrays of whole episodes (trial t = column t)."""
  cued = cue_index >= 0
  stay_next = action[:, 1:] == action[:, :-1]
  recalled = np.maximum(cue_index, 0)
  pick = lambda x: np.take_along_axis(x, recalled, axis=1)  # noqa: E731
  analyses = [
      ('uncued', stay_next, reward[:, :-1], common[:, :-1], ~cued[:, :-1] & ~cued[:, 1:],
       PUBLISHED),
      ('cued', stay_next, reward[:, :-1], common[:, :-1], cued[:, :-1] & cued[:, 1:], None),
      ('episodic', action == pick(action), pick(reward), pick(common), cued, None)]
  return [dict(analysis=name, **row) for name, *args in analyses
          for row in stay_rows(*args)]


def analyze(request: EvalRequest) -> dict:
  """Plays `request.num_episodes` frozen episodes and writes the files above."""
  traj, hidden = play_episodes(request)
  return write_results(request.out_dir, request.env, traj.env_state, traj.action, hidden)


def played(env: EpisodicTwoStep, states, actions, rewards, out_dir: str,
           seed: int = 0) -> dict:
  del rewards, seed
  return write_results(out_dir, env, states, actions)


def write_results(out_dir: str, env: EpisodicTwoStep, states, actions,
                  hidden=None) -> dict:
  """The analyses of played episodes (an agent's or a human's); writes the files above.

  Args:
    out_dir: folder for the files.
    env: the task played.
    states, actions: env states before each action (leaves [T, E]) and the actions [T, E].
    hidden: optional [E, T, H] network activity.

  Returns:
    {'reward_uncued': ..., 'reward_cued': ...}: mean reward per trial.
  """
  data = trial_data(env, states, actions, hidden)
  data['cue_index'] = np.asarray(states.cue_index).T
  rows = stay_tables(data['action'], data['reward'], data['common'], data['cue_index'])
  data['stay_probability'] = rows
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), data)
  save_csv(os.path.join(out_dir, 'stay_probability.csv'), rows)
  cued = data['cue_index'] >= 0
  rewards = {'uncued': data['reward'][~cued], 'cued': data['reward'][cued]}
  save_csv(os.path.join(out_dir, 'reward_per_trial.csv'),
           [dict(trials=name, mean_reward=r.mean(), sem=r.std() / np.sqrt(len(r)),
                 count=len(r)) for name, r in rewards.items()])
  plot_stay_probability_panels(os.path.join(out_dir, 'stay_probability.png'), rows,
                                ['uncued', 'cued', 'episodic'])
  indices = write_trial_history(out_dir, env, data, who='agent', valid=~cued)
  return dict({f'reward_{k}': float(v.mean()) for k, v in rewards.items()},
              model_based_index=indices['model_based_index'],
              model_free_index=indices['model_free_index'])


register(Analysis(env='episodic_two_step', analyze=analyze, played=played,
                  num_episodes=1000, log_dynamics=True))


# Figures -----------------------------------------------------------------------------------

def plot_stay_probability_panels(path: str, rows, analyses) -> None:
  """One stay-probability chart per analysis (rows carry an `analysis` column)."""
  fig, axes = plt.subplots(1, len(analyses), figsize=(4.5 * len(analyses), 4), sharey=True)
  for ax, name in zip(np.atleast_1d(axes), analyses, strict=False):
    stay_bars(ax, [r for r in rows if r['analysis'] == name], name)
  save(fig, path)
