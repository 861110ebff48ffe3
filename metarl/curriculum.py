"""Curriculum learning over a task's length (seed 003: "train on shorter sequences, increase
sequence length over time").

`config.curriculum` names an integer field of the environment's `EnvParams` (`field`, e.g.
the class-query task's `delay`). Training starts with it at `start`; the target is the value
the env config asks for (`config.env.<field>`). After every evaluation at the current value,
once the mean of `metric` over the last `window` evaluations reaches `threshold`, the value
grows to max(value + min_increment, ceil(value * growth_factor)), capped at the target, and
the window starts over. Evaluations made at an older value (an evaluator process may lag
behind) do not count.
"""

import math
from typing import Any, Dict, List, Optional

from absl import logging


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
    self.history: List[float] = []

  @property
  def done(self) -> bool:
    return self.value >= self.target

  def next_value(self) -> int:
    grown = max(self.value + self.min_increment, math.ceil(self.value * self.growth_factor))
    return min(self.target, grown)

  def update(self, metrics: Dict[str, float]) -> bool:
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

  def state_dict(self) -> Dict[str, Any]:
    """Where the curriculum stands (for checkpoints)."""
    return dict(value=self.value, history=list(self.history))

  def load_state_dict(self, state: Dict[str, Any]) -> None:
    self.value, self.history = int(state['value']), list(state['history'])

  def overrides(self) -> Dict[str, int]:
    """The env params to train and evaluate with now."""
    return {self.field: self.value}


def enabled(config) -> bool:
  section = config.get('curriculum')
  return bool(section is not None and section.get('enabled', False))


def make(config) -> Optional[Curriculum]:
  """The curriculum of `config.curriculum`, or None when it is off."""
  if not enabled(config):
    return None
  c = config.curriculum
  return Curriculum(field=c.field, start=c.start, target=config.env[c.field], metric=c.metric,
                    threshold=c.threshold, window=c.window, growth_factor=c.growth_factor,
                    min_increment=c.min_increment)


def start_overrides(config) -> Optional[Dict[str, int]]:
  """The env params training starts with ({field: start}), or None without a curriculum."""
  curriculum = make(config)
  return curriculum.overrides() if curriculum else None
