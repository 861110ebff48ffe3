"""Checks a whole experiment config before anything runs.

`validate(config)` raises `ConfigError` naming the first bad field, its value and what is
allowed. Misspelt or ill-typed command-line overrides are already refused by ml_collections
(main.load_config loads configs with `lock_config=True`); this module checks the values
themselves (types, ranges, allowed names, existing paths, a usable run_dir) and how fields fit
together. Every field of every config in configs/ is checked, a disabled curriculum's and an
eval config's env overrides included (tests/test_validation_property.py).
"""

import importlib.util
import math
import numbers
import os
import re
from typing import Any, Callable, Dict, Optional, Sequence

import jax
from ml_collections import ConfigDict

from metarl import checkpoint, envs
from metarl.agents.a3c.losses import ADVANTAGES
from metarl.envs import ENV_NAMES
from metarl.envs.bandit import REWARD_STRUCTURES
from metarl.envs.base import param_fields
from metarl.envs.cue_reward import ITI_DISTRIBUTIONS
from metarl.io import check_writable_dir
from metarl.networks.cores import CORE_TYPES
from metarl.networks.policy_value import VALUE_CORES
from metarl.networks.sac import ACTIVATIONS as SAC_ACTIVATIONS
from metarl.networks.sac import SAC_CORES
from metarl.networks.value import READOUTS

AGENTS = ('a3c', 'td', 'rsac')
AGENT_ENVS = {'a3c': ('bandit', 'two_step', 'episodic_two_step', 'class_query'),
              'td': ('cue_reward',),
              'rsac': ('memory', 'pendulum')}
BACKENDS = ('mp', 'ray')
MODES = ('train', 'eval', 'play')
SCHEDULES = ('constant', 'linear')
OPTIMIZERS = ('adam', 'rmsprop')
INT32_MAX = 2**31 - 1  # counts and sizes end up in int32 arrays (JAX's default integers)
SEED_MAX = 2**32 - 1  # jax.random.PRNGKey keeps 32 bits: a larger seed repeats a smaller one
FLOAT32_MAX = 3.4028234663852886e38  # numbers beyond it are inf in float32 (JAX's default)


class ConfigError(ValueError):
  """A config field holds a value metarl cannot run with."""

  def __init__(self, field: str, value: Any, allowed: str):
    super().__init__(f'config.{field} = {_show(value)} is invalid: {allowed}')
    self.field = field


def _show(value: Any) -> str:
  """`repr(value)` on one line (a section as a dict), cut short if very long."""
  if isinstance(value, ConfigDict):
    value = value.to_dict()
  text = repr(value).replace('\n', ' ')
  return text if len(text) <= 300 else text[:297] + '...'


def _get(config, field: str) -> Any:
  node = config
  for part in field.split('.'):
    if not isinstance(node, (ConfigDict, dict)) or part not in node:
      raise ConfigError(field, None, 'the field is missing from the config file')
    node = node[part]
  return node


def _is_int(v) -> bool:
  return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_bool(v) -> bool:
  return isinstance(v, bool)


def _is_real(v) -> bool:
  """A number that stays finite in float32."""
  return (isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and
          abs(v) <= FLOAT32_MAX)


def _is_path(v) -> bool:
  """A string the OS takes as a path (no NUL byte, encodable in the file system's encoding)."""
  if not isinstance(v, str) or '\0' in v:
    return False
  try:
    os.fsencode(v)
  except UnicodeError:
    return False
  return True


def _is_name(v) -> bool:
  """A string usable as one component of a directory name."""
  return (_is_path(v) and bool(v.strip()) and v not in ('.', '..') and '/' not in v and
          os.sep not in v)


def _is_list(v, ok: Callable[[Any], bool]) -> bool:
  return isinstance(v, (tuple, list)) and all(ok(x) for x in v)


def _check(config, field: str, ok: Callable[[Any], bool], allowed: str) -> Any:
  value = _get(config, field)
  if not ok(value):
    raise ConfigError(field, value, allowed)
  return value


def _int_at_least(config, field: str, low: int, high: Optional[int] = INT32_MAX) -> int:
  """An integer >= `low` and, unless `high` is None, <= `high`."""
  def ok(v):
    return _is_int(v) and v >= low and (high is None or v <= high)
  most = '' if high is None else f' (at most {high})'
  return _check(config, field, ok, f'an integer >= {low}{most} is required')


