"""The A3C agent's config fields, their rules and defaults (Wang et al. 2018's bandit agent:
LSTM(48), gamma 0.9, value coefficient 0.05, Adam 3e-4 decaying linearly to 0, global
gradient-norm clip 50), and the checks between them."""

from metarl import config_rules as rules
from metarl.agents import actor_critic
from metarl.agents.a3c.losses import ADVANTAGES
from metarl.agents.optim import OPTIMIZER_FIELDS, SCHEDULES

AGENT = {
    'num_envs': rules.Int(1, default=64),
    'unroll_length': rules.Int(1, default=10),
    'n_step': rules.Int(1, default=10),
    'advantage': rules.Choice(ADVANTAGES, default='kstep'),
    'gae_lambda': rules.Real(0.0, 1.0, default=0.95),
    'reset_each_unroll': rules.Bool(default=False),
    # Psi standardised over each unroll's batch (whole episodes at gamma near 1)
    'normalize_advantages': rules.Bool(default=False),
    # rewards x this for learning: the value predicts scaled returns (order 1 learns fast)
    'reward_scale': rules.Real(0.0, low_open=True, default=1.0),
    'gamma': rules.Real(0.0, 1.0, default=0.9),
    'value_coef': rules.Real(0.0, default=0.05),
    'entropy_coef': rules.Real(0.0, default=0.05),
    'entropy_coef_end': rules.Real(0.0, default=0.0),
    'entropy_schedule': rules.Choice(SCHEDULES, default='linear'),
    **OPTIMIZER_FIELDS,
    'max_grad_norm': rules.Real(0.0, low_open=True, default=50.0),
    'retrieval': rules.Bool(default=True),  # episodic_lstm: False = the incremental agent
}

NETWORK = actor_critic.NETWORK

FIELDS = {'agent': AGENT, 'network': NETWORK}


def check(config, env) -> None:
  """The network's checks (`metarl.agents.actor_critic.check_network`)."""
  actor_critic.check_network(config, env)
