"""Checks a whole experiment config before anything runs, and completes it with defaults.

`validate(config)` raises `ConfigError` naming the first bad field, its value and what is
allowed. Misspelt or ill-typed command-line overrides are already refused by ml_collections
(main.load_config loads configs with `lock_config=True`). The rules live next to what they
guard: each env's fields in its module (`metarl.envs.<env>.FIELDS`), each agent's in its
folder (`metarl/agents/<agent>/config.py`), the curriculum's in `metarl.curriculum`; this
module adds the run's own fields (mode, budget, launch, checkpoints, logs) by trainer kind
and probes the file system (existing params, writable run directories).

`complete(config)` then writes every default into the config (the components' sections, the
run's own fields from `RUN_DEFAULTS`, `LAUNCH` and `LOG`), so that config.json holds the
values a run used.
"""

import importlib.util
import os
import re
import tempfile
from typing import Any

from ml_collections import ConfigDict

from launch import sizes
from launch.backends import BACKENDS, check_launch
from launch.backends.ray_address import ADDRESSES, valid_address
from launch.run_folder import RUN_LOCK
from metarl import checkpoint, curriculum, defaults, pretrained
from metarl import config_rules as rules
from metarl.agents import registry as agent_registry
from metarl.config_rules import SEED_MAX, ConfigError, check_field, get_field
from metarl.envs import registry as env_registry
from metarl.io import RunFileError

MODES = ('train', 'eval', 'play')

_POSITIVE = dict(low=0.0, low_open=True)
_STEPS = rules.Int(1, high=None)

# Fields of the run itself, by trainer kind (`metarl.agents.base.TRAINER_KINDS`).
RUN_FIELDS = {
    'gradients': {'total_env_steps': _STEPS, 'log_every_env_steps': _STEPS,
                  'eval.every_env_steps': _STEPS, 'eval.num_episodes': rules.Int(1)},
    'seeds': {'num_seeds': rules.Int(1), 'log_every_epochs': rules.Int(1),
              'eval.every_epochs': rules.Int(1), 'eval.num_episodes': rules.Int(1),
              'eval.analyze_at_end': rules.Bool()},
}
RUN_FIELDS['replay'] = RUN_FIELDS['gradients']

# The run's own fields that a config may leave out, with their defaults (`complete` writes
# them in); `RUN_DEFAULTS_BY_KIND` adds a kind's.
RUN_DEFAULTS = {
    'num_seeds': rules.Int(1, default=1),  # seeds seed, seed + 1, ... side by side
    'checkpoint_every': rules.Int(0, high=None, default=0),  # env steps between them; 0: none
    'keep_checkpoints': rules.Int(1, default=3),  # newest checkpoints kept
    'resume': rules.Bool(default=False),  # continue the run in run_dir from its newest one
    'max_bad_updates': rules.Int(1, default=100),  # NaN/Inf updates skipped in a row: stop
}
RUN_DEFAULTS_BY_KIND = {
    # checkpoints hold the replay contents (an exact resume)
    'replay': {'checkpoint_replay': rules.Bool(default=True)},
    # a params.pickle to start from (fine-tuning; its checks: validate_init_params)
    'seeds': {'init_params_path': rules.Custom(
        lambda v: rules.is_path(v) and (not v or os.path.isfile(v)),
        "'' or the path of an existing params.pickle is required", str, default='')},
}

# config.launch: the processes of a run, every field with its default (configs/common.py
# builds the section from it).
LAUNCH = {
    # mp: processes on this machine | ray: Ray actors (docs/clusters.md)
    'backend': rules.Choice(tuple(BACKENDS), default='mp'),
    'num_workers': rules.Int(0, default=0),  # 0: train in this process (fastest on few cores)
    'num_evaluators': rules.IntRange(0, 1, default=0, why=' (0 evaluates inside the manager; '
                                     'at most 1 evaluator is supported)'),
    'updates_per_call': rules.Int(1, default=100),  # single process: updates fused per call
    # workers of a3c: gradients of this many unrolls per message, applied in order
    'unrolls_per_message': rules.Int(1, default=1),
    'queue_timeout_s': rules.Real(**_POSITIVE, default=0.5),
    'startup_timeout_s': rules.Real(**_POSITIVE, default=300.0),  # for a child's first message
    'child_timeout_s': rules.Real(**_POSITIVE, default=120.0),  # silent this long: hung
    'max_restarts': rules.Int(0, default=3),  # dead or hung children replaced before a stop
    # ray: '' starts a local instance; HOST:PORT joins a cluster
    'ray_address': rules.Custom(valid_address, f'{ADDRESSES} is required', str, default=''),
    'ray_allow_unauthenticated': rules.Bool(default=False),
    # ray, local instance: session files ('' = a new /tmp folder)
    'ray_temp_dir': rules.Custom(
        lambda v: rules.is_path(v) and (not v or (os.path.isabs(v) and len(v) <= 40)),
        "'' (a new /tmp/metarl-ray-* folder) or an absolute path of at most 40 characters "
        "is required (Ray's socket paths under it must stay short)", str, default=''),
    'ray_cpus_per_child': rules.Real(0.0, 1024.0, default=1.0),  # CPUs each actor reserves
    'oversubscribe': rules.Bool(default=False),  # more than 4 workers per CPU of this machine
}