def _real_in(config, field: str, low: float, high: float = math.inf,
             low_open: bool = False) -> float:
  def ok(v):
    return _is_real(v) and (v > low if low_open else v >= low) and v <= high
  bounds = [f'> {low}' if low_open else f'>= {low}'] if low > -math.inf else []
  bounds += [f'<= {high}'] if high < math.inf else []
  allowed = ' '.join(['a number', ' and '.join(bounds)]).strip()
  if high == math.inf:
    allowed += ' that float32 holds (|x| <= 3.4e38)'
  return _check(config, field, ok, allowed + ' is required')


def _one_of(config, field: str, names: Sequence[str]) -> str:
  return _check(config, field, lambda v: isinstance(v, str) and v in names,
                f'allowed values are {list(names)}')


def _bool(config, field: str) -> bool:
  return _check(config, field, _is_bool, 'True or False')


def _ints(low: int, high: Optional[int] = INT32_MAX) -> Callable:
  return lambda config, field: _int_at_least(config, field, low, high)


def _reals(low: float, high: float = math.inf, low_open: bool = False) -> Callable:
  return lambda config, field: _real_in(config, field, low, high, low_open)


def _choice(names: Sequence[str]) -> Callable:
  return lambda config, field: _one_of(config, field, names)


def _sizes(config, field: str) -> tuple:
  """A list of layer sizes, possibly empty."""
  value = _check(config, field, lambda v: v is None or _is_list(
      v, lambda s: _is_int(s) and 1 <= s <= INT32_MAX),
      'a list of layer sizes >= 1 is required (empty for none)')
  return tuple(value or ())


def _fixed_probs(config, field: str) -> tuple:
  return tuple(_check(
      config, field, lambda v: v is None or _is_list(v, lambda p: _is_real(p) and 0 <= p <= 1),
      "probabilities must lie in [0, 1] (one per arm; empty unless reward_structure is "
      "'fixed')") or ())


def _cue_delays(config, field: str) -> tuple:
  return _check(config, field, lambda v: _is_list(
      v, lambda d: _is_int(d) and 1 <= d <= INT32_MAX) and len(v) >= 1,
      'one reward delay (an integer >= 1) per cue is required, e.g. 10,15')


def _cue_probs(config, field: str) -> tuple:
  return _check(config, field, lambda v: not v or _is_list(v, lambda p: _is_real(p) and p >= 0),
                'empty (cues equally likely) or one probability >= 0 per cue')


def _iti_bound(why: str) -> Callable:
  return lambda config, field: _check(config, field, lambda v: _is_int(v) and 1 <= v <= 1000,
                                      f'an integer from 1 to 1000 is required{why}')


# Every env field, checked on its own (the ranges hold for whichever env has the field);
# `validate_env` adds what depends on the env and on other fields. An eval config sets only
# some env fields: those are checked with these alone, the merged env in full once loaded.
ENV_FIELDS: Dict[str, Callable] = {
    'name': _choice(ENV_NAMES),
    'num_arms': _ints(2),
    'reward_structure': _choice(REWARD_STRUCTURES),
    'trials_per_episode': _ints(1),
    'fixed_probs': _fixed_probs,
    'common_prob': _reals(0.0, 1.0),
    'reward_prob': _reals(0.0, 1.0),
    'swap_prob': _reals(0.0, 1.0),
    'context_size': _ints(1),
    'cue_delays': _cue_delays,
    'cue_probs': _cue_probs,
    'iti_distribution': _choice(ITI_DISTRIBUTIONS),
    'iti_p': _reals(0.0, 1.0, low_open=True),
    'iti_min': _iti_bound(' (a trial starts with an empty step)'),
    'iti_max': _iti_bound(''),
    'delay_jitter': _ints(0),
    'omission_prob': _reals(0.0, 1.0),
    'reward_in_observation': _bool,
    'horizon': _ints(1),
    'input_probability': _reals(0.0, 1.0),
    'episode_step_limit': _ints(1),
    'observe_velocity': _bool,
    'cue_steps': _ints(1),
    'delay': _ints(0),
    'noise_scale': _reals(0.0),
    'reward_correct': _reals(-math.inf),
    'reward_wrong': _reals(-math.inf),
}


def _env(config, name: str) -> Any:
  """`config.env.<name>`, checked by its `ENV_FIELDS` rule."""
  return ENV_FIELDS[name](config, f'env.{name}')


