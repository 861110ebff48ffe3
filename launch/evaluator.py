"""Evaluation: the evaluator process of a training run, and offline evaluation of saved
params (`configs/*_eval.py`).

During training the evaluator waits for params the manager publishes when an evaluation is
due, runs `config.eval.num_episodes` frozen-weight episodes (no parameter updates) and sends
the environment's episode metrics back; the manager writes them to eval.csv.
"""

import os
from typing import Callable, Dict

import jax
import ml_collections
from absl import logging

from metarl import curriculum as curriculum_lib
from metarl import envs
from metarl.agents import a3c, rsac, td
from metarl.evaluation import make_evaluator
from metarl.io import (RunFileError, config_to_dict, load_pickle, save_json,
                       timestamped_dir, to_floats)
from launch.validation import validate_env


def evaluator_key(seed: int, evaluator_id: int):
  return jax.random.fold_in(jax.random.PRNGKey(seed), 2000 + evaluator_id)


def make_training_evaluator(config) -> Callable[..., Dict[str, float]]:
  """`evaluate(params, key, env_overrides=None) -> {metric: float}`, used by the evaluator
  and by inline evaluation (for rsac, `params` are the actor's).

  With a curriculum, `env_overrides` holds its current value: the metrics are measured
  there, the value is reported under the field's name, and the same metrics at the target
  (the env config's value) are reported with a 'target_' prefix.
  """
  env = envs.make(config.env)
  if config.agent.name == 'rsac':
    evaluate_sac = rsac.make_evaluator(config, env, rsac.make_networks(config, env))
    return lambda params, key, env_overrides=None: to_floats(evaluate_sac(params, key).metrics)
  networks = a3c.make_networks(config, env)
  run = make_evaluator(env, a3c.make_actor(networks), config.eval.num_episodes)
  curriculum = curriculum_lib.make(config)

  def evaluate(params, key, env_overrides=None):
    metrics = to_floats(run(params, key, env_overrides or None).metrics)
    if curriculum is None:
      return metrics
    value = (env_overrides or {}).get(curriculum.field, curriculum.target)
    at_target = metrics if value == curriculum.target else to_floats(
        run(params, jax.random.fold_in(key, 1), {curriculum.field: curriculum.target}).metrics)
    return {curriculum.field: value, **metrics,
            **{f'target_{k}': v for k, v in at_target.items()}}

  return evaluate


def run_evaluator(ctx, config, evaluator_id: int) -> None:
  """The evaluator loop (runs in a child process; see `launch.backends.mp`)."""
  evaluate = make_training_evaluator(config)
  base_key = evaluator_key(config.seed, evaluator_id)
  while not ctx.should_stop():
    message = ctx.wait_params(config.launch.queue_timeout_s)
    if message is None:
      continue
    metrics = evaluate(message['params'], jax.random.fold_in(base_key, message['version']),
                       message.get('env_overrides'))
    ctx.send({'kind': 'eval', 'metrics': metrics,
              **{k: message[k] for k in ('version', 'env_steps', 'wall_time')}})


def load_params(path: str):
  """Loads a params.pickle written by training: (params, training ConfigDict, payload)."""
  payload = load_pickle(path, required_keys=('params', 'config', 'env_steps'))
  try:
    train_config = ml_collections.ConfigDict(payload['config'])
  except Exception as e:
    raise RunFileError(f'{path}: its config cannot be read ({e})')
  return payload['params'], train_config, payload


def resolve_env(eval_env, trained_env) -> ml_collections.ConfigDict:
  """The trained run's env config with every field the evaluation config sets (not None)."""
  env = ml_collections.ConfigDict(trained_env.to_dict())
  for key, value in eval_env.items():
    if value is not None:
      env[key] = value
  return env


def evaluation_dir(config) -> str:
  """`config.run_dir`, or a new `<time>_eval` folder beside the params file."""
  if config.run_dir:
    return config.run_dir
  return timestamped_dir(os.path.dirname(os.path.abspath(config.params_path)), 'eval')


def run_offline_evaluation(config) -> str:
  """Runs the frozen agent of `config.params_path` and writes the env's analysis files.

  Returns:
    The directory written to.
  """
  # The analyses (and matplotlib) are imported here, off the training path's start-up.
  from metarl.analysis import registry as analyses
  from metarl.analysis import value as value_analysis
  params, train_config, payload = load_params(config.params_path)
  if payload.get('agent') == 'rsac':
    raise RunFileError(f'{config.params_path}: offline evaluation of rsac params is not '
                       'available; the training run\'s eval.csv holds its evaluations')
  with config.unlocked():
    config.env = resolve_env(config.env, train_config.env)
  validate_env(config)
  env = envs.make(config.env)
  train_env = envs.make(train_config.env)
  if env.spec != train_env.spec:
    raise RunFileError(
        f'config.env gives observations {env.spec.observation_shape} and '
        f'{env.spec.num_actions} actions, but the params were trained with '
        f'{train_env.spec.observation_shape} and {train_env.spec.num_actions}')
  is_td = payload.get('agent') == 'td'
  if is_td:  # check the file before any output folder exists
    networks = td.make_networks(train_config, train_env)
    seeds = payload.get('seeds')
    if not isinstance(seeds, list) or not seeds:
      raise RunFileError(f'{config.params_path}: a td params pickle without its seeds list')
    try:
      params = td.match_params(params, networks.init(jax.random.PRNGKey(0)), len(seeds),
                               config.params_path)
    except ValueError as e:
      raise RunFileError(str(e))
  else:
    networks = a3c.make_networks(train_config, train_env)
  out_dir = evaluation_dir(config)
  os.makedirs(out_dir, exist_ok=True)
  save_json(os.path.join(out_dir, 'config.json'), config_to_dict(config))
  logging.info('evaluating %s (trained %d env steps) into %s', config.params_path,
               payload['env_steps'], out_dir)
  if is_td:
    value_analysis.analyze(env, networks, params, out_dir, train_config.agent.gamma,
                           config.num_episodes, jax.random.PRNGKey(config.seed), seeds,
                           write_eval_csv=True)
  else:
    analyses.analyze(config, env, networks, params, out_dir)
  return out_dir
