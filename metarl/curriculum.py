"""Curriculum learning over a task's length (Bartunov's lecture: "train on shorter
sequences, increase sequence length over time").

`config.curriculum` names an integer field of the environment's `EnvParams` (`field`, e.g.
the class-query task's `delay`). Training starts with it at `start`; the target is the value
the env config asks for (`config.env.<field>`). After every evaluation at the current value,
once the mean of `metric` over the last `window` evaluations reaches `threshold`, the value
grows to max(value + min_increment, ceil(value * growth_factor)), capped at the target, and
the window starts over. Evaluations made at an older value (an evaluator process may lag
behind) do not count.
"""

import math
from typing import Any

import jax
from absl import logging

from metarl import config_rules as rules
from metarl import io
from metarl.config_rules import ConfigError
from metarl.envs.base import param_fields

# `config.curriculum` (optional): its fields are checked for type and range even when off.
FIELDS = {
    'enabled': rules.Bool(default=False),
    'field': rules.Custom(lambda v: isinstance(v, str),
                          'the name of an integer env parameter is required, e.g. delay', str,
                          default='delay'),
    'start': rules.Int(0, default=1),
    'metric': rules.Custom(lambda v: isinstance(v, str),
                           'the name of an evaluation metric is required, e.g. success', str,
                           default='success'),
    'threshold': rules.Real(default=0.9),
    'window': rules.Int(1, default=3),
    'growth_factor': rules.Real(1.0, default=1.5),
    'min_increment': rules.Int(1, default=1),
}


class Curriculum:
  """The stepping rule (plain Python: the manager owns it, jitted code never sees it)."""

  def __init__(self, field: str, start: int, target: int, metric: str = 'success',
               threshold: float = 0.9, window: int = 3, growth_factor: float = 1.5,
               min_increment: int = 1):
    self.field = field
    self.value = int(start)
    self.target = int(target)
    self.metric = metric
    self.threshold = threshold
    self.window = window
    self.growth_factor = growth_factor
    self.min_increment = min_increment
    self.history: list[float] = []

  @property
  def done(self) -> bool:
    return self.value >= self.target

  def next_value(self) -> int:
    grown = max(self.value + self.min_increment, math.ceil(self.value * self.growth_factor))
    return min(self.target, grown)

  def update(self, metrics: dict[str, float]) -> bool:
    """Adds one evaluation's metrics; returns True when the value grew.

    Args:
      metrics: an evaluation's metrics with `metric` and the `field` value it was made at
        (missing: the current value).
    """
    if self.done or int(metrics.get(self.field, self.value)) != self.value:
      return False
    self.history.append(float(metrics[self.metric]))
    recent = self.history[-self.window:]
    if len(recent) < self.window or sum(recent) / len(recent) < self.threshold:
      return False
    previous, self.value = self.value, self.next_value()
    self.history = []
    logging.info('curriculum: %s %d -> %d (mean %s %.3f over %d evaluations)', self.field,
                 previous, self.value, self.metric, sum(recent) / len(recent), len(recent))
    return True

  def save(self) -> dict[str, Any]:
    """Where the curriculum stands (for checkpoints)."""
    return dict(value=self.value, history=list(self.history))

  def restore(self, saved: dict[str, Any], path: str = '') -> None:
    """Goes on from `save()`'s value (`io.RunFileError` naming `path` if it is not one)."""
    try:
      value, history = int(saved['value']), [float(x) for x in saved['history']]
    except (KeyError, TypeError, ValueError) as e:
      raise io.RunFileError(f'{path}: its curriculum state is not one this metarl wrote '
                            f'({type(e).__name__}: {e})') from e
    self.value, self.history = value, history

  def overrides(self) -> dict[str, int]:
    """The env params to train and evaluate with now."""
    return {self.field: self.value}


def enabled(config) -> bool:
  """Whether the config has a `curriculum` section that is on (its fields checked)."""
  return 'curriculum' in config and settings(config).enabled


def settings(config):
  """`config.curriculum` as a frozen, typed value (`FIELDS`, their defaults)."""
  return rules.typed(config.curriculum, FIELDS, 'curriculum')


def make(config) -> Curriculum | None:
  """The curriculum of `config.curriculum`, or None when it is off."""
  if not enabled(config):
    return None
  c = settings(config)
  return Curriculum(field=c.field, start=c.start, target=config.env[c.field], metric=c.metric,
                    threshold=c.threshold, window=c.window, growth_factor=c.growth_factor,
                    min_increment=c.min_increment)


def start_overrides(config) -> dict[str, int] | None:
  """The env params training starts with ({field: start}), or None without a curriculum."""
  curriculum = make(config)
  return curriculum.overrides() if curriculum else None


def metric_names(env) -> list:
  """The names of `env.episode_metrics` (traced for shapes only, nothing runs)."""
  def metrics():
    state, _ = env.reset(jax.random.PRNGKey(0), env.default_params())
    states = jax.tree_util.tree_map(lambda x: x[None, None], state)
    actions = jax.numpy.zeros((1, 1), jax.numpy.int32)
    return env.episode_metrics(states, actions, jax.numpy.zeros((1, 1)))
  return sorted(jax.eval_shape(metrics))


def check(config, env) -> None:
  """An enabled curriculum grows an integer `EnvParams` field of `env` from `start` up to
  the env config's value, stepped on one of the env's evaluation metrics."""
  c = config.curriculum
  if not c.enabled:
    return
  params = env.default_params()
  fields = [f for f in param_fields(params) if jax.numpy.issubdtype(
      jax.numpy.asarray(getattr(params, f)).dtype, jax.numpy.integer)]
  if not fields:
    raise ConfigError('curriculum.enabled', True, f'env {config.env.name!r} has no integer '
                      'parameter a curriculum can grow (class_query has delay)')
  rules.check_field(config, 'curriculum.field', rules.Choice(fields))
  target = config.env[c.field]
  rules.check_field(config, 'curriculum.start', rules.Custom(
      lambda v: rules.is_int(v) and 0 <= v <= target,
      f'an integer from 0 to the target env.{c.field} ({target}) is required', int))
  rules.check_field(config, 'curriculum.metric', rules.Choice(metric_names(env)))
