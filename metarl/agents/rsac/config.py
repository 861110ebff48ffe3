"""The recurrent SAC agent's config fields, their rules and defaults (RLtools' memory
example: dense 16 tanh -> GRU 16 -> GRU 16, gamma 0, batch 4 sequences of 50 steps, critic
every tick and actor every 2nd, actor lr 1e-4, critic and temperature lr 1e-3), and the
checks between them."""

from metarl import config_rules as rules
from metarl.config_rules import ConfigError
from metarl.networks.sac import ACTIVATIONS, SAC_CORES

_POSITIVE = dict(low=0.0, low_open=True)

NETWORK = {
    'core': rules.Choice(SAC_CORES, default='gru'),
    'torso_sizes': rules.Sizes(default=(16,)),
    'hidden_sizes': rules.ListOf(lambda s: rules.is_int(s) and 1 <= s <= rules.INT32_MAX,
                                 'one size >= 1 per core layer is required, e.g. 16,16',
                                 default=(16, 16), min_len=1),
    'activation': rules.Choice(tuple(ACTIVATIONS), default='tanh'),
    'critic_prev_action_reward': rules.Bool(default=False),
    'log_std_min': rules.Real(-100.0, 10.0, default=-20.0),
    'log_std_max': rules.Real(-100.0, 10.0, default=2.0),
}

AGENT = {
    'num_envs': rules.Int(1, default=1),
    'gamma': rules.Real(0.0, 1.0, default=0.0),
    'batch_size': rules.Int(1, default=4),
    'replay_ratio': rules.Real(0.0, 1000.0, low_open=True, default=1.0),
    'critic_update_interval': rules.Int(1, default=1),
    'actor_update_interval': rules.Int(1, default=2),
    'warmup_steps': rules.Int(0, default=1000),
    'critic_warmup_steps': rules.Int(0, default=1000),
    'actor_warmup_steps': rules.Int(0, default=10000),
    'actor_lr': rules.Real(**_POSITIVE, default=1e-4),
    'critic_lr': rules.Real(**_POSITIVE, default=1e-3),
    'alpha_lr': rules.Real(**_POSITIVE, default=1e-3),
    'tau': rules.Real(0.0, 1.0, default=0.005),
    'initial_alpha': rules.Real(**_POSITIVE, default=1.0),
    'adaptive_alpha': rules.Bool(default=True),
    'target_entropy': rules.Custom(lambda v: v is None or rules.is_real(v),
                                   'a number, or None for -action_dim', float, default=None),
    'entropy_bonus': rules.Bool(default=True),
    'max_grad_norm': rules.Real(0.0, default=0.0),
    'unroll_length': rules.Int(1, default=50),
}

REPLAY = {
    'capacity': rules.Int(1, default=200_000),
    'sequence_length': rules.Int(1, default=50),
    'random_seq_length': rules.Bool(default=True),
    'nominal_seq_length_prob': rules.Real(0.0, 1.0, default=0.5),
    'always_sample_from_initial_state': rules.Bool(default=False),
    'include_first_step_in_targets': rules.Bool(default=True),
    'mask_non_terminal': rules.Bool(default=True),
}

EVAL = {
    'num_sequences': rules.Int(1, default=200),  # memory task: random sequences for accuracy
    'sequence_length': rules.Int(1, default=50),
}

FIELDS = {'agent': AGENT, 'network': NETWORK, 'replay': REPLAY, 'eval': EVAL}


def num_rows(config) -> int:
  """Replay rows: one per environment copy of the run."""
  return config.agent.num_envs * max(1, config.launch.num_workers)


def ticks_per_chunk(config) -> int:
  """Learner ticks per chunk of env steps (one step of every env copy in one process, a
  worker's `unroll_length` steps with workers)."""
  steps = config.agent.num_envs * (config.agent.unroll_length if config.launch.num_workers
                                   else 1)
  return int(round(config.agent.replay_ratio * steps))


def check(config, env) -> None:
  del env
  net, agent, replay = config.network, config.agent, config.replay
  if net.core == 'lru' and len(set(net.hidden_sizes)) > 1:
    raise ConfigError('network.hidden_sizes', tuple(net.hidden_sizes),
                      "equal sizes for network.core='lru' (its layers share one width)")
  if net.log_std_max <= net.log_std_min:
    raise ConfigError('network.log_std_max', net.log_std_max,
                      f'a number > network.log_std_min ({net.log_std_min}) and <= 10.0 is '
                      'required')
  workers = config.launch.num_workers
  steps_per_chunk = agent.num_envs * (agent.unroll_length if workers else 1)
  ticks = agent.replay_ratio * steps_per_chunk
  if abs(ticks - round(ticks)) > 1e-9 or round(ticks) < 1:
    what = ('agent.num_envs * agent.unroll_length' if workers else 'agent.num_envs')
    raise ConfigError('agent.replay_ratio', agent.replay_ratio,
                      f'ticks per chunk, replay_ratio * {what} = {ticks:g}, must be a whole '
                      'number >= 1')
  rows = num_rows(config)
  length = replay.sequence_length
  if not (length + 1 <= replay.capacity // rows and replay.capacity <= rules.INT32_MAX):
    raise ConfigError('replay.capacity', replay.capacity,
                      f'an integer of at least (sequence_length + 1) * {rows} env copies = '
                      f'{(length + 1) * rows} steps (at most {rules.INT32_MAX}) is required')
  if net.core == 'mlp' and length != 1:
    raise ConfigError('replay.sequence_length', length,
                      "network.core 'mlp' has no memory: use 1 (single transitions)")


def supports(env):
  if not env.spec.action_dim:
    return 'it needs continuous actions (env.spec.action_dim > 0)'
  return None
