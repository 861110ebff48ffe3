"""The A3C agent's config fields, their rules and defaults (Wang et al. 2018's bandit agent:
LSTM(48), gamma 0.9, value coefficient 0.05, Adam 3e-4 decaying linearly to 0, global
gradient-norm clip 50), and the checks between them."""

from metarl import config_rules as rules
from metarl.agents.a3c.losses import ADVANTAGES
from metarl.agents.optim import OPTIMIZER_FIELDS, SCHEDULES
from metarl.config_rules import ConfigError
from metarl.networks.cores import CORE_TYPES, check_core_layers
from metarl.networks.policy_value import VALUE_CORES

EPISODIC_CORE = 'episodic_lstm'  # LSTM + reinstatement gate + DND (Ritter et al. 2018)

AGENT = {
    'num_envs': rules.Int(1, default=64),
    'unroll_length': rules.Int(1, default=10),
    'n_step': rules.Int(1, default=10),
    'advantage': rules.Choice(ADVANTAGES, default='kstep'),
    'gae_lambda': rules.Real(0.0, 1.0, default=0.95),
    'reset_each_unroll': rules.Bool(default=False),
    'gamma': rules.Real(0.0, 1.0, default=0.9),
    'value_coef': rules.Real(0.0, default=0.05),
    'entropy_coef': rules.Real(0.0, default=0.05),
    'entropy_coef_end': rules.Real(0.0, default=0.0),
    'entropy_schedule': rules.Choice(SCHEDULES, default='linear'),
    **OPTIMIZER_FIELDS,
    'max_grad_norm': rules.Real(0.0, low_open=True, default=50.0),
    'retrieval': rules.Bool(default=True),  # episodic_lstm: False = the incremental agent
}

NETWORK = {
    'core': rules.Choice(CORE_TYPES + (EPISODIC_CORE,), default='lstm'),
    'core_layers': rules.Int(1, default=1),  # stacked layers of the core (lru only)
    'hidden_size': rules.Int(1, default=48),
    'torso_sizes': rules.Sizes(default=()),
    'value_core': rules.Choice(VALUE_CORES, default='shared'),
    'memory_capacity': rules.Int(1, default=50),  # episodic_lstm: DND slots
}

FIELDS = {'agent': AGENT, 'network': NETWORK}


def check(config, env) -> None:
  """The episodic core reads its memory keys where the env's observation layout says."""
  core = config.network.core
  check_core_layers(config.network)
  if core == EPISODIC_CORE and not hasattr(env, 'layout'):
    raise ConfigError('network.core', core, f"'{EPISODIC_CORE}' reads its memory keys from "
                      'an observation layout (env.layout), which env '
                      f'{config.env.name!r} does not have (episodic_two_step has one)')
