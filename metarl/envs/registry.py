"""The environments' registry: each env module ends with `register(...)`; configs name them.

An `EnvEntry` holds what the rest of metarl needs to know of a task: its class, its config
FIELDS (name -> `metarl.config_rules.Rule`; the class is built as `cls(**fields)`), an
optional cross-field check, and optional play words. Validation, the env sections of eval
and play configs (placeholders), play's defaults and `make` all read it, so a new task is
one module.
"""

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import ml_collections
from ml_collections import config_dict

from metarl.config_rules import ConfigError, Rule, section_values
from metarl.envs.base import Environment
from metarl.registry import Registry


@dataclasses.dataclass(frozen=True)
class EnvEntry:
  """A registered environment.

  Attributes:
    name: the `config.env.name` that selects it.
    cls: the `Environment` subclass, built as `cls(**fields)`.
    fields: its config fields: name -> rule (with the default of the task as published).
    check: optional `check(fields)`: raises `ConfigError` (field names without 'env.') for
      values that do not fit together.
    words: optional class `words(env)` that shows the task to a person in play mode
      (`metarl.envs.words.Words`); None: the raw numbers.
  """
  name: str
  cls: type
  fields: Mapping[str, Rule]
  check: Callable[[dict[str, Any]], None] | None = None
  words: type | None = None


ENVS: Registry[EnvEntry] = Registry('env', builtin_package='metarl.envs')


def register(name: str, cls: type, fields: Mapping[str, Rule],
             check: Callable[[dict[str, Any]], None] | None = None,
             words: type | None = None) -> EnvEntry:
  """Registers an environment under `name` (call it at the end of the env's module)."""
  if not (isinstance(cls, type) and issubclass(cls, Environment)):
    raise TypeError(f'env {name!r}: {cls!r} is not a metarl.envs.base.Environment subclass')
  differ = second_defaults(cls, fields)
  if differ:
    raise TypeError(f'env {name!r}: {cls.__name__}() defaults {", ".join(differ)}; a default '
                    'is written once, in the field table (the task as published): give the '
                    'constructor the same value or none')
  entry = EnvEntry(name=name, cls=cls, fields=dict(fields), check=check, words=words)
  return ENVS.register(name, entry, module=cls.__module__)


def second_defaults(cls: type, fields: Mapping[str, Rule]) -> list[str]:
  """The parameters of `cls.__init__` whose default differs from their field's default, as
  'name=value (field: value)': an env built directly (tests, notebooks) must be the task a
  config without that field gives."""
  parameters = inspect.signature(cls.__init__).parameters
  differ = []
  for key, rule in fields.items():
    default = parameters[key].default if key in parameters else inspect.Parameter.empty
    if default is not inspect.Parameter.empty and default != rule.default:
      differ.append(f'{key}={default!r} (field: {rule.default!r})')
  return differ


def entry(name: str) -> EnvEntry:
  """The entry of env `name`; `ConfigError` on config.env.name listing the known envs."""
  if name not in ENVS:
    raise ConfigError('env.name', name, f'allowed values are {list(ENVS.names())}')
  return ENVS.get(name)


def env_values(env_config) -> dict[str, Any]:
  """The checked fields of an env section (missing or None fields take the env's
  defaults), converted to what the env class takes.

  Raises:
    ConfigError: naming the first bad field (`env.<field>`), an unknown name or field.
  """
  found = entry(env_config.get('name'))
  values = section_values(env_config, found.fields, 'env', f'the {found.name} env')
  if found.check is not None:
    try:
      found.check(values)
    except ConfigError as e:
      raise e.within('env') from None
  return {k: found.fields[k].convert(v) for k, v in values.items()}


def make(env_config) -> Environment:
  """The environment `env_config` (a `config.env` section) describes."""
  return entry(env_config.get('name')).cls(**env_values(env_config))


def defaults(name: str) -> ml_collections.ConfigDict:
  """A complete env section of env `name` with its default values."""
  found = entry(name)
  section = ml_collections.ConfigDict({'name': name})
  for key, rule in found.fields.items():
    section[key] = rule.default
  return section


def all_fields() -> dict[str, Rule]:
  """Every field any registered env has, with its rule (the first env's, where two envs
  share a field name: an env section merged from elsewhere is checked in full later)."""
  found: dict[str, Rule] = {}
  for _, env in ENVS.items():
    for key, rule in env.fields.items():
      found.setdefault(key, rule)
  return found


def placeholders(name: str | None = None) -> ml_collections.ConfigDict:
  """An env section whose fields are unset (None) but typed: every field of every
  registered env, for configs (eval, play) whose env values come from elsewhere and which
  the command line may override. `name` sets env.name (None leaves it unset too)."""
  section = ml_collections.ConfigDict()
  section.name = name if name is not None else config_dict.placeholder(str)
  for key, rule in all_fields().items():
    section[key] = config_dict.placeholder(rule.type)
  return section
