"""The command line: `metarl --config=FILE [--config.a.b=v ...]`, the same as
`python main.py ...` in a clone.

The config's `mode` picks what runs: 'train' (the manager and its processes), 'eval'
(offline analysis of saved params) or 'play' (a person plays the task in the terminal). The
config is validated in full before anything starts. FILE is a path, or, when no such file
exists here, a config shipped with metarl by its path inside the repository or its name
(`configs/bandit_train.py`, `bandit_train`; a `:ARG` suffix is kept), so the command works
from any directory.
"""

import logging as py_logging
import os
import re
import signal
import sys
from collections.abc import Sequence

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags
from ml_collections.config_flags import config_path

from launch.backends import ChildFailed
from launch.stopping import TrainingDiverged
from launch.validation import complete, validate
from metarl.agents import registry as agent_registry
from metarl.config_rules import ConfigError
from metarl.io import RunFileError
from metarl.xla_setup import enable_compilation_cache, expose_cpu_cores, share_accelerators

# Before JAX starts its backend (importing the modules above does not): a run of several
# seeds spreads them over the cores, and every process of a run allocates GPU memory as
# it needs it rather than reserving most of the GPU.
expose_cpu_cores()
share_accelerators()

CONFIG_HELP = 'Experiment config file (configs/*.py); override fields with --config.a.b=v.'
_CONFIG_ARG = re.compile(r'^--?config(?:=(.*))?$')
_OVERRIDE_ARG = re.compile(r'^--?(?:no)?config\.([^=]*)')
_TYPE_NAMES = {int: 'an integer', float: 'a number', bool: 'True or False', str: 'a string',
               tuple: 'a comma-separated list'}


def _fail(message: str) -> SystemExit:
  """The exit for a bad command line: one line, 'metarl: ...', on stderr (exit status 1)."""
  return SystemExit('metarl: ' + re.sub(r'\s*\n\s*', ' ', message.strip()))


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, 'configs')


def resolve_config(value: str) -> str:
  """A --config value as a path: a bare name (`eval`, `bandit_train.py`, no folder) or
  `configs/NAME` is metarl's own config of that name where one exists, whatever files the
  current folder holds (a config file is Python that runs: a stray `./eval` must not be
  picked instead of the shipped one); any other value is the file it names (`./eval.py`
  for a file of your own). The `:ARG` suffix is kept; unchanged if nothing matches (the
  loader then says so)."""
  path, colon, arg = value.partition(':')
  if not path:
    return value
  name = path[len('configs/'):] if path.startswith('configs/') else path
  if os.sep not in name:
    for candidate in (os.path.join(CONFIGS, name), os.path.join(CONFIGS, name + '.py')):
      if os.path.isfile(candidate):
        return candidate + colon + arg
  return value


def resolve_argv(argv: Sequence[str]) -> list[str]:
  """`argv` with each --config value resolved (`resolve_config`)."""
  argv = list(argv)
  for i, arg in enumerate(argv[1:], 1):
    match = _CONFIG_ARG.match(arg)
    if match and match.group(1) is not None:
      argv[i] = f'--config={resolve_config(match.group(1))}'
    elif match and i + 1 < len(argv):
      argv[i + 1] = resolve_config(argv[i + 1])
  return argv


def _config_file(argv: Sequence[str]) -> str | None:
  """The value of the last --config=FILE (or --config FILE) in `argv`."""
  found = None
  for i, arg in enumerate(argv[1:], 1):
    match = _CONFIG_ARG.match(arg)
    if match:
      found = match.group(1) if match.group(1) is not None else (
          argv[i + 1] if i + 1 < len(argv) else None)
  return found


_AGENT_ARG = re.compile(r'^--?config\.agent\.name(?:=(.*))?$')


def _agent_override(argv: Sequence[str]) -> str | None:
  """The value of the last --config.agent.name=NAME (or --config.agent.name NAME)."""
  found = None
  for i, arg in enumerate(argv[1:], 1):
    match = _AGENT_ARG.match(arg)
    if match:
      found = match.group(1) if match.group(1) is not None else (
          argv[i + 1] if i + 1 < len(argv) else None)
  return found


def _try_load(path: str) -> ml_collections.ConfigDict | None:
  """The config of `path` without overrides, or None if it gives none."""
  try:
    return _load_file(path)
  except SystemExit:
    return None


