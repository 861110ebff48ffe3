"""A small name -> entry table: environments, agents and analyses each register here once.

Components register themselves at the end of their own module (`register(...)`), so a new
task or agent is added in one place; everything else looks it up by the name a config gives.
An unknown name is refused with the list of the known ones.
"""

import contextlib
import importlib
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

Entry = TypeVar('Entry')


class UnknownName(KeyError):
  """A name nothing registered; its message lists the names that are."""

  def __str__(self) -> str:  # KeyError would quote the message
    return self.args[0]


class Registry(Generic[Entry]):
  """Entries by name, each registered once; `kind` names them in messages ('env')."""

  def __init__(self, kind: str, builtin_package: str = ''):
    """`builtin_package`: the package whose modules register the built-in entries; they
    are imported before the first lookup, so that every entry is known wherever the
    registry is read (a spawned child process included)."""
    self.kind = kind
    self._entries: dict[str, Entry] = {}
    self._modules: dict[str, str] = {}
    self._builtin_package = builtin_package
    self._loaded = not builtin_package

  def register(self, name: str, entry: Entry, module: str = '') -> Entry:
    """Adds `entry` under `name`; `module` is the module that registers it (children of a
    run import it again to know the entry). Registering the same name twice is refused
    unless it comes from the same module (a module imported a second time)."""
    if not isinstance(name, str) or not name:
      raise ValueError(f'a {self.kind} needs a non-empty name, got {name!r}')
    if name in self._entries and self._modules.get(name) != module:
      raise ValueError(f'a {self.kind} named {name!r} is already registered (by '
                       f'{self._modules[name] or "hand"}); pick another name')
    self._entries[name] = entry
    self._modules[name] = module
    return entry

  @contextlib.contextmanager
  def replaced(self, name: str, entry: Entry) -> Iterator[Entry]:
    """Within the block, `name` is `entry` in this process (fault injection: a faulty
    variant of a registered component); the registered one comes back after it."""
    old_entry, old_module = self.get(name), self._modules[name]
    self._entries[name] = entry
    try:
      yield entry
    finally:
      self._entries[name], self._modules[name] = old_entry, old_module

  def _load(self) -> None:
    if not self._loaded:
      self._loaded = True
      importlib.import_module(self._builtin_package)

  def get(self, name: str) -> Entry:
    self._load()
    if name not in self._entries:
      raise UnknownName(f'no {self.kind} is registered as {name!r}; known: '
                        f'{list(self.names())}')
    return self._entries[name]

  def __contains__(self, name: object) -> bool:
    self._load()
    return name in self._entries

  def names(self) -> tuple[str, ...]:
    self._load()
    return tuple(self._entries)

  def items(self) -> Iterable[tuple[str, Entry]]:
    self._load()
    return tuple(self._entries.items())

  def module_of(self, name: str) -> str:
    """The module that registered `name` ('' if registered by hand)."""
    self._load()
    return self._modules.get(name, '')
