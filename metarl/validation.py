"""Checks a whole experiment config before anything runs.

`validate(config)` raises `ConfigError` naming the first bad field, its value and what is
allowed. Misspelt or ill-typed command-line overrides are already refused by ml_collections
(configs are loaded with `lock_config=True`); this module checks the values themselves and
how fields fit together.
"""

import math
import numbers
import os
from typing import Any, Callable, Sequence

import jax

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
BACKENDS = ('mp',)
MODES = ('train', 'eval')
SCHEDULES = ('constant', 'linear')
OPTIMIZERS = ('adam', 'rmsprop')


class ConfigError(ValueError):
  """A config field holds a value metarl cannot run with."""

  def __init__(self, field: str, value: Any, allowed: str):
    super().__init__(f'config.{field} = {value!r} is invalid: {allowed}')
    self.field = field


def _get(config, field: str) -> Any:
  node = config
  for part in field.split('.'):
    if part not in node:
      raise ConfigError(field, None, 'the field is missing from the config file')
    node = node[part]
  return node


def _is_int(v) -> bool:
  return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_bool(v) -> bool:
  return isinstance(v, bool)


def _is_real(v) -> bool:
  return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _check(config, field: str, ok: Callable[[Any], bool], allowed: str) -> Any:
  value = _get(config, field)
  if not ok(value):
    raise ConfigError(field, value, allowed)
  return value


def _int_at_least(config, field: str, low: int) -> int:
  return _check(config, field, lambda v: _is_int(v) and v >= low,
                f'an integer >= {low} is required')


def _real_in(config, field: str, low: float, high: float = math.inf,
             low_open: bool = False) -> float:
  def ok(v):
    return _is_real(v) and (v > low if low_open else v >= low) and v <= high
  bound = f'> {low}' if low_open else f'>= {low}'
  allowed = f'a number {bound}' + ('' if high == math.inf else f' and <= {high}')
  return _check(config, field, ok, allowed + ' is required')


def _one_of(config, field: str, names: Sequence[str]) -> str:
  return _check(config, field, lambda v: v in names, f'allowed values are {list(names)}')