def check_writable_dir(path: str) -> str | None:
  """None if `path` is (or can be created as) a writable directory, else why not. The
  nearest existing folder is tried for real: a folder is made in it and removed (what
  os.access says is not enough: as root it says yes to /proc)."""
  probe = os.path.abspath(path)
  while not os.path.exists(probe):
    parent = os.path.dirname(probe)
    if parent == probe:
      break
    probe = parent
  if not os.path.isdir(probe):
    return f'{probe} is not a directory'
  if not os.access(probe, os.W_OK | os.X_OK):
    return f'{probe} is not writable'
  try:
    os.rmdir(tempfile.mkdtemp(prefix='.metarl-probe-', dir=probe))
  except OSError as e:
    return f'{probe} is not writable ({e.strerror or e})'
  return None


def _section(config, field: str) -> ConfigDict:
  return rules.check_field(config, field, rules.Custom(
      lambda v: isinstance(v, ConfigDict),
      'a section of fields is required (set its fields one by one)', ConfigDict))


def validate_env(config) -> dict:
  """Every field of `config.env` by the rules its env registered; returns the values."""
  _section(config, 'env')
  return env_registry.env_values(config.env)


def validate_env_overrides(config) -> None:
  """The env fields an eval or play config sets (not None), each by its own rule. The
  others come from the trained run or the env's defaults; the merged env is checked in full
  (`validate_env`) once known."""
  known = env_registry.all_fields()
  for key, value in _section(config, 'env').items():
    if value is None:
      continue
    if key == 'name':
      env_registry.entry(value)
      continue
    if key not in known:
      raise ConfigError(f'env.{key}', value, f'no env has this field; env fields are '
                        f'{sorted(known)}')
    known[key].check(value, f'env.{key}')


def validate_agent(config, env) -> Any:
  """Whether the agent supports `env`, then its sections by the rules of its spec; returns
  the spec (its cross-field check runs once the whole config is checked)."""
  spec = agent_registry.spec(get_field(config, 'agent.name'))
  reason = spec.supports(env)
  if reason:
    raise ConfigError('env.name', config.env.name, f'the {spec.name} agent cannot train on '
                      f'it: {reason}')
  for section, fields in spec.fields.items():
    node = config.get(section)
    if node is None:
      node = ConfigDict()
    elif not isinstance(node, ConfigDict):
      _section(config, section)
    rules.section_values(node, fields, section, f'the {spec.name} agent',
                         strict=section not in spec.shared_sections)
  return spec


def validate_saved(saved: checkpoint.SavedParams) -> Any:
  """The config a params file stores, by the rules a command-line config meets (its env and
  agent sections, the agent's own cross-field check), then its params against the network
  that config builds; the stored config is completed with every default (`complete`). Returns
  the env; `RunFileError` (one line naming the file) before anything is used or written."""
  config = saved.config
  if saved.agent not in agent_registry.AGENTS:
    raise RunFileError(f'{saved.path}: params of the {saved.agent!r} agent, which is not '
                       f'registered (known: {list(agent_registry.AGENTS.names())})')
  try:
    if config.get('agent', {}).get('name') != saved.agent:
      raise ConfigError('agent.name', config.get('agent', {}).get('name'),
                        f'the file holds params of the {saved.agent!r} agent')
    env = env_registry.entry(get_field(config, 'env.name')).cls(**validate_env(config))
    spec = validate_agent(config, env)
    complete(config)  # a file of an older metarl lacks the fields added since
    if spec.check is not None:
      spec.check(config, env)
  except ConfigError as e:
    raise RunFileError(f'{saved.path}: its stored config is not one this metarl runs ({e})'
                       ) from e
  policy = spec.eval_policy(config, env, False)
  if policy.init is not None:
    seeds = checkpoint.check_fit(policy.select(saved.params), policy.init, saved.path,
                                 saved.seed_axis)
    if saved.seed_axis and seeds != len(saved.seeds):
      raise RunFileError(f'{saved.path}: its params hold {seeds} seeds, its list of seeds '
                         f'{len(saved.seeds)}')
  return env


