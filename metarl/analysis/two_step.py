"""Two-step analysis of a frozen meta-RL agent (Wang et al. 2018, Fig. 4; seed 002).

Writes into `out_dir`:
  eval_data.pickle        per trial, arrays [E, T]: `action` (stage 1), `stage2` (0 = S1,
                          1 = S2), `common` (bool), `reward`, `good` (the good state during
                          the trial); `hidden` [E, T, H] if config.log_dynamics
  stay_probability.csv    one row per condition of the previous trial: rewarded, common,
                          stay_probability, sem, count, published (Wang 2018)
  stay_probability.png    the bar chart of Wang 2018 Fig. 4 / seed 002, published values
                          marked
"""

import os

import jax
import numpy as np

from metarl.agents.a3c import make_actor
from metarl.analysis import plots
from metarl.envs.two_step import CONDITIONS, TwoStep, stay_counts
from metarl.evaluation import make_evaluator
from metarl.io import CsvLog, save_pickle

# Wang et al. 2018 Fig. 4 as read off the figure in seed 002's repository.
PUBLISHED = {'rewarded_common': 0.99, 'rewarded_uncommon': 0.63,
             'unrewarded_common': 0.61, 'unrewarded_uncommon': 0.99}


def stay_table(action, reward, common, trial) -> list:
  """Rows of stay probability per condition for [T, E] arrays of whole episodes."""
  counts = jax.device_get(stay_counts(action, reward, common, trial))
  rows = []
  for name, rewarded, is_common in CONDITIONS:
    stays, total = (int(x) for x in counts[name])
    p = stays / total if total else float('nan')
    sem = float(np.sqrt(p * (1 - p) / total)) if total else float('nan')
    rows.append(dict(condition=name, rewarded=rewarded, common=int(is_common),
                     stay_probability=p, sem=sem, count=total, published=PUBLISHED[name]))
  return rows


def analyze(config, env: TwoStep, networks, params, out_dir: str) -> dict:
  """Plays `config.num_episodes` frozen episodes and writes the files above.

  Returns:
    {condition: stay probability, 'mean_reward_per_trial': ...}.
  """
  evaluate = make_evaluator(env, make_actor(networks, record=config.log_dynamics),
                            config.num_episodes)
  result = jax.device_get(evaluate(params, jax.random.PRNGKey(config.seed)))
  traj = result.trajectory
  outcome = jax.device_get(jax.vmap(jax.vmap(env.trial_outcome, in_axes=(0, 0, None)),
                                    in_axes=(0, 0, None))(traj.env_state, traj.action,
                                                          env.default_params()))
  rows = stay_table(traj.action, outcome.reward, outcome.common, traj.env_state.trial)
  data = dict(action=np.asarray(traj.action).T, stage2=np.asarray(outcome.stage2).T,
              common=np.asarray(outcome.common).T, reward=np.asarray(outcome.reward).T,
              good=np.asarray(outcome.good).T, stay_probability=rows)
  if config.log_dynamics:
    data['hidden'] = np.swapaxes(np.asarray(traj.extras['hidden']), 0, 1)
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), data)
  log = CsvLog(os.path.join(out_dir, 'stay_probability.csv'), list(rows[0]))
  for row in rows:
    log.write(row)
  log.close()
  plots.stay_probability(os.path.join(out_dir, 'stay_probability.png'), rows)
  summary = {r['condition']: r['stay_probability'] for r in rows}
  summary['mean_reward_per_trial'] = float(data['reward'].mean())
  return summary