def switch_agent(argv: Sequence[str]) -> list[str]:
  """`argv` with --config=FILE made FILE:NAME when --config.agent.name=NAME asks for another
  agent than FILE's and FILE gives NAME's settings that way (an experiment config's
  `get_config(agent)`: its task with each agent's own settings), so that the override
  switches the whole agent, not its name alone.

  Raises:
    SystemExit: FILE gives another agent's settings and none for NAME (one line naming
      `configs/train.py:NAME`, which trains any agent with its own defaults).
  """
  argv = list(argv)
  name, path = _agent_override(argv), _config_file(argv)
  if name is None or path is None or name not in agent_registry.AGENTS:
    return argv  # an unknown agent: validation lists the known ones
  config = _try_load(path)
  if config is None or 'agent' not in config or config.agent.get('name') in (None, name):
    return argv  # the loader or the validation says what is wrong, if anything
  base = path.partition(':')[0]
  switched = _try_load(f'{base}:{name}')
  if switched is None or switched.get('agent', {}).get('name') != name:
    raise _fail(f'--config.agent.name={name}: {base} gives the settings of the '
                f'{config.agent.name} agent, and none for {name}; configs/train.py:{name} '
                f'trains {name} with its own defaults on any env it supports '
                '(--config.env.name=...)')
  for i, arg in enumerate(argv[1:], 1):
    match = _CONFIG_ARG.match(arg)
    if match and match.group(1) is not None:
      argv[i] = f'--config={base}:{name}'
    elif match and i + 1 < len(argv):
      argv[i + 1] = f'{base}:{name}'
  return argv


def _overrides(argv: Sequence[str]) -> list[str]:
  """The field paths of the --config.FIELD overrides in `argv`."""
  return [m.group(1) for arg in argv[1:] if (m := _OVERRIDE_ARG.match(arg))]


def _load_file(path: str) -> ml_collections.ConfigDict:
  """The config of `path` without overrides; raises SystemExit if the file gives none."""
  argv = ['main.py', f'--config={path}']
  fv = flags.FlagValues()
  holder = config_flags.DEFINE_config_file('config', None, CONFIG_HELP, flag_values=fv,
                                           lock_config=True, sys_argv=argv)
  try:
    fv(argv)
    config = holder.value
    if not isinstance(config, ml_collections.ConfigDict):
      getattr(config, 'lock', None)  # the stand-in for a file that did not load raises here
      raise TypeError(f'get_config() returned {type(config).__name__}, not a ConfigDict')
  except Exception as e:  # a missing file, a syntax error, an exception in get_config()
    lines = [line.strip() for line in str(e).splitlines() if line.strip()] or ['']
    raise _fail(f'--config={path}: the config file gives no config '
                f'({type(e).__name__}: {lines[-1]})') from e
  return config


def _no_field(field: str, config) -> str | None:
  """Why `field` is not a field of `config` that an override can set, or None if it is."""
  parts = field.split('.')
  node, where = config, 'config'
  for i, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      known = (f'; {where} has {sorted(node.keys())}'
               if isinstance(node, ml_collections.ConfigDict) else
               f'; {where} is a value, not a section')
      return f'the config has no field {".".join(parts[:i + 1])!r}{known}'
    node, where = node[part], f'{where}.{part}'
  return None


def _parse_error(argv: Sequence[str], error: Exception) -> SystemExit:
  """One line for a command line that absl or ml_collections refused, naming the flag."""
  text = str(error)
  path = _config_file(argv)
  if path is None:
    hint = ('pass --helpfull to see the flags' if isinstance(error, flags.Error) else
            'pass --config=FILE, e.g. --config=configs/bandit_train.py')
    return _fail(f'{text} ({hint})')
  config = _load_file(path)  # exits if the config file itself is the problem
  fields = _overrides(argv)
  for field in fields:
    problem = _no_field(field, config)
    if problem:
      return _fail(f'--config.{field}: {problem}')
  bad_value = re.match(r'flag --config\.([^=]+)=', text)
  if bad_value and bad_value.group(1) in fields:  # 'flag --config.seed=abc: invalid literal..'
    kind = _TYPE_NAMES.get(config_path.get_type(bad_value.group(1), config))
    return _fail(f'{text} (config.{bad_value.group(1)} takes {kind})' if kind else text)
  no_parser = re.search(r'field config\.(\S+) is not supported for overriding', text)
  if no_parser:  # a field left None in the config file has no type to parse a value as
    return _fail(f'--config.{no_parser.group(1)}: this field cannot be set on the command '
                 'line (its value in the config file is None, which has no type)')
  if isinstance(error, flags.Error):  # unknown flags, flags out of order, missing values
    return _fail(f'{text} (pass --helpfull to see the flags)')
  named = [f for f in fields if f in text] or fields
  return _fail(f'{", ".join("--config." + f for f in named)}: {type(error).__name__}: {text}')