def validate_launch(config, kind: str) -> dict[str, Any]:
  """`config.launch`: the backend (installed?), children, timeouts; a seeds run has none.
  A field left out (or the whole section) takes its default (`LAUNCH`). Returns the fields'
  values."""
  launch = rules.section_values(_section(config, 'launch') if 'launch' in config
                                else ConfigDict(), LAUNCH, 'launch', 'the launch section')
  backend = BACKENDS[launch['backend']]
  if backend.requires and importlib.util.find_spec(backend.requires) is None:
    raise ConfigError('launch.backend', launch['backend'],
                      f'{backend.requires} is not installed: {backend.install}, or use '
                      "'mp'")
  if launch['unrolls_per_message'] > 1 and not (kind == 'gradients' and
                                                launch['num_workers'] > 0):
    raise ConfigError('launch.unrolls_per_message', launch['unrolls_per_message'],
                      'a message of several unrolls is for the workers of a gradients agent '
                      '(a3c): use 1 here (without workers, launch.updates_per_call fuses '
                      'updates)')
  check_launch(ConfigDict(launch))  # the backend's own (Ray: a head at ray_address?)
  if kind == 'seeds':
    if launch['num_workers'] != 0:
      raise ConfigError('launch.num_workers', launch['num_workers'], 'this agent trains '
                        'every seed in one process (seeds are vmapped): use 0')
    if launch['num_evaluators'] != 0:
      raise ConfigError('launch.num_evaluators', launch['num_evaluators'], 'this agent '
                        'evaluates inside the manager: use 0')
  return launch


WANDB_MODES = ('offline', 'online')

# config.log: where a run's rows go besides train.csv and eval.csv (configs/common.py builds
# the section from it).
LOG = {
    # True: the rows also as TensorBoard scalars in run_dir/tensorboard
    # (to view them: pip install tensorboard; tensorboard --logdir runs/)
    'tensorboard': rules.Bool(default=False),
    # a Weights & Biases project: the rows also go to W&B ('' = off; pip install wandb)
    'wandb_project': rules.Custom(
        lambda v: isinstance(v, str) and not re.search(r'[/\\#?%:\s]', v),
        "'' (off) or a Weights & Biases project name (no '/', spaces, '#', '?', '%' or "
        "':') is required", str, default=''),
    # offline: files in run_dir/wandb (`wandb sync` them) | online
    'wandb_mode': rules.Choice(WANDB_MODES, default='offline'),
}


def validate_log(config) -> None:
  """`config.log` (a field left out, or the whole section, takes its default: CSV only); a
  sink that is on needs its package installed."""
  log = rules.section_values(_section(config, 'log') if 'log' in config else ConfigDict(),
                             LOG, 'log', 'the log section')
  if log['tensorboard'] and importlib.util.find_spec('tensorboardX') is None:
    raise ConfigError('log.tensorboard', True, 'tensorboardX is not installed: pip install '
                      'tensorboardX==2.6.5 (in requirements.txt), or use False')
  if log['wandb_project'] and importlib.util.find_spec('wandb') is None:
    raise ConfigError('log.wandb_project', log['wandb_project'], 'wandb is not installed: '
                      "pip install wandb==0.31.0 (in requirements.txt), or use ''")


def run_defaults(config, kind: str) -> dict[str, Any]:
  """The run's fields that have defaults (`RUN_DEFAULTS` and the kind's), each one the
  config sets checked by its rule, the others at their defaults."""
  values = {}
  for field, rule in dict(RUN_DEFAULTS, **RUN_DEFAULTS_BY_KIND.get(kind, {})).items():
    value = config.get(field)
    values[field] = rule.default if value is None else rule.check(value, field)
  return values


