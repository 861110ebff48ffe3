"""Evaluation: the evaluator process of a training run, and offline evaluation of saved
params (`configs/eval.py`), for every agent through its spec.

During training the evaluator waits for params the manager publishes when an evaluation is
due, runs the agent's evaluation (`AgentSpec.training_evaluator`, or `eval.num_episodes`
frozen-weight episodes of its `eval_policy`) and sends the environment's metrics back; the
manager writes them to eval.csv.

Offline, the params file names the agent, its config and the env it was trained on; the
analysis registered for that env (`metarl.analysis.registry`) plays the agent's evaluation
policy and writes its files. Evaluating on another task than the trained one needs
`transfer=True`.
"""

import csv
import os
from collections.abc import Callable

import jax
import ml_collections
from absl import logging

from launch.backends.base import Evaluation
from launch.validation import validate_env, validate_saved
from metarl import checkpoint as checkpoint_lib
from metarl import curriculum as curriculum_lib
from metarl import envs, pretrained
from metarl.agents import registry as agent_registry
from metarl.evaluation import make_evaluator
from metarl.io import (
    RunFileError,
    config_to_dict,
    new_timestamped_dir,
    save_csv,
    save_json,
    to_floats,
)


def evaluator_key(seed: int, evaluator_id: int):
  return jax.random.fold_in(jax.random.PRNGKey(seed), 2000 + evaluator_id)


def make_training_evaluator(config) -> Callable[..., dict[str, float]]:
  """`evaluate(params, key, env_overrides=None) -> {metric: float}` of published params,
  used by the evaluator and by inline evaluation.

  With a curriculum, `env_overrides` holds its current value: the metrics are measured
  there, the value is reported under the field's name, and the same metrics at the target
  (the env config's value) are reported with a 'target_' prefix.
  """
  env = envs.make(config.env)
  spec = agent_registry.spec(config.agent.name)
  if spec.training_evaluator is not None:
    own = spec.training_evaluator(config, env)
    return lambda params, key, env_overrides=None: to_floats(own(params, key))
  policy = spec.eval_policy(config, env, False)
  run = make_evaluator(env, policy.actor, config.eval.num_episodes)
  curriculum = curriculum_lib.make(config)

  def evaluate(params, key, env_overrides=None):
    params = policy.select(params)
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
  """The evaluator loop (runs in a child process; see `launch.backends`)."""
  evaluate = make_training_evaluator(config)
  base_key = evaluator_key(config.seed, evaluator_id)
  while not ctx.should_stop():
    message = ctx.wait_params(config.launch.queue_timeout_s)
    if message is None:
      continue
    metrics = evaluate(message.params, jax.random.fold_in(base_key, message.version),
                       message.env_overrides)
    ctx.send(Evaluation(version=message.version, env_steps=message.env_steps,
                        wall_time=message.wall_time, metrics=metrics))


def resolve_env(eval_env, trained_env) -> ml_collections.ConfigDict:
  """The trained run's env config with every field the evaluation config sets (not None);
  a new env name starts from that env's own defaults."""
  name = eval_env.get('name') or trained_env.name
  env = ml_collections.ConfigDict(trained_env.to_dict() if name == trained_env.name else
                                  {'name': name})
  for key, value in eval_env.items():
    if value is not None:
      env[key] = value
  return env


def evaluation_dir(config) -> str:
  """`config.run_dir`, or a new `<time>_eval` folder beside the params file (made here,
  exclusively)."""
  if config.run_dir:
    return config.run_dir
  name = pretrained.name_of(config.params_path)
  if name:  # not inside the installed package
    return new_timestamped_dir('runs', f'eval_{name}')
  return new_timestamped_dir(os.path.dirname(os.path.abspath(config.params_path)), 'eval')


