"""Every default written once, in the field table of the component that has the field (an
env's `FIELDS`, an agent's `config.FIELDS`, the curriculum's), and read from there:

  complete(config)        writes every default of the env, agent and curriculum sections
                          into a validated config, converted as the component takes it (so
                          config.json holds the values a run used, and a params file's
                          stored config, completed when read, builds the same network)

A component reads its section as one frozen, typed value (`metarl.config_rules.typed`: a
dataclass of exactly its table's fields), so a field the table lacks is an error, not a
second default.

Env constructors take their params from the same values (`metarl.envs.registry.env_values`);
registration refuses a constructor whose own default differs from its table's.
"""

from ml_collections import ConfigDict

from metarl import curriculum
from metarl.agents import registry as agent_registry
from metarl.config_rules import section_values
from metarl.envs import registry as env_registry


def complete(config) -> None:
  """Writes the defaults of the env, agent and curriculum sections into `config` (a
  validated config): every field of its env and of its agent's sections, converted as the
  component takes it; other envs' unset placeholders are dropped."""
  spec = agent_registry.spec(config.agent.name)
  sections = dict(spec.fields)
  if 'curriculum' in config:
    sections['curriculum'] = curriculum.FIELDS
  with config.unlocked():  # locked again after, if it was
    config.env = ConfigDict({'name': config.env.name,
                             **env_registry.env_values(config.env)})
    for section, fields in sections.items():
      node = config.get(section) or ConfigDict()
      shared = section in spec.shared_sections
      values = section_values(node, fields, section, f'the {section} section',
                              strict=not shared)
      merged = {k: v for k, v in node.to_dict().items()
                if k not in fields and (shared or v is not None)}
      merged.update({k: fields[k].convert(v) if v is not None else None
                     for k, v in values.items()})
      if section == 'agent':
        merged['name'] = spec.name
      config[section] = ConfigDict(merged)
