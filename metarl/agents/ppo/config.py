"""The recurrent PPO agent's config fields, their rules and defaults, and the checks between
them.

Defaults follow the recurrent PPO of PureJaxRL, popjaxrl and Stoix for memory tasks (clip
0.2, GAE lambda 0.95, 4 epochs of 4 minibatches, advantages normalised, value loss
coefficient 0.5, gradient-norm clip 0.5), with gamma 0.99 and rollouts of 128 steps; the
network is the one a3c uses (`metarl.agents.actor_critic`).
"""

from metarl import config_rules as rules
from metarl.agents import actor_critic
from metarl.agents.optim import OPTIMIZER_FIELDS, SCHEDULES
from metarl.config_rules import ConfigError

AGENT = {
    'num_envs': rules.Int(1, default=64),
    # steps of every env per rollout; the core state at each rollout's start is stored
    'unroll_length': rules.Int(1, default=128),
    'gamma': rules.Real(0.0, 1.0, default=0.99),
    'gae_lambda': rules.Real(0.0, 1.0, default=0.95),
    'epochs': rules.Int(1, default=4),  # passes over each rollout
    'minibatches': rules.Int(1, default=4),  # per epoch, over environments (whole sequences)
    'normalize_advantages': rules.Bool(default=True),  # over the rollout's batch
    # K > 1: environments in groups of K that start each episode on the same task, and each
    # advantage less its group's mean at that step (a baseline from episodes of that task)
    'task_group_size': rules.Int(1, default=1),
    # rewards x this for learning: the value predicts scaled returns (order 1 learns fast)
    'reward_scale': rules.Real(0.0, low_open=True, default=1.0),
    'clip_eps': rules.Real(0.0, low_open=True, default=0.2),  # of the probability ratio
    'value_clip_eps': rules.Real(0.0, default=0.0),  # 0: the value loss is not clipped
    'value_coef': rules.Real(0.0, default=0.5),
    'entropy_coef': rules.Real(0.0, default=0.01),
    'entropy_coef_end': rules.Real(0.0, default=0.0),
    'entropy_schedule': rules.Choice(SCHEDULES, default='constant'),
    **OPTIMIZER_FIELDS,
    'max_grad_norm': rules.Real(0.0, low_open=True, default=0.5),
    'retrieval': rules.Bool(default=True),  # episodic_lstm: False = the incremental agent
}

FIELDS = {'agent': AGENT, 'network': actor_critic.NETWORK}


def check(config, env) -> None:
  """Minibatches split the environments evenly; training runs in one process."""
  actor_critic.check_network(config, env)
  agent = config.agent
  if agent.num_envs % agent.minibatches:
    raise ConfigError('agent.minibatches', agent.minibatches,
                      f'a divisor of agent.num_envs ({agent.num_envs}): each minibatch '
                      'holds whole sequences of num_envs / minibatches environments')
  if agent.num_envs % agent.task_group_size:
    raise ConfigError('agent.task_group_size', agent.task_group_size,
                      f'a divisor of agent.num_envs ({agent.num_envs}): environments start '
                      'episodes in groups of this many on one task')
  workers = config.launch.num_workers
  if workers:
    raise ConfigError('launch.num_workers', workers,
                      '0 for ppo (its epochs reuse each rollout where it was collected, so '
                      'it trains in one process; num_seeds trains several seeds there)')
