"""Analysis of episodic and incremental agents on the episodic two-step task (Ritter et al.
2018; seed 002).

Writes into `out_dir`:
  eval_data.pickle        per trial, arrays [E, T]: action, stage2, common, reward, good,
                          cue_index (-1 on uncued trials); `hidden` if config.log_dynamics
  stay_probability.csv    rows per analysis and condition: `uncued` (trial t+1 vs t, both
                          uncued), `cued` (both cued), `episodic` (a cued trial vs the
                          earlier trial whose context it presents, by that trial's outcome)
  reward_per_trial.csv    mean reward per trial (and s.e.m.) on uncued and on cued trials
  stay_probability.png    the three stay-probability bar charts side by side
"""

import os

import jax
import numpy as np

from metarl.agents.a3c import make_actor
from metarl.analysis import plots
from metarl.analysis.two_step import PUBLISHED
from metarl.envs.episodic_two_step import EpisodicTwoStep
from metarl.envs.two_step import CONDITIONS
from metarl.evaluation import make_evaluator
from metarl.io import CsvLog, save_pickle


def _rows(analysis, stay, cond_reward, cond_common, valid):
  rows = []
  for name, rewarded, is_common in CONDITIONS:
    mask = valid & (cond_reward == rewarded) & (cond_common == is_common)
    total = int(mask.sum())
    p = float(stay[mask].mean()) if total else float('nan')
    sem = float(np.sqrt(p * (1 - p) / total)) if total else float('nan')
    rows.append(dict(analysis=analysis, condition=name, rewarded=rewarded,
                     common=int(is_common), stay_probability=p, sem=sem, count=total,
                     published=PUBLISHED[name] if analysis == 'uncued' else ''))
  return rows


def stay_tables(action, reward, common, cue_index) -> list:
  """All stay rows for [E, T] arrays of whole episodes (trial t = column t)."""
  cued = cue_index >= 0
  stay_next = action[:, 1:] == action[:, :-1]
  rows = _rows('uncued', stay_next, reward[:, :-1], common[:, :-1],
               ~cued[:, :-1] & ~cued[:, 1:])
  rows += _rows('cued', stay_next, reward[:, :-1], common[:, :-1], cued[:, :-1] & cued[:, 1:])
  recalled = np.maximum(cue_index, 0)
  pick = lambda x: np.take_along_axis(x, recalled, axis=1)  # noqa: E731
  rows += _rows('episodic', action == pick(action), pick(reward), pick(common), cued)
  return rows


def analyze(config, env: EpisodicTwoStep, networks, params, out_dir: str) -> dict:
  evaluate = make_evaluator(env, make_actor(networks, record=config.log_dynamics),
                            config.num_episodes)
  result = jax.device_get(evaluate(params, jax.random.PRNGKey(config.seed)))
  traj = result.trajectory
  outcome = jax.device_get(jax.vmap(jax.vmap(env.trial_outcome, in_axes=(0, 0, None)),
                                    in_axes=(0, 0, None))(traj.env_state, traj.action,
                                                          env.default_params()))
  data = dict(action=np.asarray(traj.action).T, stage2=np.asarray(outcome.stage2).T,
              common=np.asarray(outcome.common).T, reward=np.asarray(outcome.reward).T,
              good=np.asarray(outcome.good).T,
              cue_index=np.asarray(traj.env_state.cue_index).T)
  if config.log_dynamics:
    data['hidden'] = np.swapaxes(np.asarray(traj.extras['hidden']), 0, 1)
  rows = stay_tables(data['action'], data['reward'], data['common'], data['cue_index'])
  data['stay_probability'] = rows
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), data)
  log = CsvLog(os.path.join(out_dir, 'stay_probability.csv'), list(rows[0]))
  for row in rows:
    log.write(row)
  log.close()
  cued = data['cue_index'] >= 0
  rewards = {'uncued': data['reward'][~cued], 'cued': data['reward'][cued]}
  log = CsvLog(os.path.join(out_dir, 'reward_per_trial.csv'),
               ['trials', 'mean_reward', 'sem', 'count'])
  for name, r in rewards.items():
    log.write(dict(trials=name, mean_reward=r.mean(), sem=r.std() / np.sqrt(len(r)),
                   count=len(r)))
  log.close()
  plots.stay_probability_panels(os.path.join(out_dir, 'stay_probability.png'), rows,
                                ['uncued', 'cued', 'episodic'])
  return {f'reward_{k}': float(v.mean()) for k, v in rewards.items()}
