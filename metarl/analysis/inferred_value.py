"""Reward prediction errors that reflect inferred value: Wang, Kurth-Nelson et al. (2018),
simulation 3, on Bromberg-Martin et al.'s (2010) cue-reversal task
(`metarl.envs.cue_reversal`).

The agent plays whole episodes; its value output gives the RPE at cue onset, the TD error
of the step from the fixation screen to the cue, delta = r + gamma V(cue) - V(fixation)
(the value in reward units: divided by the agent's reward_scale). On the first two trials
of each block whose rewarded cue has just switched, the cue RPE is grouped by the cue's
value under the new contingency (rewarded or not) and, on trial 2, by whether that cue was
the one just experienced on trial 1 ('experienced') or the other one, not seen since the
switch ('inferred'). A network that infers the switch from one outcome flips the sign of
both on trial 2 (paper ~+.30 / -.38 experienced, ~+.34 / -.35 inferred).

Writes into `out_dir`:
  cue_rpe.csv           trial (1, 2), cue (experienced, inferred; 'both' on trial 1), value
                        (rewarded, unrewarded: under the new contingency), switched (1: after
                        a switch, 0: blocks without one), rpe (mean), sem, count, published
  eval_data.pickle      per episode [E, T]: screen, cue, rewarded, switched, trial, block,
                        action, reward, value, rpe
  cue_rpe.png/.pdf      the paper's panel: cue RPE on trials 1 and 2 after a switch
"""

import os

import jax
import numpy as np
from absl import logging

from metarl.analysis.figures import plt, save
from metarl.analysis.registry import (
  Analysis,
  EvalRequest,
  analyze_generic,
  batch_first,
  recording_actor,
  register,
  value_settings,
)
from metarl.envs.cue_reversal import FIXATION
from metarl.evaluation import make_evaluator
from metarl.io import save_csv, save_pickle

# Wang et al. 2018 Fig. 4, read off the figure: cue RPE on trial 2 after a switch.
PUBLISHED = {('experienced', 'rewarded'): 0.30, ('experienced', 'unrewarded'): -0.38,
             ('inferred', 'rewarded'): 0.34, ('inferred', 'unrewarded'): -0.35}


def play(env, actor, params, num_episodes: int, key, gamma: float,
         reward_scale: float = 1.0) -> dict:
  """[E, T] screen, cue, rewarded, switched, trial, block, action, reward, value, rpe of
  `num_episodes` whole episodes; `rpe[t]` = reward[t] + gamma value[t+1] - value[t] (0 at
  an episode's last step); None for an actor that reports no value."""
  evaluate = make_evaluator(env, actor, num_episodes)
  traj = jax.device_get(evaluate(params, key)).trajectory
  if 'value' not in traj.extras:
    return None
  state = traj.env_state
  data = {name: batch_first(getattr(state, name)) for name in
          ('screen', 'cue', 'rewarded', 'switched', 'trial', 'block')}
  data.update(action=batch_first(traj.action), reward=batch_first(traj.reward),
              value=batch_first(traj.extras['value']) / reward_scale)
  data['rpe'] = td_errors(data['reward'], data['value'], gamma)
  return data


def td_errors(reward: np.ndarray, value: np.ndarray, gamma: float) -> np.ndarray:
  """[E, T] r_t + gamma V_{t+1} - V_t within each whole episode (0 at its last step)."""
  rpe = np.zeros_like(value)
  rpe[:, :-1] = reward[:, :-1] + gamma * value[:, 1:] - value[:, :-1]
  return rpe


def cue_rpe_rows(data: dict) -> list[dict]:
  """The mean cue RPE per trial (1, 2), cue kind and value, after a switch and without."""
  cue_onset = data['screen'] == FIXATION  # the step into the cue screen
  e, t = np.nonzero(cue_onset)
  trial, cue, rpe = data['trial'][e, t], data['cue'][e, t], data['rpe'][e, t]
  rewarded, switched, block = (data['rewarded'][e, t], data['switched'][e, t],
                               data['block'][e, t])
  # the cue of the block's first trial, for each trial (trials are in order per episode, and
  # each block starts with its trial 0): the cue at the last trial 0 so far
  first_cue = cue[np.maximum.accumulate(np.where(trial == 0, np.arange(len(trial)), 0))]
  late_blocks = block > 0  # a block with a block before it: a switch is possible
  rows = []
  for was_switched in (1, 0):
    for n in (1, 2):
      kinds = [('both', np.ones_like(cue, bool))] if n == 1 else [
          ('experienced', cue == first_cue), ('inferred', cue != first_cue)]
      for kind, of_kind in kinds:
        for value in ('rewarded', 'unrewarded'):
          mask = (late_blocks & (switched == was_switched) & (trial == n - 1) & of_kind &
                  ((cue == rewarded) == (value == 'rewarded')))
          count = int(mask.sum())
          rows.append(dict(
              trial=n, cue=kind, value=value, switched=was_switched,
              rpe=float(rpe[mask].mean()) if count else float('nan'),
              sem=float(rpe[mask].std() / np.sqrt(count)) if count > 1 else float('nan'),
              count=count,
              published=PUBLISHED.get((kind, value), '') if was_switched and n == 2 else ''))
  return rows


