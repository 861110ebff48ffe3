"""Offline analysis of a frozen class-query agent (Bartunov's lecture): success against the delay.

The agent answers `num_episodes` fresh episodes at each delay of the eval config's `delays`
(default: a grid up to twice the trained delay, the trained delay included), so one can see
how far its memory reaches beyond what it was trained on. Files: success_by_delay.csv
(delay, success, queries, mean_episode_return), success_by_delay.png, and eval_data.pickle
with those rows and, at the trained delay, each episode's class, answer and (with
log_dynamics) the LSTM activity `hidden` [E, T, H].
"""

import os

import jax
import numpy as np

from metarl.analysis.figures import plt, save
from metarl.analysis.registry import Analysis, EvalRequest, register
from metarl.envs.class_query import ClassQuery
from metarl.evaluation import make_evaluator
from metarl.io import save_csv, save_pickle, to_floats


def default_delays(trained: int) -> list:
  grid = [0, 1, 2, 5, 10, 20, 50, 100, 150, 200, 300, 400]
  return sorted({d for d in grid if d <= 2 * max(trained, 1)} | {trained})


def analyze(request: EvalRequest) -> dict:
  """Evaluates at every delay and writes the files above.

  Returns:
    {'success_at_<delay>': success} for every delay.
  """
  env = request.env
  options = request.options
  delays = sorted((options.get('delays') if options is not None else None) or ()
                  ) or default_delays(env.delay)
  steps = env.episode_length(max(delays))
  evaluate = make_evaluator(env, request.policy.actor, request.num_episodes, num_steps=steps)
  rows, data = [], {}
  for delay in delays:
    result = jax.device_get(evaluate(request.params, jax.random.fold_in(request.key, delay),
                                     {'delay': delay}))
    rows.append(delay_row(delay, result.metrics))
    if delay == env.delay:  # each column's first episode, at the trained delay
      traj = result.trajectory
      query = env.episode_length(delay) - 1
      data = dict(cls=np.asarray(traj.env_state.cls[0]), answer=2 * np.asarray(
          traj.action[query]) - 1)
      data['correct'] = data['cls'] == data['answer']
      if request.log_dynamics and 'hidden' in traj.extras:
        data['hidden'] = np.swapaxes(np.asarray(traj.extras['hidden']), 0, 1)[:, :query + 1]
  return write_results(request.out_dir, env, rows, data)


def played(env: ClassQuery, states, actions, rewards, out_dir: str, seed: int = 0) -> dict:
  """success_by_delay at the delay played, from a person's whole episodes."""
  del seed
  metrics = env.episode_metrics(states, actions, rewards)
  rows = [delay_row(int(np.asarray(states.delay)[0, 0]), metrics)]
  return write_results(out_dir, env, rows, played_data(env, states, actions))


def delay_row(delay: int, metrics) -> dict:
  """One success_by_delay.csv row from the env's `episode_metrics` at `delay`."""
  m = to_floats(metrics)
  return dict(delay=delay, success=m['success'], queries=int(m['queries']),
              mean_episode_return=m['mean_episode_return'])


def played_data(env: ClassQuery, states, actions) -> dict:
  """eval_data's per-episode arrays of whole played episodes (leaves [T, E], one delay)."""
  query = np.asarray(env.is_query(states)).T  # [E, T], one query per episode
  cls = np.asarray(states.cls[0])
  answer = 2 * np.asarray(actions).T[query] - 1
  return dict(cls=cls, answer=answer, correct=cls == answer)


def write_results(out_dir: str, env: ClassQuery, rows: list, data: dict) -> dict:
  """Writes success_by_delay.csv / .png and eval_data.pickle (`data` + the rows).

  Returns:
    {'success_at_<delay>': success} for every row.
  """
  data = dict(data, success_by_delay=rows)
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), data)
  save_csv(os.path.join(out_dir, 'success_by_delay.csv'), rows)
  plot_success_by_delay(os.path.join(out_dir, 'success_by_delay.png'), rows, env.delay)
  return {f'success_at_{r["delay"]}': r['success'] for r in rows}


register(Analysis(env='class_query', analyze=analyze, played=played, num_episodes=1000,
                  log_dynamics=False))


# Figures -----------------------------------------------------------------------------------

def plot_success_by_delay(path: str, rows, trained_delay: int) -> None:
  """Class-query success against the delay; the trained delay and chance marked."""
  fig, ax = plt.subplots(figsize=(6, 3.5))
  ax.plot([r['delay'] for r in rows], [r['success'] for r in rows], 'o-', color='C0')
  ax.axhline(0.5, color='gray', ls=':', lw=1, label='chance')
  ax.axvline(trained_delay, color='C3', ls='--', lw=1, label=f'trained delay {trained_delay}')
  ax.set_xlabel('delay (noise-only steps before the query)')
  ax.set_ylabel('success')
  ax.set_ylim(0.4, 1.02)
  ax.legend(loc='lower left', fontsize=8)
  save(fig, path)
