"""metarl from Python: train, evaluate and play a config in this process, get the run back.

    import metarl
    run = metarl.train('bandit_train', total_env_steps=2_000_000, agent__learning_rate=1e-3)
    run.eval.tail()                       # a `metarl.runs.Run`: config, tables, params
    evaluation = metarl.evaluate(run, eval__num_episodes=200)
    evaluation.summary                    # eval_summary.csv as a DataFrame

`config` is what `--config=` takes on the command line (a path, or one of metarl's configs
by name: 'bandit_train', 'configs/two_step_train.py', 'train:a3c') or a ConfigDict;
keyword overrides are its `--config.FIELD=VALUE` flags, with `__` (or a `.` in a `**{...}`
dict) between the parts of a field's path. The command line's parser and validation run,
so a bad value fails the same way, before anything starts, with the same one line (as a
`ConfigError`, where the command line exits). Ctrl-C stops a run as it stops the command
(params and a final checkpoint saved) and raises KeyboardInterrupt.

This module is an entry point, the top layer with main.py and launch/cli.py: it imports
launch/ inside its functions only, and `import metarl` does not import it until one of its
names is used (docs/ARCHITECTURE.md, "Layers").
"""

import os
from typing import Any

import ml_collections

from metarl import runs
from metarl.config_rules import ConfigError

ConfigLike = str | os.PathLike | ml_collections.ConfigDict


class UsageError(ConfigError):
  """A config, or an override, that cannot run: the command line's one line."""

  def __init__(self, message: str):  # ConfigError's (field, value, allowed) are in the text
    Exception.__init__(self, message)


def _flag_value(value: Any) -> str:
  if isinstance(value, (tuple, list)):
    return ','.join(str(v) for v in value)
  return str(value)


def load(config: ConfigLike, **overrides) -> ml_collections.ConfigDict:
  """The validated config, as `metarl --config=CONFIG --config.FIELD=VALUE ...` builds it
  (a ConfigDict: a copy, overrides set, then validated)."""
  from launch import cli  # the command line's own parser (JAX is not started by it)
  fields = {key.replace('__', '.'): value for key, value in overrides.items()}
  if isinstance(config, ml_collections.ConfigDict):
    config = ml_collections.ConfigDict(config.to_dict())  # the caller's stays as it was
    for field, value in fields.items():
      node, *path = field.split('.')[::-1]
      target = config
      for part in reversed(path):
        if part not in target or not isinstance(target[part], ml_collections.ConfigDict):
          raise UsageError(f'metarl: --config.{field}: the config has no field {part!r}')
        target = target[part]
      if node not in target:
        raise UsageError(f'metarl: --config.{field}: the config has no field {field!r}')
      try:
        target[node] = tuple(value) if isinstance(target[node], tuple) else value
      except TypeError as e:  # a value of another type than the field's
        raise UsageError(f'metarl: --config.{field}: {e}') from None
    from launch.validation import complete, validate
    try:
      validate(config)
    except ConfigError as e:
      raise UsageError(f'metarl: {e}') from None
    if config.mode == 'train':
      complete(config)
    return config
  argv = ['metarl', f'--config={os.fspath(config)}'] + [
      f'--config.{field}={_flag_value(value)}' for field, value in fields.items()]
  try:
    return cli.load_config(argv)
  except SystemExit as e:
    raise UsageError(str(e.code)) from None


def _execute(config: ml_collections.ConfigDict) -> runs.Run:
  from launch import cli
  from metarl.xla_setup import expose_cpu_cores, share_accelerators
  expose_cpu_cores()  # as the command does (no effect once JAX has started)
  share_accelerators()
  return runs.load(cli.execute(config))


def train(config: ConfigLike, **overrides) -> runs.Run:
  """Trains `config` (mode 'train') with `overrides`; returns the finished run."""
  config = load(config, **overrides)
  if config.mode != 'train':
    raise UsageError(f'metarl: {config.get("name", "this config")} is a {config.mode!r} '
                     "config: use metarl.evaluate or metarl.play")
  return _execute(config)


def evaluate(run: runs.Run | str | os.PathLike, config: ConfigLike = 'eval',
             **overrides) -> runs.Run:
  """Evaluates the params of a run (a `Run`, its folder, a params.pickle, or
  'pretrained:NAME' of an agent that ships with metarl: `metarl.pretrained`) with the
  evaluation config (`configs/eval.py` unless given) and `overrides`; returns the
  evaluation's folder as a run (its `.summary`, `.eval_data()`, figures on disk)."""
  folder = run.dir if isinstance(run, runs.Run) else os.fspath(run)
  params = (folder if folder.endswith('.pickle') or folder.startswith('pretrained:') else
            os.path.join(folder, 'params.pickle'))
  config = load(config, params_path=params, **overrides)
  if config.mode != 'eval':
    raise UsageError(f'metarl: an evaluation config is required, not a {config.mode!r} one')
  return _execute(config)
