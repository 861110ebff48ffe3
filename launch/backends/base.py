"""What a backend is: the protocols between the manager and its children, written down.

A backend carries messages; it knows nothing of agents or training. The manager holds a
`Backend` and starts children on it, each named by a `ChildId` (role and integer index);
each child runs `target(ctx, config, index)` with a `ChildContext`, its end of the channel.
Messages are typed: `Params` go one way (latest wins: a slow child always gets the newest
version), `Work` and `Evaluation` the other, received with their sender as `Received`. A
child that dies, raises (`Failure`) or (as the manager judges) hangs becomes a
`ChildFailed` naming it.

A new backend is one module implementing these two protocols, plus one line in
`launch.backends.BACKENDS`.
"""

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol


class ChildId(NamedTuple):
  """Who a child is: its role and its index among the children of that role."""
  role: str  # WORKER or EVALUATOR
  index: int

  def __str__(self) -> str:
    return f'{self.role}-{self.index}'


WORKER, EVALUATOR = 'worker', 'evaluator'


# Messages ------------------------------------------------------------------------------------

class Params(NamedTuple):
  """The manager's newest params, for a worker or the evaluator (numpy leaves)."""
  params: Any
  version: int  # optimizer updates behind them
  env_steps: int
  wall_time: float
  env_overrides: dict[str, Any]  # env params children use now (a curriculum's value)


class Work(NamedTuple):
  """A worker's result on the params of `version` (gradients, or a chunk of steps)."""
  version: int
  env_steps: int  # env steps behind it
  payload: dict[str, Any]


class Evaluation(NamedTuple):
  """The evaluator's metrics of the params of `version`."""
  version: int
  env_steps: int
  wall_time: float
  metrics: dict[str, float]


class Failure(NamedTuple):
  """A child's exception, sent just before it exits."""
  traceback: str


class Received(NamedTuple):
  """A message as the manager receives it: from whom (the backend adds it), and what."""
  child: ChildId
  pid: int
  message: Any  # Work or Evaluation (Failure becomes ChildFailed)


class ChildFailed(RuntimeError):
  """A worker or evaluator died, raised or hung (`child`: which; None: the run as a
  whole)."""

  def __init__(self, message: str, child: ChildId | None = None):
    super().__init__(message)
    self.child = child


class ChildContext(Protocol):
  """A child's end of the backend."""

  child: ChildId

  def should_stop(self) -> bool:
    """True once the run stops (or the manager is gone)."""

  def poll_params(self) -> Params | None:
    """The newest params message not yet read, or None (never blocks)."""

  def wait_params(self, timeout: float) -> Params | None:
    """Waits up to `timeout` seconds for a params message; the newest, or None."""

  def first_params(self, timeout: float) -> Params | None:
    """Waits (in `timeout` slices) for the first params message; None if the run stops."""

  def send(self, message: Any) -> bool:
    """Sends `message` (Work or Evaluation) to the manager, which receives it as
    `Received(child, pid, message)`; waits while the channel is full; False if the run
    stopped."""


class Backend(Protocol):
  """The manager's end: children by `ChildId`."""

  def start(self, child: ChildId, target: Callable, config) -> None:
    """Starts `child` running `target(ctx, config, child.index)`."""

  def restart(self, child: ChildId) -> None:
    """Replaces `child` (stopped first if it still runs) with a new one that waits for its
    first params; `ChildFailed` if the new one cannot start."""

  def publish(self, child: ChildId, message: Params) -> None:
    """Hands `child` a params message, replacing one it has not read yet."""

  def receive(self, timeout: float) -> Received | None:
    """The next message any child sent, or None after `timeout` seconds; `ChildFailed` for
    a child that reported an error or died."""

  def check_children(self) -> None:
    """`ChildFailed` if a child is no longer running."""

  def shutdown(self, timeout: float = 10.0) -> None:
    """Stops every child; returns when none is left, whatever state they are in."""


def component_modules(config) -> list[str]:
  """The modules that registered the run's env and agent, when they are not built in (a
  child process imports them again to know those components: `import_components`)."""
  from metarl.agents import registry as agent_registry  # JAX: only where a run starts
  from metarl.envs import registry as env_registry
  modules = [env_registry.ENVS.module_of(config.env.name),
             agent_registry.AGENTS.module_of(config.agent.name)]
  return [m for m in dict.fromkeys(modules) if m and not m.startswith('metarl.')]


def import_components(modules: list[str]) -> None:
  for module in modules:
    importlib.import_module(module)