def _section(config, field: str) -> ConfigDict:
  return _check(config, field, lambda v: isinstance(v, ConfigDict),
                'a section of fields is required (set its fields one by one)')


def validate_env(config) -> None:
  """Every field of `config.env` for the env it names, and how they fit together."""
  _section(config, 'env')
  name = _env(config, 'name')
  if name == 'bandit':
    structure = _env(config, 'reward_structure')
    arms = _env(config, 'num_arms')
    if structure == 'correlated' and arms != 2:
      raise ConfigError('env.num_arms', arms,
                        "the 'correlated' reward structure has exactly 2 arms")
    _env(config, 'trials_per_episode')
    probs = _env(config, 'fixed_probs')
    if structure == 'fixed' and len(probs) != arms:
      raise ConfigError('env.fixed_probs', probs,
                        f"reward_structure 'fixed' needs one probability per arm ({arms})")
  elif name in ('two_step', 'episodic_two_step'):
    for field in ('common_prob', 'reward_prob', 'swap_prob'):
      _env(config, field)
    if name == 'two_step':
      _int_at_least(config, 'env.trials_per_episode', 2)
    else:
      _check(config, 'env.trials_per_episode',
             lambda v: _is_int(v) and 4 <= v <= INT32_MAX and v % 4 == 0,
             'a multiple of 4 is required (uncued then cued trials, each in two halves)')
      _env(config, 'context_size')
  elif name == 'cue_reward':
    delays = _env(config, 'cue_delays')
    probs = _env(config, 'cue_probs')
    if probs and (len(probs) != len(delays) or sum(probs) <= 0):
      raise ConfigError('env.cue_probs', probs,
                        f'one probability per cue ({len(delays)}), not all zero')
    _env(config, 'iti_distribution')
    _env(config, 'iti_p')
    iti_min = _env(config, 'iti_min')
    _env(config, 'iti_max')
    _check(config, 'env.iti_max', lambda v: iti_min <= v,
           f'an integer from env.iti_min ({iti_min}) to 1000 is required')
    jitter = _env(config, 'delay_jitter')
    if min(delays) - jitter < 1:
      raise ConfigError('env.delay_jitter', jitter,
                        f'the shortest delay ({min(delays)}) minus the jitter must be >= 1')
    _env(config, 'omission_prob')
    _env(config, 'reward_in_observation')
  elif name == 'memory':
    _env(config, 'horizon')
    _env(config, 'input_probability')
    _env(config, 'episode_step_limit')
  elif name == 'pendulum':
    _env(config, 'observe_velocity')
    _env(config, 'episode_step_limit')
  elif name == 'class_query':
    for field in ('cue_steps', 'delay', 'noise_scale', 'reward_correct', 'reward_wrong'):
      _env(config, field)


def validate_env_overrides(config) -> None:
  """The env fields an eval config sets (not None). The others come from the trained run; the
  merged env is checked in full (`validate_env`) once the params file is read."""
  for key, value in _section(config, 'env').items():
    if value is None:
      continue
    if key not in ENV_FIELDS:
      raise ConfigError(f'env.{key}', value, f'no env has this field; env fields are '
                        f'{sorted(ENV_FIELDS)}')
    _env(config, key)


def validate_network(config) -> None:
  core = _one_of(config, 'network.core', CORE_TYPES + ('episodic_lstm',))
  if core == 'episodic_lstm':
    if config.env.name != 'episodic_two_step':
      raise ConfigError('network.core', core, "'episodic_lstm' reads its memory keys from "
                        "the observation of env 'episodic_two_step'")
  if core == 'episodic_lstm' or 'memory_capacity' in config.network:
    _int_at_least(config, 'network.memory_capacity', 1)
  if core == 'episodic_lstm' or 'retrieval' in config.agent:
    _bool(config, 'agent.retrieval')
  _int_at_least(config, 'network.hidden_size', 1)
  _sizes(config, 'network.torso_sizes')
  _one_of(config, 'network.value_core', VALUE_CORES)


def _validate_optimizer(config) -> None:
  """The fields of `metarl.agents.optim.scheduled_optimizer`."""
  _one_of(config, 'agent.optimizer', OPTIMIZERS)
  _real_in(config, 'agent.optimizer_eps', 0.0, low_open=True)
  _real_in(config, 'agent.learning_rate', 0.0, low_open=True)
  _real_in(config, 'agent.learning_rate_end', 0.0)
  _one_of(config, 'agent.learning_rate_schedule', SCHEDULES)


