"""Checks a whole experiment config before anything runs.

`validate(config)` raises `ConfigError` naming the first bad field, its value and what is
allowed. Misspelt or ill-typed command-line overrides are already refused by ml_collections
(configs are loaded with `lock_config=True`); this module checks the values themselves and
how fields fit together.
"""

import math
import numbers
import os
from typing import Any, Callable, Sequence

from metarl.envs import ENV_NAMES
from metarl.envs.bandit import REWARD_STRUCTURES
from metarl.io import check_writable_dir
from metarl.networks.cores import CORE_TYPES

AGENTS = ('a3c',)
BACKENDS = ('mp',)
MODES = ('train', 'eval')
SCHEDULES = ('constant', 'linear')
OPTIMIZERS = ('adam', 'rmsprop')


class ConfigError(ValueError):
  """A config field holds a value metarl cannot run with."""

  def __init__(self, field: str, value: Any, allowed: str):
    super().__init__(f'config.{field} = {value!r} is invalid: {allowed}')
    self.field = field


def _get(config, field: str) -> Any:
  node = config
  for part in field.split('.'):
    if part not in node:
      raise ConfigError(field, None, 'the field is missing from the config file')
    node = node[part]
  return node


def _is_int(v) -> bool:
  return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
  return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _check(config, field: str, ok: Callable[[Any], bool], allowed: str) -> Any:
  value = _get(config, field)
  if not ok(value):
    raise ConfigError(field, value, allowed)
  return value


def _int_at_least(config, field: str, low: int) -> int:
  return _check(config, field, lambda v: _is_int(v) and v >= low,
                f'an integer >= {low} is required')


def _real_in(config, field: str, low: float, high: float = math.inf,
             low_open: bool = False) -> float:
  def ok(v):
    return _is_real(v) and (v > low if low_open else v >= low) and v <= high
  bound = f'> {low}' if low_open else f'>= {low}'
  allowed = f'a number {bound}' + ('' if high == math.inf else f' and <= {high}')
  return _check(config, field, ok, allowed + ' is required')


def _one_of(config, field: str, names: Sequence[str]) -> str:
  return _check(config, field, lambda v: v in names, f'allowed values are {list(names)}')


def validate_env(config) -> None:
  _one_of(config, 'env.name', ENV_NAMES)
  if config.env.name == 'bandit':
    structure = _one_of(config, 'env.reward_structure', REWARD_STRUCTURES)
    arms = _int_at_least(config, 'env.num_arms', 2)
    if structure == 'correlated' and arms != 2:
      raise ConfigError('env.num_arms', arms,
                        "the 'correlated' reward structure has exactly 2 arms")
    _int_at_least(config, 'env.trials_per_episode', 1)
    probs = tuple(_get(config, 'env.fixed_probs') or ())
    if structure == 'fixed' and len(probs) != arms:
      raise ConfigError('env.fixed_probs', probs,
                        f"reward_structure 'fixed' needs one probability per arm ({arms})")
    if probs and not all(_is_real(p) and 0 <= p <= 1 for p in probs):
      raise ConfigError('env.fixed_probs', probs, 'probabilities must lie in [0, 1]')


def validate_network(config) -> None:
  _one_of(config, 'network.core', CORE_TYPES)
  _int_at_least(config, 'network.hidden_size', 1)
  _check(config, 'network.torso_sizes',
         lambda v: all(_is_int(s) and s >= 1 for s in (v or ())),
         'a list of layer sizes >= 1 is required (empty for none)')


def validate_agent(config) -> None:
  _one_of(config, 'agent.name', AGENTS)
  _int_at_least(config, 'agent.num_envs', 1)
  _int_at_least(config, 'agent.unroll_length', 1)
  _int_at_least(config, 'agent.n_step', 1)
  _real_in(config, 'agent.gamma', 0.0, 1.0)
  _real_in(config, 'agent.value_coef', 0.0)
  _real_in(config, 'agent.entropy_coef', 0.0)
  _real_in(config, 'agent.entropy_coef_end', 0.0)
  _one_of(config, 'agent.entropy_schedule', SCHEDULES)
  _one_of(config, 'agent.optimizer', OPTIMIZERS)
  _real_in(config, 'agent.optimizer_eps', 0.0, low_open=True)
  _real_in(config, 'agent.learning_rate', 0.0, low_open=True)
  _real_in(config, 'agent.learning_rate_end', 0.0)
  _one_of(config, 'agent.learning_rate_schedule', SCHEDULES)
  _real_in(config, 'agent.max_grad_norm', 0.0, low_open=True)


def validate_launch(config) -> None:
  _one_of(config, 'launch.backend', BACKENDS)
  _int_at_least(config, 'launch.num_workers', 0)
  _int_at_least(config, 'launch.num_evaluators', 0)
  _check(config, 'launch.num_evaluators', lambda v: v <= 1,
         'at most 1 evaluator is supported (0 evaluates inside the manager)')
  _int_at_least(config, 'launch.updates_per_call', 1)
  _real_in(config, 'launch.queue_timeout_s', 0.0, low_open=True)
  _real_in(config, 'launch.startup_timeout_s', 0.0, low_open=True)


def _validate_run_dir(config, default_parent: str, field: str = 'run_dir') -> None:
  """run_dir must be new or empty and writable; if unset, `default_parent` writable."""
  run_dir = _check(config, field, lambda v: isinstance(v, str), 'a path string is required')
  if run_dir:
    problem = check_writable_dir(run_dir)
    if problem:
      raise ConfigError(field, run_dir, f'a writable directory is required ({problem})')
    if os.path.isdir(run_dir) and os.listdir(run_dir):
      raise ConfigError(field, run_dir, 'an empty or new directory is required (this one '
                        'holds files of another run; leave run_dir empty for a fresh one)')
  else:
    problem = check_writable_dir(default_parent)
    if problem:
      raise ConfigError(field, run_dir, f'the default parent {default_parent}: {problem}')


def validate(config) -> None:
  """Raises `ConfigError` on the first invalid field of an experiment config."""
  mode = _one_of(config, 'mode', MODES)
  _int_at_least(config, 'seed', 0)
  if mode == 'train':
    validate_env(config)
    _int_at_least(config, 'total_env_steps', 1)
    _int_at_least(config, 'log_every_env_steps', 1)
    validate_network(config)
    validate_agent(config)
    validate_launch(config)
    _int_at_least(config, 'eval.every_env_steps', 1)
    _int_at_least(config, 'eval.num_episodes', 1)
    _validate_run_dir(config, default_parent='runs')
  else:  # env fields left unset come from the trained run: checked once merged
    _check(config, 'params_path', lambda v: isinstance(v, str) and os.path.isfile(v),
           'the path of an existing params.pickle is required')
    _int_at_least(config, 'num_episodes', 1)
    _check(config, 'log_dynamics', lambda v: isinstance(v, bool), 'True or False')
    _validate_run_dir(config, default_parent=os.path.dirname(
        os.path.abspath(config.params_path)))

