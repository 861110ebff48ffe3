"""Recurrent SAC (RLtools): off-policy memory RL with sequence replay.

`make_networks`, `learner_config` and `make_evaluator` build every pure piece from a config;
`launch/sac_trainer.py` runs them in one process or with worker processes.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from metarl.agents.base import AgentSpec, EvalPolicy
from metarl.agents.registry import register
from metarl.agents.rsac import config as config_lib
from metarl.agents.rsac.acting import (
  Actor,
  ActState,
  episode_stats,
  make_actor,
  make_in_process_train,
)
from metarl.agents.rsac.learning import (
  Learner,
  LearnerConfig,
  LearnerState,
  SACParams,
  make_learner,
)
from metarl.agents.rsac.losses import LossConfig
from metarl.config_rules import typed
from metarl.envs import memory
from metarl.envs.base import Environment
from metarl.evaluation import make_evaluator as make_episode_evaluator
from metarl.networks.sac import SACNetworks, TrunkConfig, deterministic_action, make_sac_networks
from metarl.replay.sequence import ReplayConfig
from metarl.rollout import Actor as RolloutActor
from metarl.types import Array, Params, PRNGKey


def make_networks(config, env: Environment) -> SACNetworks:
  net = typed(config.network, config_lib.NETWORK, 'network')
  return make_sac_networks(
      env.spec.observation_shape, env.spec.action_dim,
      TrunkConfig(core=net.core, torso_sizes=net.torso_sizes, hidden_sizes=net.hidden_sizes,
                  activation=net.activation),
      critic_prev_action_reward=net.critic_prev_action_reward,
      log_std_min=net.log_std_min, log_std_max=net.log_std_max)


def replay_config(config) -> ReplayConfig:
  r = typed(config.replay, config_lib.REPLAY, 'replay')
  return ReplayConfig(sequence_length=r.sequence_length, random_seq_length=r.random_seq_length,
                      nominal_seq_length_prob=r.nominal_seq_length_prob,
                      always_sample_from_initial_state=r.always_sample_from_initial_state,
                      include_first_step_in_targets=r.include_first_step_in_targets,
                      mask_non_terminal=r.mask_non_terminal)


def learner_config(config, env: Environment) -> LearnerConfig:
  a = typed(config.agent, config_lib.AGENT, 'agent')
  target_entropy = (-float(env.spec.action_dim) if a.target_entropy is None
                    else float(a.target_entropy))
  loss = LossConfig(gamma=a.gamma, target_entropy=target_entropy,
                    entropy_bonus=a.entropy_bonus,
                    critic_prev_action_reward=config.network.critic_prev_action_reward,
                    mask_non_terminal=config.replay.mask_non_terminal)
  return LearnerConfig(
      loss=loss, replay=replay_config(config), batch_size=a.batch_size, tau=a.tau,
      initial_alpha=a.initial_alpha, adaptive_alpha=a.adaptive_alpha,
      critic_update_interval=a.critic_update_interval,
      actor_update_interval=a.actor_update_interval,
      critic_warmup_steps=a.critic_warmup_steps, actor_warmup_steps=a.actor_warmup_steps,
      actor_lr=a.actor_lr, critic_lr=a.critic_lr, alpha_lr=a.alpha_lr,
      max_grad_norm=a.max_grad_norm)


def make_rollout_actor(networks: SACNetworks) -> RolloutActor:
  """The frozen deterministic policy (tanh of the mean) for `metarl.rollout`."""

  def step(params, key, timestep, state):
    del key
    (mean, _), state = networks.actor_step(params, timestep.observation, timestep.first,
                                           state)
    return deterministic_action(mean), {}, state

  return RolloutActor(initial_state=networks.actor_initial_state, step=step)


class EvalResult(NamedTuple):
  metrics: dict[str, Array]


def make_evaluator(config, env: Environment,
                   networks: SACNetworks) -> Callable[[Params, PRNGKey], EvalResult]:
  """Jitted `evaluate(actor_params, key)`: `eval.num_episodes` whole episodes with the
  deterministic policy (mean_return, the env's metrics) and, on the memory task, RLtools'
  accuracy: the fraction of `eval.num_sequences` random `eval.sequence_length`-step
  sequences after which round(H * a) equals the count of ones in the last H bits."""
  episodes = make_episode_evaluator(env, make_rollout_actor(networks),
                                    config.eval.num_episodes)
  is_memory = isinstance(env, memory.Memory)

  @jax.jit
  def evaluate(actor_params: Params, key: PRNGKey) -> EvalResult:
    episode_key, seq_key = jax.random.split(key)
    result = episodes(actor_params, episode_key)
    metrics = dict(result.metrics)
    rewards = result.trajectory.reward
    # one episode per column: the env may already report it (pendulum does)
    metrics.setdefault('mean_return', rewards.sum(0).mean())
    if is_memory:  # the env's per-step measure, then RLtools' sequence accuracy
      metrics['step_accuracy'] = metrics.pop('accuracy')
      metrics['accuracy'] = sequence_accuracy(
          networks, actor_params, seq_key, env.horizon,
          env.default_params().input_probability, config.eval.num_sequences,
          config.eval.sequence_length)
    return EvalResult(metrics=metrics)

  return evaluate


def sequence_accuracy(networks: SACNetworks, actor_params: Params, key: PRNGKey,
                      horizon: int, input_probability: float, num_sequences: int,
                      length: int) -> Array:
  """RLtools' accuracy: fraction of random sequences, fed from the zero state, after
  which round(H * tanh(mean)) equals the number of ones among the last H bits."""
  bits, counts = memory.random_sequences(key, num_sequences, length, horizon,
                                         input_probability)
  reset = jnp.zeros(bits.shape[:2], bool).at[0].set(True)
  mean, _ = networks.actor_unroll(actor_params, bits, reset)
  guess = jnp.round(horizon * deterministic_action(mean[-1, :, 0]))
  return (guess == counts).mean()


class RSACAgent(NamedTuple):
  """The pieces the replay trainer kind runs (`launch/trainers/replay.py`)."""
  networks: SACNetworks
  learner: Learner
  ticks_per_chunk: int  # learner ticks per chunk of env steps
  make_actor: Callable  # (num_envs, unroll_length=1) -> Actor (acting into replay Steps)
  make_in_process_train: Callable  # (actor, num_envs, ticks, iterations) -> jitted run


def make_agent(config, env: Environment) -> RSACAgent:
  networks = make_networks(config, env)
  ticks = config_lib.ticks_per_chunk(config)
  learner = make_learner(networks, learner_config(config, env), ticks)

  def actor(num_envs: int, unroll_length: int = 1) -> Actor:
    return make_actor(env, networks, num_envs, config.agent.warmup_steps,
                      unroll_length=unroll_length)

  def in_process_train(act: Actor, num_envs: int, ticks: int, iterations: int):
    return make_in_process_train(act, learner, num_envs, ticks, iterations)

  return RSACAgent(networks=networks, learner=learner, ticks_per_chunk=ticks,
                   make_actor=actor, make_in_process_train=in_process_train)


def eval_policy(config, env: Environment, record: bool = False) -> EvalPolicy:
  """The deterministic policy (tanh of the mean) of the actor; params as saved hold the
  actor's under 'actor' (what evaluators receive during training too)."""
  del record
  networks = make_networks(config, env)
  return EvalPolicy(actor=make_rollout_actor(networks), select=lambda params: params['actor'],
                    init=networks.actor_init)


def training_evaluator(config, env: Environment) -> Callable:
  """eval.csv's evaluation: `make_evaluator`'s metrics of the published {'actor': ...}."""
  evaluate = make_evaluator(config, env, make_networks(config, env))
  return lambda params, key: evaluate(params['actor'], key).metrics


SPEC = register(AgentSpec(name='rsac', kind='replay', fields=config_lib.FIELDS,
                          make=make_agent, eval_policy=eval_policy,
                          supports=config_lib.supports, check=config_lib.check,
                          training_evaluator=training_evaluator))

__all__ = ['RSACAgent', 'SPEC', 'eval_policy', 'make_agent', 'ActState', 'Actor', 'EvalResult', 'Learner', 'LearnerConfig', 'LearnerState',
           'SACParams', 'episode_stats', 'learner_config', 'make_actor',
           'make_evaluator', 'make_in_process_train', 'make_learner', 'make_networks',
           'make_rollout_actor', 'replay_config', 'sequence_accuracy']