def summary_of(rows) -> dict:
  """Trial 2 after a switch: each cue RPE, and whether both cue kinds have the new sign."""
  after = {(r['cue'], r['value']): r['rpe'] for r in rows if r['switched'] and r['trial'] == 2}
  summary = {f'rpe_trial2_{kind}_{value}': rpe for (kind, value), rpe in after.items()}
  signs = {kind: after[(kind, 'rewarded')] > 0 > after[(kind, 'unrewarded')]
           for kind in ('experienced', 'inferred')}
  summary.update({f'sign_pattern_{kind}': float(ok) for kind, ok in signs.items()})
  size = {kind: after[(kind, 'rewarded')] - after[(kind, 'unrewarded')]
          for kind in ('experienced', 'inferred')}
  summary['inferred_over_experienced'] = (size['inferred'] / size['experienced']
                                          if size['experienced'] else float('nan'))
  return summary


def analyze(request: EvalRequest) -> dict:
  """Plays `request.num_episodes` episodes; writes the files above. An agent without a value
  output (or a gamma) has no RPE to read: it gets the generic analysis's files."""
  saved, settings = request.saved, value_settings(request.saved)
  data = None
  if settings is not None:
    data = play(request.env, recording_actor(request), request.params, request.num_episodes,
                request.key, *settings)
  if data is None:
    logging.info('the %s agent reports no value: no cue RPEs, the generic analysis only',
                 saved.agent if saved is not None else 'given')
    return analyze_generic(request)
  return write_results(request.out_dir, data)


def write_results(out_dir: str, data: dict) -> dict:
  rows = cue_rpe_rows(data)
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), data)
  save_csv(os.path.join(out_dir, 'cue_rpe.csv'), rows)
  plot_cue_rpe(os.path.join(out_dir, 'cue_rpe.png'), rows)
  return summary_of(rows)


register(Analysis(env='cue_reversal', analyze=analyze, num_episodes=60, log_dynamics=False,
                  summary_note='the cue RPE on trial 2 after a switch, and its sign pattern'))


# Figures -----------------------------------------------------------------------------------

def plot_cue_rpe(path: str, rows) -> None:
  """Bromberg-Martin et al.'s panel: the cue RPE after a switch, on trial 1 and on trial 2
  for the cue just experienced and for the other one, by the cue's new value; the paper's
  trial-2 values as dots."""
  after = [r for r in rows if r['switched']]
  groups = [(1, 'both'), (2, 'experienced'), (2, 'inferred')]
  fig, ax = plt.subplots(figsize=(5.2, 3.6))
  for i, value in enumerate(('rewarded', 'unrewarded')):
    picked = [next(r for r in after if (r['trial'], r['cue'], r['value']) == (n, k, value))
              for n, k in groups]
    x = np.arange(len(groups)) + 0.38 * (i - 0.5)
    ax.bar(x, [r['rpe'] for r in picked], width=0.38, yerr=[r['sem'] for r in picked],
           color=('#1f77b4', '#d62728')[i], label=f'cue now {value}')
    published = [(xi, r['published']) for xi, r in zip(x, picked, strict=True)
                 if r['published'] != '']
    if published:
      ax.plot(*zip(*published, strict=True), 'ko', ms=5,
              label='Wang et al. 2018' if i == 0 else None)
  ax.set_xticks(np.arange(len(groups)), ['trial 1', 'trial 2\nexperienced cue',
                                         'trial 2\ninferred cue'])
  ax.axhline(0.0, color='gray', lw=0.8)
  ax.set_ylabel('RPE at cue onset')
  ax.set_title('after a switch of the rewarded cue', fontsize='medium')
  ax.legend(fontsize='x-small', frameon=False)
  save(fig, path)