def validate_env(config) -> None:
  _one_of(config, 'env.name', ENV_NAMES)
  if config.env.name == 'bandit':
    structure = _one_of(config, 'env.reward_structure', REWARD_STRUCTURES)
    arms = _int_at_least(config, 'env.num_arms', 2)
    if structure == 'correlated' and arms != 2:
      raise ConfigError('env.num_arms', arms,
                        "the 'correlated' reward structure has exactly 2 arms")
    _int_at_least(config, 'env.trials_per_episode', 1)
    probs = tuple(_get(config, 'env.fixed_probs') or ())
    if structure == 'fixed' and len(probs) != arms:
      raise ConfigError('env.fixed_probs', probs,
                        f"reward_structure 'fixed' needs one probability per arm ({arms})")
    if probs and not all(_is_real(p) and 0 <= p <= 1 for p in probs):
      raise ConfigError('env.fixed_probs', probs, 'probabilities must lie in [0, 1]')
  elif config.env.name in ('two_step', 'episodic_two_step'):
    _real_in(config, 'env.common_prob', 0.0, 1.0)
    _real_in(config, 'env.reward_prob', 0.0, 1.0)
    _real_in(config, 'env.swap_prob', 0.0, 1.0)
    if config.env.name == 'two_step':
      _int_at_least(config, 'env.trials_per_episode', 2)
    else:
      _check(config, 'env.trials_per_episode', lambda v: _is_int(v) and v >= 4 and v % 4 == 0,
             'a multiple of 4 is required (uncued then cued trials, each in two halves)')
      _int_at_least(config, 'env.context_size', 1)
  elif config.env.name == 'cue_reward':
    delays = _check(config, 'env.cue_delays',
                    lambda v: isinstance(v, (tuple, list)) and len(v) >= 1 and
                    all(_is_int(d) and d >= 1 for d in v),
                    'one reward delay (an integer >= 1) per cue is required, e.g. 10,15')
    probs = _check(config, 'env.cue_probs',
                   lambda v: not v or (isinstance(v, (tuple, list)) and
                                       all(_is_real(p) and p >= 0 for p in v)),
                   'empty (cues equally likely) or one probability >= 0 per cue')
    if probs and (len(probs) != len(delays) or sum(probs) <= 0):
      raise ConfigError('env.cue_probs', probs,
                        f'one probability per cue ({len(delays)}), not all zero')
    _one_of(config, 'env.iti_distribution', ITI_DISTRIBUTIONS)
    _real_in(config, 'env.iti_p', 0.0, 1.0, low_open=True)
    iti_min = _check(config, 'env.iti_min', lambda v: _is_int(v) and v >= 1,
                     'an integer >= 1 is required (a trial starts with an empty step)')
    _check(config, 'env.iti_max', lambda v: _is_int(v) and iti_min <= v <= 1000,
           f'an integer from env.iti_min ({iti_min}) to 1000 is required')
    jitter = _int_at_least(config, 'env.delay_jitter', 0)
    if min(delays) - jitter < 1:
      raise ConfigError('env.delay_jitter', jitter,
                        f'the shortest delay ({min(delays)}) minus the jitter must be >= 1')
    _real_in(config, 'env.omission_prob', 0.0, 1.0)
    _check(config, 'env.reward_in_observation', _is_bool,
           'True or False')
  elif config.env.name == 'memory':
    _int_at_least(config, 'env.horizon', 1)
    _real_in(config, 'env.input_probability', 0.0, 1.0)
    _int_at_least(config, 'env.episode_step_limit', 1)
  elif config.env.name == 'pendulum':
    _check(config, 'env.observe_velocity', _is_bool, 'True or False')
    _int_at_least(config, 'env.episode_step_limit', 1)
  elif config.env.name == 'class_query':
    _int_at_least(config, 'env.cue_steps', 1)
    _int_at_least(config, 'env.delay', 0)
    _real_in(config, 'env.noise_scale', 0.0)
    _real_in(config, 'env.reward_correct', -math.inf)
    _real_in(config, 'env.reward_wrong', -math.inf)


def validate_network(config) -> None:
  core = _one_of(config, 'network.core', CORE_TYPES + ('episodic_lstm',))
  if core == 'episodic_lstm':
    if config.env.name != 'episodic_two_step':
      raise ConfigError('network.core', core, "'episodic_lstm' reads its memory keys from "
                        "the observation of env 'episodic_two_step'")
    _int_at_least(config, 'network.memory_capacity', 1)
    _check(config, 'agent.retrieval', _is_bool, 'True or False')
  _int_at_least(config, 'network.hidden_size', 1)
  _check(config, 'network.torso_sizes',
         lambda v: all(_is_int(s) and s >= 1 for s in (v or ())),
         'a list of layer sizes >= 1 is required (empty for none)')
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
  _check(config, 'agent.reset_each_unroll', _is_bool, 'True or False')
  _real_in(config, 'agent.gamma', 0.0, 1.0)
  _real_in(config, 'agent.value_coef', 0.0)
  _real_in(config, 'agent.entropy_coef', 0.0)
  _real_in(config, 'agent.entropy_coef_end', 0.0)
  _one_of(config, 'agent.entropy_schedule', SCHEDULES)
  _validate_optimizer(config)
  _real_in(config, 'agent.max_grad_norm', 0.0, low_open=True)


