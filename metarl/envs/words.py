"""How a task reads to a person in play mode (`configs/play.py`).

An env registers a `Words` subclass (`metarl.envs.registry.register(..., words=...)`) to show
its observations, outcomes and prompts in the task's own terms; an env without one is shown
with this base class: the raw numbers.
"""

import math
from typing import Any

import numpy as np

from metarl.envs.base import Environment


class Words:
  """How a task reads to a person; this generic version shows the raw numbers.

  `situation` describes what a time step shows before the next action, `outcome` what an
  action brought, `prompt` asks for the next action and `parse` reads it.
  """

  def __init__(self, env: Environment):
    self.env = env
    self.spec = env.spec

  def intro(self) -> str:
    if self.spec.num_actions:
      return f'Actions are integers 0 to {self.spec.num_actions - 1}.'
    return f'Actions are {self.spec.action_dim} number(s) from -1 to 1, separated by spaces.'

  def situation(self, step: int, state, timestep) -> str:
    del state
    obs = ' '.join(f'{x:.3g}' for x in np.ravel(timestep.observation))
    return f'step {step + 1}/{self.env.max_episode_steps}: observation [{obs}]'

  def outcome(self, prev_state, action, timestep) -> str:
    del prev_state
    return f'{self.show(action)}: reward {float(timestep.reward):.3g}'

  def prompt(self, state) -> str:
    del state
    if self.spec.num_actions:
      return f'action [0-{self.spec.num_actions - 1}]'
    return f'action ({self.spec.action_dim} number(s) in [-1, 1])'

  def show(self, action) -> str:
    if self.spec.num_actions:
      return f'action {int(action)}'
    return 'action ' + ' '.join(f'{x:.3g}' for x in np.ravel(action))

  def default(self, state) -> Any | None:
    """The action of an empty line whatever the last action was (None: the last one)."""
    del state
    return None

  def parse(self, text: str, state) -> Any:
    """The action typed, or ValueError saying what is allowed."""
    del state
    if self.spec.num_actions:
      n = self.spec.num_actions
      try:
        action = int(text)
      except ValueError:
        action = -1
      if not 0 <= action < n:
        raise ValueError(f'type an integer from 0 to {n - 1}')
      return np.int32(action)
    parts = text.replace(',', ' ').split()
    try:
      values = [float(p) for p in parts]
    except ValueError:
      values = []
    if (len(values) != self.spec.action_dim
        or not all(math.isfinite(v) and -1.0 <= v <= 1.0 for v in values)):
      raise ValueError(f'type {self.spec.action_dim} number(s) from -1 to 1')
    return np.asarray(values, np.float32)
