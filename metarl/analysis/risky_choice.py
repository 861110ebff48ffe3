"""Risky choice and its perturbation through the RPE: Wang, Kurth-Nelson et al. (2018),
simulation 6, on Stopper et al.'s (2014) safe / risky task (`metarl.envs.risky_bandit`).

The agent plays the task in each condition: control, and for a network whose actor
receives the critic's RPE (`network.value_core='rpe'`) the three perturbations, each
setting the RPE the actor receives after one outcome (on every trial of the episode):

  risky_reward   after the risky arm's 4: RPE -4   (paper: risky choices go down)
  safe_choice    after the safe arm's 1:  RPE -1   (up)
  risky_loss     after the risky arm's 0: RPE +1   (up)

Writes into `out_dir`:
  risky_choice.csv      condition, risky_prob (0.125, 0.5 or all), p_risky (free trials),
                        trials, expected (the paper's direction against control), moved
                        (the direction measured here)
  eval_data.pickle      per condition, [E, T]: action, arm (pulled), reward, risky_side,
                        p, free
  risky_choice.png/.pdf P(risky) per condition and risky-arm probability
"""

import os

import jax
import ml_collections
import numpy as np

from metarl.analysis.figures import plt, save
from metarl.analysis.registry import Analysis, EvalRequest, batch_first, register
from metarl.envs.risky_bandit import RISKY_PROBS, RISKY_REWARD, SAFE_REWARD, RiskyBandit
from metarl.evaluation import make_evaluator
from metarl.io import save_csv, save_pickle

# condition -> (the reward after which the actor's RPE is set, the RPE, the paper's
# direction of P(risky) against control)
PERTURBATIONS = {'risky_reward': (RISKY_REWARD, -4.0, 'down'),
                 'safe_choice': (SAFE_REWARD, -1.0, 'up'),
                 'risky_loss': (0.0, 1.0, 'up')}


def perturbed_policy(saved, env: RiskyBandit, condition: str):
  """The trained agent's evaluation policy with the actor's RPE set as `condition` says
  (its network must be value_core 'rpe'); built through the agents' registry."""
  from metarl.agents import registry as agent_registry
  after, rpe, _ = PERTURBATIONS[condition]
  config = ml_collections.ConfigDict(saved.config.to_dict())
  config.network.rpe_override_after = after
  config.network.rpe_override_to = rpe
  return agent_registry.spec(saved.agent).eval_policy(config, env, False)


def play(env: RiskyBandit, actor, params, num_episodes: int, key) -> dict:
  """[E, T] action (chosen), arm (pulled), reward, risky_side, p, free."""
  evaluate = make_evaluator(env, actor, num_episodes)
  traj = jax.device_get(evaluate(params, key)).trajectory
  state = traj.env_state
  arm = jax.vmap(jax.vmap(env.pulled))(state, traj.action)  # the env's own rule
  return dict(action=batch_first(traj.action).astype(np.int32),
              arm=batch_first(arm).astype(np.int32), reward=batch_first(traj.reward),
              risky_side=batch_first(state.risky_side), p=batch_first(state.p),
              free=batch_first(state.trial) >= 2 * env.forced_trials)


def risky_rows(condition: str, data: dict) -> list[dict]:
  """P(risky) on the free trials, per risky-arm probability and overall."""
  risky = data['arm'] == data['risky_side']
  rows = []
  for name, mask in [(f'{p:g}', np.isclose(data['p'], p)) for p in RISKY_PROBS] + [
      ('all', np.ones_like(data['free']))]:
    at = data['free'] & mask
    rows.append(dict(condition=condition, risky_prob=name,
                     p_risky=float(risky[at].mean()) if at.any() else float('nan'),
                     trials=int(at.sum())))
  return rows


def analyze(request: EvalRequest) -> dict:
  """Plays `request.num_episodes` episodes per condition; writes the files above."""
  env = request.env
  conditions = ['control']
  if request.saved is not None and request.saved.config.network.get('value_core') == 'rpe':
    conditions += list(PERTURBATIONS)
  by_condition = {}
  for condition, key in zip(conditions, jax.random.split(request.key, len(conditions)),
                            strict=True):
    actor = (request.policy.actor if condition == 'control' else
             perturbed_policy(request.saved, env, condition).actor)
    by_condition[condition] = play(env, actor, request.params, request.num_episodes, key)
  return write_results(request.out_dir, by_condition)


def write_results(out_dir: str, by_condition: dict) -> dict:
  rows = [r for condition, data in by_condition.items() for r in risky_rows(condition, data)]
  control = {r['risky_prob']: r['p_risky'] for r in rows if r['condition'] == 'control'}
  for row in rows:
    expected = PERTURBATIONS.get(row['condition'], (None, None, ''))[2]
    difference = row['p_risky'] - control[row['risky_prob']]
    row['expected'] = expected
    row['moved'] = '' if row['condition'] == 'control' else ('up' if difference > 0 else
                                                             'down')
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), by_condition)
  save_csv(os.path.join(out_dir, 'risky_choice.csv'), rows)
  plot_risky_choice(os.path.join(out_dir, 'risky_choice.png'), rows)
  summary = {f'p_risky_{r["condition"]}_{r["risky_prob"]}': r['p_risky'] for r in rows}
  perturbed = [r for r in rows if r['condition'] != 'control' and r['risky_prob'] == 'all']
  if perturbed:
    summary['perturbations_as_published'] = float(sum(r['moved'] == r['expected']
                                                      for r in perturbed))
  return summary


register(Analysis(env='risky_bandit', analyze=analyze, num_episodes=1333, log_dynamics=False,
                  summary_note='P(risky) on free trials per condition and risky probability'))


# Figures -----------------------------------------------------------------------------------

def plot_risky_choice(path: str, rows) -> None:
  """Stopper et al.'s panel: P(risky) on free trials per condition, for each probability
  of the risky arm's 4."""
  conditions = list(dict.fromkeys(r['condition'] for r in rows))
  probs = [f'{p:g}' for p in RISKY_PROBS]
  fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(conditions), 3.6))
  width = 0.8 / len(probs)
  for i, prob in enumerate(probs):
    values = [next(r['p_risky'] for r in rows if r['condition'] == c and r['risky_prob'] == prob)
              for c in conditions]
    ax.bar(np.arange(len(conditions)) + width * (i - (len(probs) - 1) / 2), values,
           width=width, label=f'risky pays 4 with p = {prob}')
  ax.set_xticks(np.arange(len(conditions)), [c.replace('_', '\n') for c in conditions])
  ax.set_ylabel('P(risky) on free trials')
  ax.set_ylim(0.0, 1.0)
  ax.axhline(0.5, color='gray', lw=0.8, ls='--')
  ax.legend(fontsize='x-small', frameon=False)
  save(fig, path)