def validate_agent(config) -> None:
  _one_of(config, 'agent.name', AGENTS)
  _int_at_least(config, 'agent.num_envs', 1)
  _int_at_least(config, 'agent.unroll_length', 1)
  _int_at_least(config, 'agent.n_step', 1)
  _one_of(config, 'agent.advantage', ADVANTAGES)
  _real_in(config, 'agent.gae_lambda', 0.0, 1.0)
  _bool(config, 'agent.reset_each_unroll')
  _real_in(config, 'agent.gamma', 0.0, 1.0)
  _real_in(config, 'agent.value_coef', 0.0)
  _real_in(config, 'agent.entropy_coef', 0.0)
  _real_in(config, 'agent.entropy_coef_end', 0.0)
  _one_of(config, 'agent.entropy_schedule', SCHEDULES)
  _validate_optimizer(config)
  _real_in(config, 'agent.max_grad_norm', 0.0, low_open=True)


def validate_curriculum(config) -> None:
  """`config.curriculum` (optional; A3C only): an integer env params field grown from
  `start` to the env config's value, stepped on an evaluation metric of the env. A disabled
  curriculum's fields are still checked for type and range."""
  if 'curriculum' not in config:
    return
  _section(config, 'curriculum')
  enabled = _bool(config, 'curriculum.enabled')
  _check(config, 'curriculum.field', lambda v: isinstance(v, str),
         'the name of an integer env parameter is required, e.g. delay')
  _int_at_least(config, 'curriculum.start', 0)
  _check(config, 'curriculum.metric', lambda v: isinstance(v, str),
         'the name of an evaluation metric is required, e.g. success')
  _real_in(config, 'curriculum.threshold', -math.inf)
  _int_at_least(config, 'curriculum.window', 1)
  _real_in(config, 'curriculum.growth_factor', 1.0)
  _int_at_least(config, 'curriculum.min_increment', 1)
  if not enabled:
    return
  if config.agent.name != 'a3c':
    raise ConfigError('curriculum.enabled', True, 'a curriculum is available for the a3c '
                      'agent only')
  env = envs.make(config.env)
  params = env.default_params()
  fields = [f for f in param_fields(params) if jax.numpy.issubdtype(
      jax.numpy.asarray(getattr(params, f)).dtype, jax.numpy.integer)]
  if not fields:
    raise ConfigError('curriculum.enabled', True, f'env {config.env.name!r} has no integer '
                      'parameter a curriculum can grow (class_query has delay)')
  field = _one_of(config, 'curriculum.field', fields)
  target = _get(config, f'env.{field}')
  _check(config, 'curriculum.start', lambda v: _is_int(v) and 0 <= v <= target,
         f'an integer from 0 to the target env.{field} ({target}) is required')
  _one_of(config, 'curriculum.metric', metric_names(env))


def metric_names(env) -> list:
  """The names of `env.episode_metrics` (traced for shapes only, nothing runs)."""
  def metrics():
    state, _ = env.reset(jax.random.PRNGKey(0), env.default_params())
    states = jax.tree_util.tree_map(lambda x: x[None, None], state)
    actions = jax.numpy.zeros((1, 1), jax.numpy.int32)
    return env.episode_metrics(states, actions, jax.numpy.zeros((1, 1)))
  return sorted(jax.eval_shape(metrics))


