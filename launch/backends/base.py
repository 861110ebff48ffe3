"""What a backend is: the protocols between the manager and its children, written down.

A backend carries messages; it knows nothing of agents or training. The manager holds a
`Backend` and starts children on it; each child runs `target(ctx, config, child_id)` with a
`ChildContext`, its end of the channel. Params go one way (latest wins: a slow child always
gets the newest version), work and evaluations the other. A child that dies, raises or (as
the manager judges) hangs becomes a `ChildFailed` naming it.

A new backend is one module implementing these two protocols, plus one line in
`launch.backends.BACKENDS`.
"""

import importlib
from typing import Any, Callable, Dict, List, Optional, Protocol

from metarl.agents import registry as agent_registry
from metarl.envs import registry as env_registry


class ChildFailed(RuntimeError):
  """A worker or evaluator died, raised or hung (`name`: which; None: the run as a whole)."""

  def __init__(self, message: str, name: Optional[str] = None):
    super().__init__(message)
    self.name = name


class ChildContext(Protocol):
  """A child's end of the backend."""

  def should_stop(self) -> bool:
    """True once the run stops (or the manager is gone)."""

  def poll_params(self) -> Optional[Dict[str, Any]]:
    """The newest params message not yet read, or None (never blocks)."""

  def wait_params(self, timeout: float) -> Optional[Dict[str, Any]]:
    """Waits up to `timeout` seconds for a params message; the newest, or None."""

  def first_params(self, timeout: float) -> Optional[Dict[str, Any]]:
    """Waits (in `timeout` slices) for the first params message; None if the run stops."""

  def send(self, message: Dict[str, Any]) -> bool:
    """Sends to the manager (waits while its channel is full); False if the run stopped.
    The backend adds `source` (the child's name) and `pid`."""


class Backend(Protocol):
  """The manager's end: children by name ('worker-0', 'evaluator-0')."""

  def start(self, name: str, target: Callable, config, child_id: int) -> None:
    """Starts child `name` running `target(ctx, config, child_id)`."""

  def restart(self, name: str) -> None:
    """Replaces child `name` (stopped first if it still runs) with a new one that waits for
    its first params; `ChildFailed` if the new one cannot start."""

  def publish(self, name: str, message: Dict[str, Any]) -> None:
    """Hands child `name` a params message, replacing one it has not read yet."""

  def receive(self, timeout: float) -> Optional[Dict[str, Any]]:
    """The next message any child sent, or None after `timeout` seconds; `ChildFailed` for
    a child that reported an error or died."""

  def check_children(self) -> None:
    """`ChildFailed` if a child is no longer running."""

  def shutdown(self, timeout: float = 10.0) -> None:
    """Stops every child; returns when none is left, whatever state they are in."""


def component_modules(config) -> List[str]:
  """The modules that registered the run's env and agent, when they are not built in (a
  child process imports them again to know those components: `import_components`)."""
  modules = [env_registry.ENVS.module_of(config.env.name),
             agent_registry.AGENTS.module_of(config.agent.name)]
  return [m for m in dict.fromkeys(modules) if m and not m.startswith('metarl.')]


def import_components(modules: List[str]) -> None:
  for module in modules:
    importlib.import_module(module)