def validate_curriculum(config) -> None:
  """`config.curriculum` (optional; A3C only): an integer env params field grown from
  `start` to the env config's value, stepped on an evaluation metric of the env."""
  if 'curriculum' not in config:
    return
  if not _check(config, 'curriculum.enabled', _is_bool, 'True or False'):
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
  metrics = metric_names(env)
  _one_of(config, 'curriculum.metric', metrics)
  _real_in(config, 'curriculum.threshold', -math.inf)
  _int_at_least(config, 'curriculum.window', 1)
  _real_in(config, 'curriculum.growth_factor', 1.0)
  _int_at_least(config, 'curriculum.min_increment', 1)


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
  _int_at_least(config, 'num_seeds', 1)
  _real_in(config, 'agent.gamma', 0.0, 1.0)
  _validate_optimizer(config)
  _real_in(config, 'agent.max_grad_norm', 0.0)
  trials = _int_at_least(config, 'agent.num_trials', 1)
  _check(config, 'agent.batch_size', lambda v: _is_int(v) and 1 <= v <= trials,
         f'an integer from 1 to agent.num_trials ({trials}) is required')
  _check(config, 'agent.resample_trials', _is_bool, 'True or False')
  _int_at_least(config, 'agent.epochs', 1)
  _validate_freeze(config)
  _check(config, 'launch.num_workers', lambda v: v == 0,
         'the td agent trains every seed in one process (seeds are vmapped): use 0')
  _check(config, 'launch.num_evaluators', lambda v: v == 0,
         'the td agent evaluates inside the manager: use 0')
  _int_at_least(config, 'log_every_epochs', 1)
  _int_at_least(config, 'eval.every_epochs', 1)
  _int_at_least(config, 'eval.num_episodes', 1)
  _check(config, 'eval.analyze_at_end', _is_bool, 'True or False')
  _check(config, 'init_params_path',
         lambda v: isinstance(v, str) and (not v or os.path.isfile(v)),
         "'' or the path of an existing params.pickle is required")


def validate_rsac(config) -> None:
  """The recurrent SAC agent's network, agent, replay, launch and eval fields."""
  core = _one_of(config, 'network.core', SAC_CORES)
  _check(config, 'network.torso_sizes',
         lambda v: all(_is_int(s) and s >= 1 for s in (v or ())),
         'a list of layer sizes >= 1 is required (empty for none)')
  _check(config, 'network.hidden_sizes',
         lambda v: isinstance(v, (tuple, list)) and len(v) >= 1 and
         all(_is_int(s) and s >= 1 for s in v),
         f'one size >= 1 per {core} layer is required, e.g. 16,16')
  _one_of(config, 'network.activation', tuple(SAC_ACTIVATIONS))
  _check(config, 'network.critic_prev_action_reward', _is_bool, 'True or False')
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
  _check(config, 'agent.adaptive_alpha', _is_bool, 'True or False')
  _check(config, 'agent.target_entropy', lambda v: v is None or _is_real(v),
         'a number, or None for -action_dim')
  _check(config, 'agent.entropy_bonus', _is_bool, 'True or False')
  _real_in(config, 'agent.max_grad_norm', 0.0)
  length = _int_at_least(config, 'replay.sequence_length', 1)
  rows = num_envs * max(1, workers)
  _check(config, 'replay.capacity', lambda v: _is_int(v) and v // rows >= length + 1,
         f'an integer of at least (sequence_length + 1) * {rows} env copies = '
         f'{(length + 1) * rows} steps is required')
  if core == 'mlp' and length != 1:
    raise ConfigError('replay.sequence_length', length,
                      "network.core 'mlp' has no memory: use 1 (single transitions)")
  for name in ('random_seq_length', 'always_sample_from_initial_state',
               'include_first_step_in_targets', 'mask_non_terminal'):
    _check(config, f'replay.{name}', _is_bool, 'True or False')
  _real_in(config, 'replay.nominal_seq_length_prob', 0.0, 1.0)
  _int_at_least(config, 'eval.num_sequences', 1)
  _int_at_least(config, 'eval.sequence_length', 1)


def _validate_freeze(config) -> None:
  import re

  import jax

  from metarl import envs
  from metarl.agents import td
  from metarl.agents.freeze import param_paths
  names = _check(config, 'agent.freeze',
                 lambda v: isinstance(v, (tuple, list)) and all(isinstance(n, str) for n in v),
                 f'a list of parameter groups {list(td.PARAM_GROUPS)} or regexes over '
                 'parameter paths')
  if not names:
    return
  paths = param_paths(td.make_networks(config, envs.make(config.env)).init(
      jax.random.PRNGKey(0)))
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