def validate_td(config) -> None:
  """The `td` agent's network, agent, launch and logging fields."""
  _one_of(config, 'network.core', CORE_TYPES)
  _int_at_least(config, 'network.hidden_size', 1)
  _one_of(config, 'network.readout', READOUTS)
  _real_in(config, 'network.cell_bias', -10.0, 10.0)
  seeds = _int_at_least(config, 'num_seeds', 1)
  if config.seed + seeds - 1 > SEED_MAX:
    raise ConfigError('num_seeds', seeds, f'seeds seed ({config.seed}) to seed + num_seeds - 1 '
                      f'are trained: the last must be <= {SEED_MAX}')
  _real_in(config, 'agent.gamma', 0.0, 1.0)
  _validate_optimizer(config)
  _real_in(config, 'agent.max_grad_norm', 0.0)
  trials = _int_at_least(config, 'agent.num_trials', 1)
  _check(config, 'agent.batch_size', lambda v: _is_int(v) and 1 <= v <= trials,
         f'an integer from 1 to agent.num_trials ({trials}) is required')
  _bool(config, 'agent.resample_trials')
  _int_at_least(config, 'agent.epochs', 1)
  _validate_freeze(config)
  _validate_backend(config)
  _check(config, 'launch.num_workers', lambda v: _is_int(v) and v == 0,
         'the td agent trains every seed in one process (seeds are vmapped): use 0')
  _check(config, 'launch.num_evaluators', lambda v: _is_int(v) and v == 0,
         'the td agent evaluates inside the manager: use 0')
  _validate_timeouts(config)
  _int_at_least(config, 'log_every_epochs', 1)
  _int_at_least(config, 'eval.every_epochs', 1)
  _int_at_least(config, 'eval.num_episodes', 1)
  _bool(config, 'eval.analyze_at_end')
  _check(config, 'init_params_path', lambda v: _is_path(v) and (not v or os.path.isfile(v)),
         "'' or the path of an existing params.pickle is required")


def validate_rsac(config) -> None:
  """The recurrent SAC agent's network, agent, replay, launch and eval fields."""
  core = _one_of(config, 'network.core', SAC_CORES)
  _sizes(config, 'network.torso_sizes')
  _check(config, 'network.hidden_sizes',
         lambda v: _is_list(v, lambda s: _is_int(s) and 1 <= s <= INT32_MAX) and len(v) >= 1,
         f'one size >= 1 per {core} layer is required, e.g. 16,16')
  _one_of(config, 'network.activation', tuple(SAC_ACTIVATIONS))
  _bool(config, 'network.critic_prev_action_reward')
  low = _real_in(config, 'network.log_std_min', -100.0, 10.0)
  _real_in(config, 'network.log_std_max', low, 10.0, low_open=True)
  num_envs = _int_at_least(config, 'agent.num_envs', 1)
  _real_in(config, 'agent.gamma', 0.0, 1.0)
  _int_at_least(config, 'agent.batch_size', 1)
  ratio = _real_in(config, 'agent.replay_ratio', 0.0, 1000.0, low_open=True)
  unroll = _int_at_least(config, 'agent.unroll_length', 1)
  workers = _int_at_least(config, 'launch.num_workers', 0)
  steps_per_chunk = num_envs * (unroll if workers else 1)
  ticks = ratio * steps_per_chunk
  if abs(ticks - round(ticks)) > 1e-9 or round(ticks) < 1:
    what = ('agent.num_envs * agent.unroll_length' if workers else 'agent.num_envs')
    raise ConfigError('agent.replay_ratio', ratio,
                      f'ticks per chunk, replay_ratio * {what} = {ticks:g}, must be a whole '
                      'number >= 1')
  _int_at_least(config, 'agent.critic_update_interval', 1)
  _int_at_least(config, 'agent.actor_update_interval', 1)
  _int_at_least(config, 'agent.warmup_steps', 0)
  _int_at_least(config, 'agent.critic_warmup_steps', 0)
  _int_at_least(config, 'agent.actor_warmup_steps', 0)
  for name in ('actor_lr', 'critic_lr', 'alpha_lr'):
    _real_in(config, f'agent.{name}', 0.0, low_open=True)
  _real_in(config, 'agent.tau', 0.0, 1.0)
  _real_in(config, 'agent.initial_alpha', 0.0, low_open=True)
  _bool(config, 'agent.adaptive_alpha')
  _check(config, 'agent.target_entropy', lambda v: v is None or _is_real(v),
         'a number, or None for -action_dim')
  _bool(config, 'agent.entropy_bonus')
  _real_in(config, 'agent.max_grad_norm', 0.0)
  length = _int_at_least(config, 'replay.sequence_length', 1)
  rows = num_envs * max(1, workers)
  _check(config, 'replay.capacity',
         lambda v: _is_int(v) and length + 1 <= v // rows and v <= INT32_MAX,
         f'an integer of at least (sequence_length + 1) * {rows} env copies = '
         f'{(length + 1) * rows} steps (at most {INT32_MAX}) is required')
  if core == 'mlp' and length != 1:
    raise ConfigError('replay.sequence_length', length,
                      "network.core 'mlp' has no memory: use 1 (single transitions)")
  for name in ('random_seq_length', 'always_sample_from_initial_state',
               'include_first_step_in_targets', 'mask_non_terminal'):
    _bool(config, f'replay.{name}')
  _real_in(config, 'replay.nominal_seq_length_prob', 0.0, 1.0)
  _int_at_least(config, 'eval.num_sequences', 1)
  _int_at_least(config, 'eval.sequence_length', 1)


