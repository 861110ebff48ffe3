"""A3C / A2C recurrent actor-critic (meta-RL agent of Wang et al. 2016, 2018).

`make_agent(config, env)` builds every pure piece from the config: networks, actor, loss,
optimizer, rollout and the jitted learning functions. The launch layer only calls these.
"""

from metarl.agents.a3c import config as config_lib
from metarl.agents.a3c.learning import TrainingState, make_optimizer
from metarl.agents.a3c.losses import make_loss
from metarl.agents.actor_critic import eval_policy, make_actor, make_networks, start_env_params
from metarl.agents.base import AgentSpec, discrete_episodic
from metarl.agents.gradients import GradientsAgent, make_gradients_agent, total_updates
from metarl.agents.optim import linear_or_constant
from metarl.agents.registry import register
from metarl.config_rules import typed
from metarl.envs.base import Environment
from metarl.rollout import make_rollout

A3CAgent = GradientsAgent  # the members the gradients trainer kind runs


def make_agent(config, env: Environment) -> A3CAgent:
  """Builds the A3C agent for `env` from `config.agent`, `config.network` and the budget."""
  agent_cfg = typed(config.agent, config_lib.AGENT, 'agent')
  networks = make_networks(config, env)
  steps_per_update = agent_cfg.num_envs * agent_cfg.unroll_length
  updates = total_updates(config, steps_per_update)
  entropy_schedule = linear_or_constant(agent_cfg.entropy_coef, agent_cfg.entropy_coef_end,
                                        agent_cfg.entropy_schedule, updates)
  loss_fn = make_loss(networks, gamma=agent_cfg.gamma, n_step=agent_cfg.n_step,
                      value_coef=agent_cfg.value_coef, entropy_schedule=entropy_schedule,
                      advantage=agent_cfg.advantage,
                      gae_lambda=agent_cfg.gae_lambda,
                      normalize_advantages=agent_cfg.normalize_advantages,
                      reward_scale=agent_cfg.reward_scale)
  optimizer = make_optimizer(agent_cfg, updates)
  actor = make_actor(networks)
  rollout = make_rollout(env, actor, agent_cfg.num_envs, agent_cfg.unroll_length,
                         env_params=start_env_params(config, env),
                         reset_each_unroll=agent_cfg.reset_each_unroll)
  return make_gradients_agent(config, networks.init, actor, loss_fn, optimizer, rollout,
                              steps_per_update, networks=networks)


SPEC = register(AgentSpec(name='a3c', kind='gradients', fields=config_lib.FIELDS,
                          make=make_agent, eval_policy=eval_policy,
                          supports=discrete_episodic, check=config_lib.check))

__all__ = ['A3CAgent', 'SPEC', 'TrainingState', 'eval_policy', 'make_actor', 'make_agent',
           'make_loss', 'make_networks', 'make_optimizer', 'start_env_params']