def validate_launch(config) -> None:
  _one_of(config, 'launch.backend', BACKENDS)
  _int_at_least(config, 'launch.num_workers', 0)
  _int_at_least(config, 'launch.num_evaluators', 0)
  _check(config, 'launch.num_evaluators', lambda v: v <= 1,
         'at most 1 evaluator is supported (0 evaluates inside the manager)')
  _int_at_least(config, 'launch.updates_per_call', 1)
  _real_in(config, 'launch.queue_timeout_s', 0.0, low_open=True)
  _real_in(config, 'launch.startup_timeout_s', 0.0, low_open=True)
  if 'child_timeout_s' in config.launch:
    _real_in(config, 'launch.child_timeout_s', 0.0, low_open=True)
  if 'max_restarts' in config.launch:
    _int_at_least(config, 'launch.max_restarts', 0)


def validate_checkpoints(config) -> None:
  """`checkpoint_every` (env steps; 0: no checkpoints), `keep_checkpoints`, `resume`,
  `max_bad_updates` and, for rsac, `checkpoint_replay`."""
  if 'max_bad_updates' in config:
    _int_at_least(config, 'max_bad_updates', 1)
  if 'checkpoint_every' not in config:
    return
  _int_at_least(config, 'checkpoint_every', 0)
  _int_at_least(config, 'keep_checkpoints', 1)
  if 'checkpoint_replay' in config:
    _check(config, 'checkpoint_replay', _is_bool, 'True or False')
  if _check(config, 'resume', _is_bool, 'True or False'):
    run_dir = _check(config, 'run_dir', lambda v: isinstance(v, str) and bool(v),
                     'resume=True needs the run_dir of the run to continue')
    if checkpoint.latest(run_dir) is None:
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
  run_dir = _check(config, field, lambda v: isinstance(v, str), 'a path string is required')
  if run_dir:
    problem = check_writable_dir(run_dir)
    if problem:
      raise ConfigError(field, run_dir, f'a writable directory is required ({problem})')
    if os.path.isdir(run_dir) and os.listdir(run_dir):
      raise ConfigError(field, run_dir, 'an empty or new directory is required (this one '
                        'holds files of another run; leave run_dir empty for a fresh one)')
  else:
    problem = check_writable_dir(default_parent)
    if problem:
      raise ConfigError(field, run_dir, f'the default parent {default_parent}: {problem}')


def validate(config) -> None:
  """Raises `ConfigError` on the first invalid field of an experiment config."""
  mode = _one_of(config, 'mode', MODES)
  _int_at_least(config, 'seed', 0)
  if mode == 'train':
    validate_env(config)
    agent = _one_of(config, 'agent.name', AGENTS)
    if config.env.name not in AGENT_ENVS[agent]:
      raise ConfigError('env.name', config.env.name,
                        f'the {agent} agent runs on {list(AGENT_ENVS[agent])}')
    validate_checkpoints(config)
    if agent == 'td':
      validate_td(config)
      _validate_run_dir(config, default_parent='runs')
      return
    _int_at_least(config, 'total_env_steps', 1)
    _int_at_least(config, 'log_every_env_steps', 1)
    if agent == 'rsac':
      validate_rsac(config)
    else:
      validate_network(config)
      validate_agent(config)
      validate_curriculum(config)
    validate_launch(config)
    _int_at_least(config, 'eval.every_env_steps', 1)
    _int_at_least(config, 'eval.num_episodes', 1)
    _validate_run_dir(config, default_parent='runs')
  else:  # env fields left unset come from the trained run: checked once merged
    _check(config, 'params_path', lambda v: isinstance(v, str) and os.path.isfile(v),
           'the path of an existing params.pickle is required')
    _int_at_least(config, 'num_episodes', 1)
    _check(config, 'log_dynamics', _is_bool, 'True or False')
    if 'delays' in config:
      _check(config, 'delays', lambda v: isinstance(v, (tuple, list)) and
             all(_is_int(d) and 0 <= d <= 10_000 for d in v),
             'a list of delays from 0 to 10000 (empty for the default grid)')
    _validate_run_dir(config, default_parent=os.path.dirname(
        os.path.abspath(config.params_path)))