def _validate_freeze(config) -> None:
  from metarl.agents import td
  from metarl.agents.freeze import param_paths
  names = _check(config, 'agent.freeze', lambda v: _is_list(v, lambda n: isinstance(n, str)),
                 f'a list of parameter groups {list(td.PARAM_GROUPS)} or regexes over '
                 'parameter paths')
  if not names:
    return
  networks = td.make_networks(config, envs.make(config.env))
  # Shapes only: nothing is allocated, however large the network.
  paths = param_paths(jax.eval_shape(networks.init, jax.random.PRNGKey(0)))
  for name, pattern in zip(names, td.freeze_patterns(names)):
    try:
      regex = re.compile(pattern)
    except re.error as e:
      raise ConfigError('agent.freeze', tuple(names), f'{name!r} is not a regex ({e})')
    if not any(regex.search(p) for p in paths):
      raise ConfigError('agent.freeze', tuple(names),
                        f'{name!r} matches no parameter; groups are '
                        f'{list(td.PARAM_GROUPS)}, parameters are {paths}')
  patterns = [re.compile(p) for p in td.freeze_patterns(names)]
  if all(any(r.search(p) for r in patterns) for p in paths):
    raise ConfigError('agent.freeze', tuple(names), 'every parameter would be frozen '
                      '(with readout relu_sum only the core has parameters)')


def _validate_backend(config) -> None:
  """`launch.backend` and, for Ray, its address, session folder and CPUs per child."""
  backend = _one_of(config, 'launch.backend', BACKENDS)
  if 'ray_address' in config.launch:
    _check(config, 'launch.ray_address',
           lambda v: isinstance(v, str) and (not v or re.fullmatch(r'[^\s/:]+:\d{1,5}', v) or
                                             v.startswith('ray://') or v == 'auto'),
           "'' (start a local Ray instance), 'auto' (the cluster `ray start` started on "
           "this machine) or HOST:PORT of a running cluster's head is required")
  if 'ray_temp_dir' in config.launch:
    _check(config, 'launch.ray_temp_dir',
           lambda v: _is_path(v) and (not v or (os.path.isabs(v) and len(v) <= 40)),
           "'' (a new /tmp/metarl-ray-* folder) or an absolute path of at most 40 "
           "characters is required (Ray's socket paths under it must stay short)")
  if 'ray_cpus_per_child' in config.launch:
    _real_in(config, 'launch.ray_cpus_per_child', 0.0, 1024.0)
  if backend == 'ray' and importlib.util.find_spec('ray') is None:
    raise ConfigError('launch.backend', backend,
                      "Ray is not installed: pip install -r requirements-ray.txt, or use 'mp'")


def validate_log(config) -> None:
  """`log.tensorboard` (configs without a `log` section log to CSV only); True needs
  tensorboardX installed."""
  if 'log' not in config:
    return
  if _bool(config, 'log.tensorboard') and importlib.util.find_spec('tensorboardX') is None:
    raise ConfigError('log.tensorboard', True, 'tensorboardX is not installed: pip install '
                      'tensorboardX==2.6.5 (in requirements.txt), or use False')


def validate_launch(config) -> None:
  _validate_backend(config)
  _int_at_least(config, 'launch.num_workers', 0)
  _int_at_least(config, 'launch.num_evaluators', 0)
  _check(config, 'launch.num_evaluators', lambda v: v <= 1,
         'at most 1 evaluator is supported (0 evaluates inside the manager)')
  _int_at_least(config, 'launch.updates_per_call', 1)
  _validate_timeouts(config)
  if 'max_restarts' in config.launch:
    _int_at_least(config, 'launch.max_restarts', 0)


def _validate_timeouts(config) -> None:
  _real_in(config, 'launch.queue_timeout_s', 0.0, low_open=True)
  _real_in(config, 'launch.startup_timeout_s', 0.0, low_open=True)
  if 'child_timeout_s' in config.launch:
    _real_in(config, 'launch.child_timeout_s', 0.0, low_open=True)


