"""Learning to learn: Wang, Kurth-Nelson et al. (2018), simulation 5, on the abstract Harlow
task (`metarl.envs.harlow`).

The agent plays whole episodes on the held-out objects (never seen in training) and on the
training objects. Trial 1 of an episode can only be a guess (50%); a network that has
learnt to learn takes the object that paid from trial 2 on (paper: trial-2 accuracy ~97%
at the end of training for the networks that reached the maximum, 28% of 50).

Writes into `out_dir`:
  harlow_accuracy.csv   object_set (test: held out, train), trial (1-6), accuracy, sem,
                        episodes
  eval_data.pickle      per object set, [E, trials]: correct (the choice took the target)
  harlow_accuracy.png/.pdf  accuracy per trial of the episode, for both object sets
The curve of accuracy against training is the run's eval.csv (accuracy_trial_n on the
training objects, every eval.every_env_steps).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from metarl.analysis.figures import plt, save
from metarl.analysis.registry import Analysis, EvalRequest, batch_first, register
from metarl.envs.base import replace_params
from metarl.envs.harlow import CHOICE, OBJECT_SETS, Harlow
from metarl.evaluation import make_evaluator
from metarl.io import save_csv, save_pickle

REACHED = 0.9  # trial-2 accuracy on held-out objects that counts as having learnt to learn


def play(env: Harlow, actor, params, num_episodes: int, key, object_set: str) -> np.ndarray:
  """[E, trials] bool: the choice of each trial took the target, on `object_set`'s objects."""
  env_params = replace_params(env.default_params(),
                              objects=jnp.asarray(env.objects_of(object_set)))
  evaluate = make_evaluator(env, actor, num_episodes, env_params=env_params)
  traj = jax.device_get(evaluate(params, key)).trajectory
  state = traj.env_state
  correct = batch_first(jax.vmap(jax.vmap(env.correct))(state, traj.action))
  choice = batch_first(state.screen) == CHOICE
  return correct[choice].reshape(num_episodes, env.trials_per_episode)


def accuracy_rows(by_set: dict) -> list[dict]:
  rows = []
  for object_set, correct in by_set.items():
    episodes = correct.shape[0]
    for n, hits in enumerate(correct.T.astype(float), start=1):
      rows.append(dict(object_set=object_set, trial=n, accuracy=float(hits.mean()),
                       sem=float(hits.std() / np.sqrt(episodes)), episodes=episodes))
  return rows


def analyze(request: EvalRequest) -> dict:
  """Plays `request.num_episodes` episodes on each object set; writes the files above."""
  keys = jax.random.split(request.key, len(OBJECT_SETS))
  by_set = {name: play(request.env, request.policy.actor, request.params,
                       request.num_episodes, key, name)
            for name, key in zip(('test', 'train'), keys, strict=True)}
  return write_results(request.out_dir, by_set)


def write_results(out_dir: str, by_set: dict) -> dict:
  rows = accuracy_rows(by_set)
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), {k: {'correct': v}
                                                          for k, v in by_set.items()})
  save_csv(os.path.join(out_dir, 'harlow_accuracy.csv'), rows)
  plot_accuracy(os.path.join(out_dir, 'harlow_accuracy.png'), rows)
  at = {(r['object_set'], r['trial']): r['accuracy'] for r in rows}
  summary = {f'accuracy_trial_{n}_{s}': at[(s, n)] for s in by_set for n in (1, 2)}
  summary['learnt_to_learn'] = float(at[('test', 2)] >= REACHED and
                                     0.45 <= at[('test', 1)] <= 0.55)
  return summary


register(Analysis(env='harlow', analyze=analyze, num_episodes=1000, log_dynamics=False,
                  summary_note='accuracy per trial on held-out (test) and training objects'))


# Figures -----------------------------------------------------------------------------------

def plot_accuracy(path: str, rows) -> None:
  """Harlow's curve within an episode: accuracy on trials 1-6, held-out and training
  objects; chance dashed."""
  fig, ax = plt.subplots(figsize=(4.2, 3.4))
  for object_set, color in (('test', '#d62728'), ('train', '#1f77b4')):
    picked = [r for r in rows if r['object_set'] == object_set]
    if not picked:
      continue
    ax.errorbar([r['trial'] for r in picked], [r['accuracy'] for r in picked],
                yerr=[r['sem'] for r in picked], color=color, marker='o', ms=4, capsize=2,
                label='held-out objects' if object_set == 'test' else 'training objects')
  ax.axhline(0.5, color='gray', lw=0.8, ls='--')
  ax.set_ylim(0.0, 1.0)
  ax.set_xlabel('trial of the episode')
  ax.set_ylabel('share of correct choices')
  ax.legend(fontsize='x-small', frameon=False)
  save(fig, path)
