"""The agents' registry: each agent folder's `__init__.py` ends with `register(spec)`."""

import ml_collections

from metarl.agents.base import AgentSpec
from metarl.config_rules import ConfigError
from metarl.registry import Registry

AGENTS: Registry[AgentSpec] = Registry('agent', builtin_package='metarl.agents')


def register(spec: AgentSpec, module: str = '') -> AgentSpec:
  """Registers `spec` under `spec.name` (call it at the end of the agent's package);
  `module` is the module children must import to know it (default: where `spec.make`
  lives)."""
  return AGENTS.register(spec.name, spec, module=module or spec.make.__module__)


def spec(name: str) -> AgentSpec:
  """The spec of agent `name`; `ConfigError` on config.agent.name listing the known ones."""
  if name not in AGENTS:
    raise ConfigError('agent.name', name, f'allowed values are {list(AGENTS.names())}')
  return AGENTS.get(name)


def sections(name: str) -> ml_collections.ConfigDict:
  """The agent's config sections with their defaults: {'agent': {'name': name, ...},
  'network': {...}, ...} (what a training config starts from)."""
  found = spec(name)
  out = ml_collections.ConfigDict()
  for section, fields in found.fields.items():
    values = {'name': name} if section == 'agent' else {}
    values.update({field: rule.default for field, rule in fields.items()})
    out[section] = ml_collections.ConfigDict(values)
  return out