def validate_checkpoints(config, kind: str) -> None:
  """`checkpoint_every` (env steps; 0: no checkpoints), `keep_checkpoints`, `resume`,
  `max_bad_updates` and, for the replay kind, `checkpoint_replay`; a resume needs a run
  directory with a checkpoint."""
  if run_defaults(config, kind)['resume']:
    run_dir = check_field(config, 'run_dir', rules.Custom(
        lambda v: rules.is_path(v) and bool(v),
        'resume=True needs the run_dir of the run to continue', str))
    try:
      latest = checkpoint.latest(run_dir)
    except OSError as e:
      raise ConfigError('run_dir', run_dir, f'its checkpoints cannot be listed ({e})') from e
    if latest is None:
      raise ConfigError('run_dir', run_dir, 'resume=True needs a run directory with a '
                        f'checkpoint in {checkpoint.directory(run_dir)}')
    problem = check_writable_dir(run_dir)
    if problem:
      raise ConfigError('run_dir', run_dir, f'a writable directory is required ({problem})')


def validate_run_dir(config, default_parent: str, field: str = 'run_dir') -> None:
  """run_dir must be new or empty and writable; if unset, `default_parent` writable. A run
  that resumes (`resume=True`) writes into its own, already checked, directory."""
  if config.get('resume'):  # a training config's (eval and play have none)
    return
  run_dir = check_field(config, field, rules.Custom(rules.is_path,
                                                    'a path string is required', str))
  if run_dir:
    problem = check_writable_dir(run_dir)
    if problem:
      raise ConfigError(field, run_dir, f'a writable directory is required ({problem})')
    try:
      files = set(os.listdir(run_dir) if os.path.isdir(run_dir) else []) - {RUN_LOCK}
    except OSError as e:
      raise ConfigError(field, run_dir, f'a readable directory is required ({e})') from e
    if files:
      raise ConfigError(field, run_dir, 'an empty or new directory is required (this one '
                        'holds files of another run; leave run_dir empty for a fresh one)')
  else:
    problem = check_writable_dir(default_parent)
    if problem:
      raise ConfigError(field, run_dir, f'the default parent {default_parent}: {problem}')


def check_last_seed(config) -> None:
  """Seeds seed .. seed + num_seeds - 1 are trained: the last must be a valid seed."""
  if config.seed + config.num_seeds - 1 > SEED_MAX:
    raise ConfigError('num_seeds', config.num_seeds, f'seeds seed ({config.seed}) to seed + '
                      f'num_seeds - 1 are trained: the last must be <= {SEED_MAX}')


def validate_env_step_seeds(config, launch: dict[str, Any]) -> None:
  """`num_seeds` of the gradients and replay kinds: several seeds train together in one
  process only (`launch`: the checked launch fields), without a curriculum (its value
  follows one seed's evaluations)."""
  num_seeds = check_field(config, 'num_seeds', rules.Int(1))
  if num_seeds == 1:
    return
  check_last_seed(config)
  if launch['num_workers']:
    raise ConfigError('num_seeds', num_seeds, 'a run with workers (launch.num_workers > 0) '
                      'trains one seed: use 1, or launch.num_workers=0 to train the seeds '
                      'side by side in one process (launch/sweep.py runs a process per seed)')
  if curriculum.enabled(config):
    raise ConfigError('num_seeds', num_seeds, 'a curriculum follows the evaluations of one '
                      'seed: use 1 with a curriculum (launch/sweep.py trains the seeds in '
                      'processes of their own)')


def validate_train(config) -> None:
  env_values = validate_env(config)
  env = env_registry.entry(config.env.name).cls(**env_values)
  spec = validate_agent(config, env)
  validate_checkpoints(config, spec.kind)
  validate_log(config)
  for field, rule in RUN_FIELDS[spec.kind].items():
    check_field(config, field, rule)
  launch = validate_launch(config, spec.kind)
  if spec.kind != 'seeds' and 'num_seeds' in config:
    validate_env_step_seeds(config, launch)
  if spec.kind == 'seeds':
    check_last_seed(config)
    validate_init_params(config, spec, env)
  if 'curriculum' in config:
    _section(config, 'curriculum')
    rules.section_values(config.curriculum, curriculum.FIELDS, 'curriculum',
                         'the curriculum')
    if curriculum.enabled(config) and spec.kind != 'gradients':
      raise ConfigError('curriculum.enabled', True, 'a curriculum is available for agents of '
                        f"the 'gradients' kind only (the {spec.name} agent is of kind "
                        f'{spec.kind!r})')
  completed = complete_copy(config)
  if spec.check is not None:
    spec.check(completed, env)
  if 'curriculum' in config:
    curriculum.check(config, env)
  sizes.check(completed, env, spec.eval_policy(completed, env, False))
  validate_run_dir(config, default_parent='runs')


