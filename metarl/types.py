"""Shared types of metarl: the environment time step and a few aliases.

The environment API follows gymnax (pure `reset`/`step` with auto-reset) and dm_env's
`TimeStep` fields, with one difference: `step` never wastes a call on resetting. When an
episode ends, the returned time step carries the final reward with `last=True` and
`discount=0` (for a termination), and already holds the first observation of the next episode
with `first=True`. Recurrent agents reset their state wherever `first` is true.
"""

from typing import Any, NamedTuple

import chex

Params = Any  # a Haiku params pytree
PRNGKey = chex.PRNGKey
Array = chex.Array


class TimeStep(NamedTuple):
  """What an environment returns from `reset` and `step`.

  Attributes:
    observation: the observation the agent acts on next.
    reward: reward of the transition that led here (0 after `reset`).
    discount: 0 if that transition terminated the episode, else 1.
    first: True if `observation` starts a new episode.
    last: True if that transition ended an episode (terminated or truncated).
  """
  observation: Array
  reward: Array
  discount: Array
  first: Array
  last: Array
