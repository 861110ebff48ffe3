"""The model-based RPE of the two-step task: Wang, Kurth-Nelson et al. (2018), simulation 4,
on Miller et al.'s (2017) version of the task with a step per stage
(`metarl.envs.two_step_stages`).

The agent plays whole episodes; from its value output, the RPE of arriving at the second
stage of each trial is delta = r + gamma V(stage 2) - V(stage 1) (r = 0 on that step; the
value in reward units). Two learners see the same trials (the agent's choices, the states
reached, the rewards) and give their own RPE at that moment, V2(s2) - Q(a1), both learning
the second-stage values V2 by a delta rule with rate alpha:

  model-based planner   Q(a) = P(common) V2(the state a leads to commonly)
                               + P(uncommon) V2(the other one)
  model-free learner    Q(a) learnt from the trial's reward, Q(a) += alpha (r - Q(a))

The agent's RPE is regressed on each learner's (r^2 = squared correlation), each learner
at the alpha of 0.1, 0.2, ..., 0.9 that fits best; paper: r^2 0.89 against the model-based
planner, ~0 against the model-free learner. The two learners' RPEs share variance of their
own on the same trials (both hold V2(s2)): their r^2 with each other, and each one's r^2
beyond the other's (partial), are written too.

Writes into `out_dir` two_step's files of the stage-1 choices (stay_probability.csv, the
trial-history regression: `metarl.analysis.two_step`) and
  rpe_regression.csv    learner, alpha, r2 (agent's RPE on the learner's), slope,
                        intercept, r2_beyond_other (the r^2 it adds to the other learner's),
                        trials, published
  rpe_data.pickle       per trial [E, T]: the agent's, the model-based and the model-free RPE
  rpe_regression.png/.pdf  the agent's RPE against each learner's
"""

import os

import jax
import numpy as np
from absl import logging

from metarl.analysis import two_step
from metarl.analysis.figures import plt, save
from metarl.analysis.registry import (
  Analysis,
  EvalRequest,
  batch_first,
  recording_actor,
  register,
  value_settings,
)
from metarl.envs.two_step_stages import stage_1_steps
from metarl.evaluation import make_evaluator
from metarl.io import save_csv, save_pickle

PUBLISHED = {'model-based planner': 0.89, 'model-free learner': 0.0}
ALPHAS = tuple(np.round(np.arange(0.1, 1.0, 0.1), 1))


def learner_rpes(choice, stage2, reward, common_prob: float, alpha: float) -> dict:
  """Per trial [E, T], the RPE at the second stage, V2(s2) - Q(a1), of the model-based
  planner and of the model-free learner run on the same trials (values start at 0.5)."""
  episodes, trials = choice.shape
  rows = np.arange(episodes)
  v2 = np.full((episodes, 2), 0.5)
  q_free = np.full((episodes, 2), 0.5)
  based, free = np.zeros((episodes, trials)), np.zeros((episodes, trials))
  for t in range(trials):
    a, s, r = choice[:, t], stage2[:, t], reward[:, t]
    q_based = common_prob * v2[rows, a] + (1 - common_prob) * v2[rows, 1 - a]
    based[:, t] = v2[rows, s] - q_based
    free[:, t] = v2[rows, s] - q_free[rows, a]
    q_free[rows, a] += alpha * (r - q_free[rows, a])
    v2[rows, s] += alpha * (r - v2[rows, s])
  return {'model-based planner': based, 'model-free learner': free}


def fit(y: np.ndarray, x: np.ndarray) -> tuple[float, float, float]:
  """(r^2, slope, intercept) of the least-squares line y ~ x."""
  slope, intercept = np.polyfit(x, y, 1)
  r = np.corrcoef(x, y)[0, 1]
  return float(r * r), float(slope), float(intercept)