def load_config(argv: Sequence[str],
                flag_values: flags.FlagValues | None = None) -> ml_collections.ConfigDict:
  """The validated config of a command line: --config=FILE and --config.FIELD=VALUE overrides.

  Args:
    argv: the command line, argv[0] the program's name.
    flag_values: the FlagValues to define the config flag in and parse with (main.py passes
      absl.flags.FLAGS, for --helpfull and absl's own flags); a fresh one if None. The config
      flag can be defined only once in a FlagValues.

  Returns:
    The config, locked, with the overrides set and checked by `launch.validation.validate`;
    a training config's env and agent sections hold every field, defaults included.

  Raises:
    SystemExit: one line 'metarl: ...' naming the flag or field, for every command line that
      cannot run: a config file that does not load, a field the config does not have, a
      value of the wrong type or out of range, positional arguments.
  """
  argv = switch_agent(resolve_argv(argv))
  fv = flags.FlagValues() if flag_values is None else flag_values
  holder = config_flags.DEFINE_config_file('config', None, CONFIG_HELP, flag_values=fv,
                                           lock_config=True, sys_argv=argv)
  try:
    rest = fv(argv)
  except Exception as e:  # absl and ml_collections raise many kinds, some not flags.Error
    raise _parse_error(argv, e) from e
  if len(rest) > 1:
    raise _fail(f'unexpected arguments {rest[1:]}: metarl takes --config=FILE and '
                '--config.FIELD=VALUE flags only')
  config = holder.value
  if config is None and _config_file(argv) is None:
    raise _fail('--config=FILE is required, e.g. --config=configs/bandit_train.py')
  if not isinstance(config, ml_collections.ConfigDict):
    _load_file(_config_file(argv))  # exits with the reason
  for field, value in fv['config'].override_values.items():
    if isinstance(value, ml_collections.ConfigDict):
      raise _fail(f'--config.{field}: a whole section cannot be replaced; set its fields one '
                  f'by one (--config.{field}.FIELD=VALUE)')
  try:
    validate(config)
  except ConfigError as e:
    raise _fail(str(e)) from e
  if config.mode == 'train':
    complete(config)
  return config


def _raise_interrupt(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


def parse_flags(argv: Sequence[str]) -> list[str]:
  """app.run's flag parser: the whole command line, config validated, in absl's FLAGS."""
  load_config(argv, flags.FLAGS)
  return list(argv[:1])


def quiet_console() -> None:
  """The console is for people: warnings and errors only, besides the progress line and the
  short lines the run writes itself; INFO rows go to the run's log.txt
  (`launch.console.add_log_file`). JAX's note that it found no TPU is INFO too."""
  logging.set_verbosity(logging.INFO)
  logging.use_absl_handler()  # the root logger's terminal handler (app.run installs it too)
  for handler in [logging.get_absl_handler(), *py_logging.getLogger().handlers]:
    if not isinstance(handler, py_logging.FileHandler):  # the terminal's, not log.txt's
      handler.setLevel(py_logging.WARNING)
  py_logging.getLogger('jax._src.xla_bridge').setLevel(py_logging.WARNING)


def execute(config) -> str:
  """Runs a validated config by its mode; returns the folder it wrote."""
  enable_compilation_cache()
  if config.mode == 'train':
    from launch.manager import train
    return train(config)
  if config.mode == 'play':
    from launch.play import play
    return play(config)
  from launch.evaluator import run_offline_evaluation
  return run_offline_evaluation(config)


WROTE = {'train': 'run', 'play': 'play', 'eval': 'evaluation'}
# what a run that has started stops with in one line (the message says why), not a traceback
STOPS = (RunFileError, ChildFailed, ConfigError, TrainingDiverged)


def main(argv) -> None:
  del argv  # parse_flags refused positional arguments
  config = flags.FLAGS.config  # parsed and validated by parse_flags
  quiet_console()
  signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` stops a run like Ctrl-C
  try:
    out_dir = execute(config)
    print(f'{WROTE[config.mode]} written to {out_dir}')
  except STOPS as e:
    sys.exit(f'metarl: {e}')
  except KeyboardInterrupt:
    sys.exit('metarl: interrupted; children stopped, params saved')


def run() -> None:
  """The `metarl` console command (and main.py)."""
  app.run(main, flags_parser=parse_flags)


if __name__ == '__main__':  # python -m launch.cli, as the sweep starts a run
  run()
