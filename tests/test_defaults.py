"""Every default written once, in the field table of what has the field: every registered
env and agent is built from a config that names it and sets nothing else of it (each of its
fields at the table's default); no env constructor has a default of its own that differs;
the shared config sections are built from their tables; and no library or launch code reads a
field that has a rule through `.get(field, default)`, a second default. A run's own fields
are read once, as its frozen settings (`launch.settings`), by the trainer and what it builds."""

import dataclasses
import os
import re

import pytest
from ml_collections import ConfigDict

from configs import common
from launch import settings as settings_lib
from launch import validation
from metarl import curriculum
from metarl.agents import registry as agent_registry
from metarl.config_rules import typed
from metarl.envs import registry as env_registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def every_field_name() -> set[str]:
  tables = [entry.fields for _, entry in env_registry.ENVS.items()]
  tables += [fields for _, spec in agent_registry.AGENTS.items()
             for fields in spec.fields.values()]
  tables += [curriculum.FIELDS, validation.LAUNCH, validation.LOG, validation.RUN_DEFAULTS,
             validation.EVAL_FIELDS, *validation.RUN_DEFAULTS_BY_KIND.values(),
             *[{k.split('.')[-1]: r for k, r in t.items()}
               for t in validation.RUN_FIELDS.values()]]
  return {name for table in tables for name in table}


@pytest.mark.parametrize('name', sorted(env_registry.ENVS.names()))
def test_each_env_is_its_table_s_defaults(name):
  entry = env_registry.entry(name)
  assert env_registry.second_defaults(entry.cls, entry.fields) == []
  assert env_registry.env_values(ConfigDict({'name': name})) == {
      k: None if r.default is None else r.convert(r.default) for k, r in entry.fields.items()}
  env_registry.make(ConfigDict({'name': name}))  # the constructor takes exactly those


def bare_config(spec, env_name: str) -> ConfigDict:
  """A training config of `spec` on `env_name` with the run's required fields only: no
  field of the env or the agent is set."""
  c = common.run('defaults')
  c.env = ConfigDict({'name': env_name})
  c.agent = ConfigDict({'name': spec.name})
  c.eval = ConfigDict()
  for field, rule in validation.RUN_FIELDS[spec.kind].items():
    section, _, key = field.rpartition('.')
    (c[section] if section else c)[key] = False if rule.type is bool else 2
  return c


def supported_env(spec) -> str:
  for name in env_registry.ENVS.names():
    if not spec.supports(env_registry.make(ConfigDict({'name': name}))):
      return name
  raise AssertionError(f'no registered env for the {spec.name} agent')


def completed_bare_config(agent, tmp_path):
  """(spec, config): the agent on an env it supports, every field of theirs at its
  default, validated and completed."""
  spec = agent_registry.spec(agent)
  config = bare_config(spec, supported_env(spec))
  config.run_dir = str(tmp_path / 'run')
  validation.validate(config)
  validation.complete(config)
  return spec, config


@pytest.mark.parametrize('agent', sorted(agent_registry.AGENTS.names()))
def test_each_agent_is_built_from_its_table_s_defaults(agent, tmp_path):
  spec, config = completed_bare_config(agent, tmp_path)
  env = env_registry.make(config.env)
  for section, fields in spec.fields.items():  # the section holds exactly the defaults
    settings = typed(config[section], fields, section)
    assert {k: getattr(settings, k) for k in fields} == {
        k: None if r.default is None else r.convert(r.default) for k, r in fields.items()}
  for field, rule in validation.RUN_DEFAULTS.items():
    if field not in validation.RUN_FIELDS[spec.kind]:  # those bare_config sets
      assert config[field] == rule.default, field
  assert dict(config.launch) == {k: r.default for k, r in validation.LAUNCH.items()}
  spec.make(config, env)  # every field the agent reads is in its tables


def test_the_shared_sections_of_configs_are_built_from_their_tables():
  assert dict(common.launch()) == {k: r.default for k, r in validation.LAUNCH.items()}
  assert dict(common.log()) == {k: r.default for k, r in validation.LOG.items()}
  assert dict(common.launch(num_evaluators=0))['num_evaluators'] == 0
  with pytest.raises(ValueError, match="launch has no fields \\['workers'\\]"):
    common.launch(workers=2)


def test_no_code_reads_a_field_with_a_second_default():
  fields = every_field_name()
  found = []
  for folder in ('metarl', 'launch'):
    for parent, _, names in os.walk(os.path.join(ROOT, folder)):
      for name in names:
        if not name.endswith('.py'):
          continue
        path = os.path.join(parent, name)
        with open(path, encoding='utf-8') as f:
          for number, line in enumerate(f, 1):
            for field in re.findall(r"\.get\(\s*'(\w+)'\s*,", line):
              if field in fields:
                found.append(f'{os.path.relpath(path, ROOT)}:{number}: {line.strip()}')
  assert not found, '\n'.join(found)


@pytest.mark.parametrize('agent', sorted(agent_registry.AGENTS.names()))
def test_a_run_s_settings_are_its_kind_s_tables_read_once(agent, tmp_path):
  spec, config = completed_bare_config(agent, tmp_path)
  run = settings_lib.run_settings(config, spec.kind)
  fields, evals = settings_lib.tables(spec.kind)
  names = {f.name for f in dataclasses.fields(run)}
  assert names == set(fields) | {'eval', 'launch', 'log'}
  assert {k: getattr(run, k) for k in fields} == {k: config[k] for k in fields}
  assert {k: getattr(run.eval, k) for k in evals} == {k: config.eval[k] for k in evals}
  assert dataclasses.asdict(run.launch) == dict(config.launch)
  assert dataclasses.asdict(run.log) == dict(config.log)
  with pytest.raises(dataclasses.FrozenInstanceError):
    run.seed = 1
  del config.run_dir
  with pytest.raises(ValueError, match='config.run_dir is not set'):
    settings_lib.run_settings(config, spec.kind)


RUN_FIELD_READ = re.compile(r'(?<![\'"])\bconfig\.(' + '|'.join(sorted(
    set(settings_lib.IDENTITY) | set(validation.RUN_DEFAULTS) | {'eval', 'launch', 'log'} |
    {k for t in validation.RUN_DEFAULTS_BY_KIND.values() for k in t} |
    {k for t in validation.RUN_FIELDS.values() for k in t if '.' not in k})) + r')\b')


def test_the_trainers_read_the_run_s_fields_from_its_settings():
  """The trainers, their logs, checkpoints and backends read `settings.<field>`, never
  `config.<field>` of a run field (the config they hold is for the components and the
  children)."""
  found = []
  paths = [os.path.join('launch', name) for name in ('run_logs.py', 'checkpointing.py')]
  for folder in ('launch/trainers', 'launch/backends'):
    paths += [os.path.join(folder, n) for n in os.listdir(os.path.join(ROOT, folder))
              if n.endswith('.py')]
  for path in paths:
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
      for number, line in enumerate(f, 1):
        code = re.sub(r'`[^`]*`', '', line.split('#')[0])  # not comments, not `quoted`
        if RUN_FIELD_READ.search(code):
          found.append(f'{path}:{number}: {line.strip()}')
  assert not found, '\n'.join(found)