def validate_checkpoints(config) -> None:
  """`checkpoint_every` (env steps; 0: no checkpoints), `keep_checkpoints`, `resume`,
  `max_bad_updates` and, for rsac, `checkpoint_replay`."""
  if 'max_bad_updates' in config:
    _int_at_least(config, 'max_bad_updates', 1)
  if 'checkpoint_every' not in config:
    return
  _int_at_least(config, 'checkpoint_every', 0, high=None)
  _int_at_least(config, 'keep_checkpoints', 1)
  if 'checkpoint_replay' in config:
    _bool(config, 'checkpoint_replay')
  if _bool(config, 'resume'):
    run_dir = _check(config, 'run_dir', lambda v: _is_path(v) and bool(v),
                     'resume=True needs the run_dir of the run to continue')
    try:
      latest = checkpoint.latest(run_dir)
    except OSError as e:
      raise ConfigError('run_dir', run_dir, f'its checkpoints cannot be listed ({e})')
    if latest is None:
      raise ConfigError('run_dir', run_dir, 'resume=True needs a run directory with a '
                        f'checkpoint in {checkpoint.directory(run_dir)}')
    problem = check_writable_dir(run_dir)
    if problem:
      raise ConfigError('run_dir', run_dir, f'a writable directory is required ({problem})')


def _validate_run_dir(config, default_parent: str, field: str = 'run_dir') -> None:
  """run_dir must be new or empty and writable; if unset, `default_parent` writable. A run
  that resumes (`resume=True`) writes into its own, already checked, directory."""
  if config.get('resume', False):
    return
  run_dir = _check(config, field, _is_path, 'a path string is required')
  if run_dir:
    problem = check_writable_dir(run_dir)
    if problem:
      raise ConfigError(field, run_dir, f'a writable directory is required ({problem})')
    try:
      files = os.listdir(run_dir) if os.path.isdir(run_dir) else []
    except OSError as e:
      raise ConfigError(field, run_dir, f'a readable directory is required ({e})')
    if files:
      raise ConfigError(field, run_dir, 'an empty or new directory is required (this one '
                        'holds files of another run; leave run_dir empty for a fresh one)')
  else:
    problem = check_writable_dir(default_parent)
    if problem:
      raise ConfigError(field, run_dir, f'the default parent {default_parent}: {problem}')


def validate(config) -> None:
  """Raises `ConfigError` on the first invalid field of an experiment config."""
  mode = _one_of(config, 'mode', MODES)
  _check(config, 'name', _is_name, "a non-empty name without '/' is required (it names the "
         'run directory)')
  _int_at_least(config, 'seed', 0, SEED_MAX)
  if mode == 'train':
    validate_env(config)
    agent = _one_of(config, 'agent.name', AGENTS)
    if config.env.name not in AGENT_ENVS[agent]:
      raise ConfigError('env.name', config.env.name,
                        f'the {agent} agent runs on {list(AGENT_ENVS[agent])}')
    validate_checkpoints(config)
    validate_log(config)
    if agent == 'td':
      validate_td(config)
      _validate_run_dir(config, default_parent='runs')
      return
    _int_at_least(config, 'total_env_steps', 1, high=None)
    _int_at_least(config, 'log_every_env_steps', 1, high=None)
    if agent == 'rsac':
      validate_rsac(config)
    else:
      validate_network(config)
      validate_agent(config)
      validate_curriculum(config)
    validate_launch(config)
    _int_at_least(config, 'eval.every_env_steps', 1, high=None)
    _int_at_least(config, 'eval.num_episodes', 1)
    _validate_run_dir(config, default_parent='runs')
  elif mode == 'play':  # env fields left unset come from the env's training config
    _int_at_least(config, 'num_episodes', 1)
    validate_env_overrides(config)
    _validate_run_dir(config, default_parent='runs')
  else:  # env fields left unset come from the trained run: checked once merged
    _check(config, 'params_path', lambda v: _is_path(v) and os.path.isfile(v),
           'the path of an existing params.pickle is required')
    _int_at_least(config, 'num_episodes', 1)
    _bool(config, 'log_dynamics')
    if 'delays' in config:
      _check(config, 'delays', lambda v: _is_list(v, lambda d: _is_int(d) and 0 <= d <= 10_000),
             'a list of delays from 0 to 10000 (empty for the default grid)')
    validate_env_overrides(config)
    _validate_run_dir(config, default_parent=os.path.dirname(
        os.path.abspath(config.params_path)))