def run_offline_evaluation(config) -> str:
  """Runs the frozen agent of `config.params_path` and writes its env's analysis files.

  Returns:
    The directory written to.

  Raises:
    RunFileError: unreadable params, params of an unknown agent, a stored config that is
      invalid or does not fit the params, an env other than the trained one without
      `config.transfer`, or one the params cannot act in; all before anything is written.
  """
  # The analyses (and matplotlib) are imported here, off the training path's start-up.
  from metarl.analysis import registry as analyses
  saved = checkpoint_lib.load_params(config.params_path)
  train_env = validate_saved(saved)
  train_config = saved.config
  spec = agent_registry.spec(saved.agent)
  trained_name = train_config.env.name
  asked = config.env.get('name')
  if asked and asked != trained_name and not config.transfer:
    raise RunFileError(f'config.env.name = {asked!r}: these params were trained on '
                       f'{trained_name!r}; set --config.transfer=True to evaluate them on '
                       'another task')
  with config.unlocked():
    config.env = resolve_env(config.env, train_config.env)
  validate_env(config)
  env = envs.make(config.env)
  if env.spec != train_env.spec:
    raise RunFileError(
        f'config.env gives observations {env.spec.observation_shape} and '
        f'{env.spec.num_actions} actions, but the params were trained with '
        f'{train_env.spec.observation_shape} and {train_env.spec.num_actions}')
  analysis = analyses.analysis_for(config.env.name)
  num_episodes = config.get('num_episodes') or analysis.num_episodes
  log_dynamics = config.get('log_dynamics')
  log_dynamics = analysis.log_dynamics if log_dynamics is None else log_dynamics
  with config.unlocked():  # config.json records what was used
    config.num_episodes, config.log_dynamics = num_episodes, log_dynamics
  policy = spec.eval_policy(train_config, train_env, log_dynamics)
  params = saved.params  # checked against the network by validate_saved
  wanted = config.get('params_seed')
  if wanted is not None and wanted not in saved.seeds:
    raise RunFileError(f'config.params_seed = {wanted}: {config.params_path} holds seeds '
                       f'{saved.seeds}')
  try:
    out_dir = evaluation_dir(config)
    os.makedirs(out_dir, exist_ok=True)
    save_json(os.path.join(out_dir, 'config.json'), config_to_dict(config))
  except OSError as e:
    out_dir = config.run_dir or e.filename
    raise RunFileError(f'config.run_dir = {out_dir!r}: the evaluation folder cannot be '
                       f'written ({e.strerror or e})') from e
  logging.info('evaluating %s (the %s agent, trained %d env steps on %s) into %s',
               config.params_path, saved.agent, saved.env_steps, trained_name, out_dir)

  def analyze(params, saved, folder):
    analysis.analyze(analyses.EvalRequest(
        env=env, policy=policy, params=policy.select(params), saved=saved,
        num_episodes=num_episodes, log_dynamics=log_dynamics,
        key=jax.random.PRNGKey(config.seed), out_dir=folder, options=config))

  if not saved.seed_axis:
    analyze(params, saved, out_dir)
    return out_dir
  if policy.actor is None:  # an analysis of every seed at once (value RNNs)
    if wanted is not None:
      i = saved.seeds.index(wanted)
      params = jax.tree_util.tree_map(lambda x: x[i:i + 1], params)
      saved = saved._replace(seeds=[wanted])
    analyze(params, saved, out_dir)
    return out_dir
  seeds = [wanted] if wanted is not None else saved.seeds
  for seed in seeds:  # acting agents: the analysis of each seed's params
    i = saved.seeds.index(seed)
    one = saved._replace(seeds=[seed], seed_axis=False,
                         params=jax.tree_util.tree_map(lambda x, i=i: x[i], params))
    folder = out_dir if len(seeds) == 1 else os.path.join(out_dir, f'seed_{seed}')
    os.makedirs(folder, exist_ok=True)
    analyze(one.params, one, folder)
  if len(seeds) > 1:
    gather_seed_tables(out_dir, seeds)
  return out_dir


def gather_seed_tables(out_dir: str, seeds) -> None:
  """Every CSV that each seed_<n>/ folder has, gathered beside them with a seed column."""
  folders = [os.path.join(out_dir, f'seed_{seed}') for seed in seeds]
  names = sorted(set.intersection(*[
      {n for n in os.listdir(f) if n.endswith('.csv')} for f in folders]))
  for name in names:
    rows, columns = [], ['seed']
    for folder, seed in zip(folders, seeds, strict=True):
      with open(os.path.join(folder, name), newline='') as f:
        reader = csv.DictReader(f)
        columns += [c for c in reader.fieldnames or () if c not in columns]
        rows += [dict(row, seed=seed) for row in reader]
    save_csv(os.path.join(out_dir, name), rows, columns)
