"""Recurrent proximal policy optimisation (Schulman et al. 2017), as PureJaxRL, popjaxrl and
Stoix train memory tasks, and as RL^2 (Duan et al. 2016) trains meta-RL agents over whole
episodes.

Each iteration collects a rollout of `agent.num_envs` x `agent.unroll_length` steps with the
policy-value network of a3c (`metarl.agents.actor_critic`: any core), storing the core state
each environment's sequence starts from; scores it with GAE(lambda) (advantages normalised
over the batch); then takes `agent.epochs` passes over it, each in `agent.minibatches`
minibatches of whole sequences, replayed from their stored core states, one step of the
clipped-surrogate loss each (`losses.py`). With `agent.task_group_size` K > 1 the
environments start their episodes in groups of K on one task, and each advantage is taken
relative to its group's at the same step. It is a gradients-kind agent trained in one
process (`launch.num_workers` must be 0: see `config.check`), with `num_seeds` vmapped,
checkpoints and exact resume, evaluation and analyses like a3c.
"""

from metarl.agents.actor_critic import eval_policy, make_actor, make_networks, start_env_params
from metarl.agents.base import AgentSpec, discrete_episodic
from metarl.agents.gradients import GradientsAgent, TrainingState, total_updates
from metarl.agents.optim import linear_or_constant
from metarl.agents.ppo import config as config_lib
from metarl.agents.ppo.learning import make_optimizer, make_train_many
from metarl.agents.ppo.losses import Batch, gae, make_loss, score_rollout
from metarl.agents.registry import register
from metarl.config_rules import typed
from metarl.envs.base import Environment
from metarl.rollout import make_rollout


def make_agent(config, env: Environment) -> GradientsAgent:
  """Builds the PPO agent for `env` from `config.agent`, `config.network` and the budget:
  one update of the trainer is one PPO iteration (a rollout and its epochs)."""
  agent_cfg = typed(config.agent, config_lib.AGENT, 'agent')
  networks = make_networks(config, env)
  steps_per_update = agent_cfg.num_envs * agent_cfg.unroll_length
  iterations = total_updates(config, steps_per_update)
  optimizer_steps = iterations * agent_cfg.epochs * agent_cfg.minibatches
  entropy_schedule = linear_or_constant(agent_cfg.entropy_coef, agent_cfg.entropy_coef_end,
                                        agent_cfg.entropy_schedule, optimizer_steps)
  loss_fn = make_loss(networks, clip_eps=agent_cfg.clip_eps,
                      value_clip_eps=agent_cfg.value_clip_eps,
                      value_coef=agent_cfg.value_coef, entropy_schedule=entropy_schedule)
  optimizer = make_optimizer(agent_cfg, optimizer_steps)
  actor = make_actor(networks, behaviour=True)
  rollout = make_rollout(env, actor, agent_cfg.num_envs, agent_cfg.unroll_length,
                         env_params=start_env_params(config, env),
                         task_group_size=agent_cfg.task_group_size)
  calls = make_train_many(loss_fn, optimizer, rollout, networks, agent_cfg,
                          config.launch.updates_per_call)
  # compute_gradients / apply_gradients serve workers, which ppo refuses (config.check)
  return GradientsAgent(init_params=networks.init, actor=actor, optimizer=optimizer,
                        rollout=rollout, steps_per_update=steps_per_update,
                        total_updates=iterations, compute_gradients=None,
                        apply_gradients=None, loss_fn=loss_fn, networks=networks,
                        **calls._asdict())


SPEC = register(AgentSpec(name='ppo', kind='gradients', fields=config_lib.FIELDS,
                          make=make_agent, eval_policy=eval_policy,
                          supports=discrete_episodic, check=config_lib.check))

__all__ = ['SPEC', 'Batch', 'TrainingState', 'eval_policy', 'gae', 'make_agent', 'make_loss',
           'make_networks', 'score_rollout']
