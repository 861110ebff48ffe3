"""Offline analysis of a frozen agent, and of episodes a person played, by environment name."""

import os

import jax
import numpy as np

from metarl.analysis import bandit, class_query, episodic_two_step, two_step
from metarl.envs.base import param_fields
from metarl.io import save_csv, save_pickle, to_floats, to_numpy


def analyze(config, env, networks, params, out_dir: str) -> dict:
  """Runs the analysis of `config.env.name` and writes its files into `out_dir`."""
  if config.env.name == 'bandit':
    return bandit.analyze(config, env, networks, params, out_dir)
  if config.env.name == 'episodic_two_step':
    return episodic_two_step.analyze(config, env, networks, params, out_dir)
  if config.env.name == 'two_step':
    return two_step.analyze(config, env, networks, params, out_dir)
  if config.env.name == 'class_query':
    return class_query.analyze(config, env, networks, params, out_dir)
  raise ValueError(f'no offline analysis for config.env.name={config.env.name!r}')


def analyze_played(env_name: str, env, states, actions, rewards, out_dir: str,
                   seed: int = 0) -> dict:
  """Writes the files the agent's evaluation writes for `env_name`, from played episodes.

  The episodes are whole and of one length, recorded as the evaluator records an agent's:
  `states` the env states before each action (leaves [T, E]), `actions` [T, E, ...] and
  `rewards` [T, E]. Envs without an agent analysis get eval_data.pickle (the record, [E, T]
  first) and eval_summary.csv (the env's `episode_metrics`, the metrics of eval.csv).

  Returns:
    The analysis's summary numbers.
  """
  if env_name == 'bandit':
    return bandit.write_results(out_dir, np.asarray(actions).T, np.asarray(rewards).T,
                                np.asarray(states.probs[0]), jax.random.PRNGKey(seed),
                                who='human', baseline_repeats=200)
  if env_name == 'episodic_two_step':
    return episodic_two_step.write_results(out_dir, env, states, actions)
  if env_name == 'two_step':
    return two_step.write_results(out_dir, env, states, actions)
  if env_name == 'class_query':
    metrics = env.episode_metrics(states, actions, rewards)
    rows = [class_query.delay_row(int(np.asarray(states.delay)[0, 0]), metrics)]
    return class_query.write_results(out_dir, env, rows,
                                     class_query.played_data(env, states, actions))
  metrics = to_floats(env.episode_metrics(states, actions, rewards))
  batch_first = lambda x: np.swapaxes(np.asarray(x), 0, 1)  # noqa: E731
  states = to_numpy(states)
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), dict(
      states={f: batch_first(getattr(states, f)) for f in param_fields(states)},
      actions=batch_first(actions), rewards=batch_first(rewards), metrics=metrics))
  save_csv(os.path.join(out_dir, 'eval_summary.csv'),
           [dict(method='human', num_episodes=np.asarray(rewards).shape[1], **metrics)])
  return metrics
