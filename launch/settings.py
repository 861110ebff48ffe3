"""A run's own settings, read once from its validated and completed config as one frozen,
typed value (`run_settings`): what the trainer, its logs, its checkpoints and its backend
read of the run. Its fields are exactly the run's tables in `launch.validation` for the
agent's trainer kind, each converted as its rule says:

  name, run_dir, seed                   which run, where
  RUN_DEFAULTS (+ the kind's)           seeds, checkpoints, resume, divergence ...
  RUN_FIELDS[kind]                      the budget and log cadence (total_env_steps and
                                        log_every_env_steps, or log_every_epochs)
  eval                                  the kind's eval.* fields of RUN_FIELDS
  launch, log                           LAUNCH and LOG

The components' own sections (env, network, agent ...) are read by the components
(`metarl.config_rules.typed`); the children of a run get the whole config.
"""

from typing import Any

from launch import validation
from metarl import config_rules as rules

# What names the run; validated by `launch.validation.validate` and, for run_dir, made by
# `launch.run_folder.prepare_run_dir` before the settings are read.
IDENTITY = {
    'name': rules.Custom(rules.is_name, 'a non-empty name without /', str),
    'run_dir': rules.Custom(lambda v: rules.is_path(v) and bool(v),
                            "the run's folder (an empty run_dir is given one by "
                            'launch.run_folder.prepare_run_dir, before the trainer is made)',
                            str),
    'seed': rules.Int(0, rules.SEED_MAX),
}


def tables(kind: str) -> tuple[dict[str, rules.Rule], dict[str, rules.Rule]]:
  """The run's top-level fields and its eval fields for trainer kind `kind`."""
  fields = dict(IDENTITY, **validation.RUN_DEFAULTS,
                **validation.RUN_DEFAULTS_BY_KIND.get(kind, {}))
  evals = {}
  for key, rule in validation.RUN_FIELDS[kind].items():
    section, _, field = key.rpartition('.')
    if section == 'eval':
      evals[field] = rule
    else:
      fields[key] = rule
  return fields, evals


def run_settings(config, kind: str) -> Any:
  """The run's settings (a frozen `RunSettings`) from `config`, validated and completed
  (`launch.validation.complete`) with its run_dir made: a field missing here is a bug."""
  fields, evals = tables(kind)
  values = {}
  for key, rule in fields.items():
    value = config.get(key)
    if value is None:
      raise ValueError(f'config.{key} is not set: run_settings reads a completed config '
                       '(launch.validation.complete) whose run_dir is made')
    values[key] = rule.convert(rule.check(value, key))
  return rules.frozen('run', dict(
      values, eval=rules.typed(config.eval, evals, 'eval'),
      launch=rules.typed(config.launch, validation.LAUNCH, 'launch'),
      log=rules.typed(config.log, validation.LOG, 'log')))