def r2_of_both(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
  """r^2 of the least-squares fit y ~ a + b."""
  design = np.stack([a, b, np.ones_like(a)], 1)
  residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
  return float(1 - residual.var() / y.var())


def regression_rows(agent_rpe, choice, stage2, reward, common_prob: float):
  """The rows of rpe_regression.csv and the best-fitting learners' RPEs."""
  y = agent_rpe.ravel()
  best = {}
  for alpha in ALPHAS:
    for learner, rpe in learner_rpes(choice, stage2, reward, common_prob, alpha).items():
      r2 = fit(y, rpe.ravel())[0]
      if learner not in best or r2 > best[learner][0]:
        best[learner] = (r2, alpha, rpe)
  names = list(best)
  both = r2_of_both(y, *(best[n][2].ravel() for n in names))
  rows = []
  for name in names:
    r2, slope, intercept = fit(y, best[name][2].ravel())
    other = best[names[1 - names.index(name)]][0]
    rows.append(dict(learner=name, alpha=best[name][1], r2=r2, slope=slope,
                     intercept=intercept, r2_beyond_other=both - other, trials=y.size,
                     published=PUBLISHED[name]))
  shared = fit(best[names[0]][2].ravel(), best[names[1]][2].ravel())[0]
  rows.append(dict(learner='model-based planner vs model-free learner', alpha='', r2=shared,
                   slope='', intercept='', r2_beyond_other='', trials=y.size, published=''))
  return rows, {name: best[name][2] for name in names}


def analyze(request: EvalRequest) -> dict:
  """Plays `request.num_episodes` episodes; writes the files above (an agent without a value
  output, or a gamma, has no RPE to read: two_step's files only)."""
  saved, env = request.saved, request.env
  evaluate = make_evaluator(env, recording_actor(request), request.num_episodes)
  traj = jax.device_get(evaluate(request.params, request.key)).trajectory
  states, actions = stage_1_steps(traj.env_state, traj.action)
  hidden = (batch_first(traj.extras['hidden'])[:, ::2] if request.log_dynamics and
            'hidden' in traj.extras else None)
  summary = two_step.write_results(request.out_dir, env, states, actions, hidden)
  settings = value_settings(saved)
  if 'value' not in traj.extras or settings is None:
    logging.info('the agent reports no value: no second-stage RPEs')
    return summary
  gamma, reward_scale = settings
  value = batch_first(traj.extras['value']) / reward_scale
  agent_rpe = gamma * value[:, 1::2] - value[:, ::2]  # r = 0 on the stage-1 step
  summary.update(write_rpe(request.out_dir, env, states, actions, agent_rpe))
  return summary


def write_rpe(out_dir: str, env, states, actions, agent_rpe) -> dict:
  """rpe_regression.csv, rpe_data.pickle and the figure, from the stage-1 states and
  actions (leaves [T, E]) and the agent's RPE per trial [E, T]."""
  outcome = jax.device_get(env.trial_outcomes(states, actions))
  choice, stage2, reward = (np.asarray(x).T.astype(int) for x in
                            (actions, outcome.stage2, outcome.reward))
  common_prob = float(env.default_params().common_prob)
  rows, learners = regression_rows(agent_rpe, choice, stage2, reward, common_prob)
  save_csv(os.path.join(out_dir, 'rpe_regression.csv'), rows)
  save_pickle(os.path.join(out_dir, 'rpe_data.pickle'), dict(agent=agent_rpe, **learners))
  plot_rpe_regression(os.path.join(out_dir, 'rpe_regression.png'), agent_rpe, learners, rows)
  r2 = {r['learner']: r['r2'] for r in rows}
  return {'rpe_r2_model_based': r2['model-based planner'],
          'rpe_r2_model_free': r2['model-free learner']}


def played(env, states, actions, rewards, out_dir: str, seed: int = 0) -> dict:
  """two_step's files of a person's stage-1 choices (no value: no RPEs)."""
  del rewards, seed
  return two_step.write_results(out_dir, env, *stage_1_steps(states, actions))


register(Analysis(env='two_step_stages', analyze=analyze, played=played, num_episodes=300,
                  log_dynamics=True,
                  summary_note='stay probabilities; r^2 of the second-stage RPE per learner'))


# Figures -----------------------------------------------------------------------------------

def plot_rpe_regression(path: str, agent_rpe, learners: dict, rows) -> None:
  """The agent's second-stage RPE against each learner's, with the fitted line and r^2."""
  fig, axes = plt.subplots(1, len(learners), figsize=(3.6 * len(learners), 3.4),
                           sharey=True, squeeze=False)
  y = agent_rpe.ravel()
  for ax, (name, rpe) in zip(axes[0], learners.items(), strict=True):
    x = rpe.ravel()
    row = next(r for r in rows if r['learner'] == name)
    ax.scatter(x, y, s=3, alpha=0.15, color='#1f77b4', rasterized=True)
    span = np.linspace(x.min(), x.max(), 2)
    ax.plot(span, row['slope'] * span + row['intercept'], color='k', lw=1)
    ax.set_title(f'{name}\nr$^2$ = {row["r2"]:.2f} (alpha {row["alpha"]:g}; paper '
                 f'{row["published"]:g})', fontsize='small')
    ax.set_xlabel(f'RPE of the {name}')
  axes[0, 0].set_ylabel("agent's RPE at the second stage")
  save(fig, path)