def validate_init_params(config, spec, env) -> None:
  """`init_params_path`: '' or params of this agent that fit this config's network, with
  1 seed (shared by all) or num_seeds."""
  path = run_defaults(config, spec.kind)['init_params_path']
  if not path:
    return
  try:
    checkpoint.check_init_params(checkpoint.load_params(path), spec.name,
                                 spec.eval_policy(complete_copy(config), env, False).init,
                                 config.num_seeds)
  except RunFileError as e:
    raise ConfigError('init_params_path', path, str(e).removeprefix(f'{path}: ')) from e


def complete(config) -> None:
  """Writes every default into a validated training config: the env, agent and curriculum
  sections' (`metarl.defaults.complete`) and the run's own (`RUN_DEFAULTS`, `LAUNCH`,
  `LOG`)."""
  defaults.complete(config)
  kind = agent_registry.spec(config.agent.name).kind
  with config.unlocked():  # locked again after, if it was
    config.update(run_defaults(config, kind))
    for section, fields in (('launch', LAUNCH), ('log', LOG)):
      if not isinstance(config.get(section), ConfigDict):
        config[section] = ConfigDict()
      config[section].update(rules.section_values(config[section], fields, section,
                                                  f'the {section} section'))


def complete_copy(config) -> ConfigDict:
  """`config` with every default filled in (`complete`), as a new copy."""
  copy = ConfigDict(config.to_dict())
  complete(copy)
  return copy


def validate(config) -> None:
  """Raises `ConfigError` on the first invalid field of an experiment config."""
  mode = check_field(config, 'mode', rules.Choice(MODES))
  check_field(config, 'name', rules.Custom(
      rules.is_name, "a non-empty name without '/' is required (it names the run "
      'directory)', str))
  check_field(config, 'seed', rules.Int(0, SEED_MAX))
  if mode == 'train':
    validate_train(config)
  elif mode == 'play':  # env fields left unset take the env's registered defaults
    check_field(config, 'num_episodes', rules.Int(1))
    validate_env_overrides(config)
    validate_run_dir(config, default_parent='runs')
  else:  # env fields left unset come from the trained run: checked once merged
    if isinstance(config.get('params_path'), str):
      config.params_path = pretrained.resolve(config.params_path)  # pretrained:NAME
    check_field(config, 'params_path', rules.Custom(
        lambda v: rules.is_path(v) and os.path.isfile(v),
        'the path of an existing params.pickle, or pretrained:NAME of a shipped agent '
        f'({", ".join(pretrained.names())}), is required', str))
    for field, rule in EVAL_FIELDS.items():  # one the config leaves out takes its default
      if field in config:
        check_field(config, field, rule)
      else:
        with config.unlocked():
          config[field] = rule.default
    validate_env_overrides(config)
    validate_run_dir(config, default_parent='runs' if pretrained.name_of(config.params_path)
                     else os.path.dirname(os.path.abspath(config.params_path)))


# An evaluation's own fields (configs/eval.py); None leaves the choice to the analysis.
EVAL_FIELDS = {
    'num_episodes': rules.Custom(lambda v: v is None or (rules.is_int(v) and
                                                        1 <= v <= rules.INT32_MAX),
                                 'an integer >= 1 is required (or None: the analysis\'s '
                                 'default)', int),
    'log_dynamics': rules.Custom(lambda v: v is None or rules.is_bool(v),
                                 'True or False (or None: the analysis\'s default)', bool),
    'delays': rules.ListOf(lambda d: rules.is_int(d) and 0 <= d <= 10_000,
                           'a list of delays from 0 to 10000 (empty for the default grid)'),
    'transfer': rules.Bool(default=False),
    'params_seed': rules.Custom(lambda v: v is None or (rules.is_int(v) and 0 <= v <= SEED_MAX),
                                'None (every seed of the params file) or one of its seeds',
                                int),
}
