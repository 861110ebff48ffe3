"""REINFORCE with a recurrent policy and no critic, written as a new metarl agent (docs/guide.md:
"Add an agent"); in your own work this file is metarl/agents/reinforce/__init__.py.

Williams (1992): raise log pi(a_t | history) in proportion to G_t - b_t, where G_t is the
discounted return from step t to the episode's end and the baseline b_t is the mean of G_t
over the batch's episodes (no learned value). Each update unrolls whole episodes
(`reset_each_unroll`), so every return is exact. The agent is of the 'gradients' trainer
kind: the manager, workers, evaluator, checkpoints and CSVs of A3C run it unchanged.

    python3 -m tests.examples.reinforce_agent   # trains on the reversal task (~10 s)
"""

from collections.abc import Callable
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import optax
import rlax

from metarl import config_rules as rules
from metarl.agents.base import AgentSpec, EvalPolicy, discrete_episodic
from metarl.agents.gradients import make_gradients_agent
from metarl.agents.registry import register
from metarl.envs.base import Environment
from metarl.networks.cores import make_core
from metarl.rollout import Actor, Trajectory, make_rollout


class Networks(NamedTuple):  # pure functions, batched over a leading B axis
  init: Callable  # (key) -> params
  initial_state: Callable  # (batch_size) -> LSTM state
  step: Callable  # (params, obs [B, D], first [B], state) -> (logits [B, A], state)
  unroll: Callable  # (params, obs [T, B, D], first [T, B], state) -> (logits [T, B, A], state)


def make_networks(env: Environment, hidden_size: int = 32) -> Networks:
  """An LSTM that starts from zeros wherever `first` is true, then a linear policy head."""
  num_actions = env.spec.num_actions

  def step(obs, first, state):
    h, state = make_core('lstm', hidden_size)((obs, first), state)
    return hk.Linear(num_actions)(h), state

  def unroll(obs, first, state):
    hs, state = hk.dynamic_unroll(make_core('lstm', hidden_size), (obs, first), state)
    return hk.Linear(num_actions)(hs), state

  step_t, unroll_t = (hk.without_apply_rng(hk.transform(f)) for f in (step, unroll))
  state_t = hk.without_apply_rng(hk.transform(
      lambda batch_size: make_core('lstm', hidden_size).initial_state(batch_size)))
  obs = jnp.zeros((1, 1) + env.spec.observation_shape, jnp.float32)
  return Networks(
      init=lambda key: unroll_t.init(key, obs, jnp.ones((1, 1), bool), state_t.apply({}, 1)),
      initial_state=lambda batch_size: state_t.apply({}, batch_size),
      step=step_t.apply, unroll=unroll_t.apply)


def make_actor(networks: Networks) -> Actor:
  """What `metarl.rollout` calls each step: sample a ~ softmax(logits)."""

  def step(params, key, timestep, state):
    logits, state = networks.step(params, timestep.observation, timestep.first, state)
    return jax.random.categorical(key, logits), {}, state

  return Actor(initial_state=networks.initial_state, step=step)


def make_loss(networks: Networks, gamma: float, entropy_coef: float):
  """`loss_fn(params, trajectory, step) -> (loss, metrics)` on [T, B] whole episodes."""

  def loss_fn(params, trajectory: Trajectory, step):
    del step  # no schedule
    logits, _ = networks.unroll(params, trajectory.observation[:-1], trajectory.first[:-1],
                                trajectory.core_state)
    # rlax functions take one sequence [T]: vmap them over the batch axis (1).
    returns = jax.vmap(rlax.discounted_returns, in_axes=(1, 1, 0), out_axes=1)(
        trajectory.reward, gamma * trajectory.discount, jnp.zeros_like(trajectory.reward[0]))
    advantage = returns - returns.mean(axis=1, keepdims=True)  # baseline: mean over batch
    weights = jnp.ones_like(advantage)
    policy_loss = jax.vmap(rlax.policy_gradient_loss, in_axes=1)(
        logits, trajectory.action, advantage, weights).mean()
    entropy = -jax.vmap(rlax.entropy_loss, in_axes=1)(logits, weights).mean()
    loss = policy_loss - entropy_coef * entropy
    return loss, dict(loss=loss, policy_loss=policy_loss, entropy=entropy)

  return loss_fn


def make_agent(config, env: Environment):
  """What the gradients trainer kind runs, from `config.agent` and `config.network`, each
  read as one frozen, typed value of exactly the fields of `FIELDS` below."""
  agent = rules.typed(config.agent, FIELDS['agent'], 'agent')
  networks = make_networks(env, rules.typed(config.network, FIELDS['network'],
                                            'network').hidden_size)
  actor = make_actor(networks)
  num_envs, length = agent.num_envs, env.max_episode_steps
  rollout = make_rollout(env, actor, num_envs, length, reset_each_unroll=True)
  loss_fn = make_loss(networks, agent.gamma, agent.entropy_coef)
  return make_gradients_agent(config, networks.init, actor, loss_fn,
                              optax.adam(agent.learning_rate), rollout,
                              steps_per_update=num_envs * length)


def eval_policy(config, env: Environment, record: bool = False) -> EvalPolicy:
  del record  # nothing beyond the actions to report
  return EvalPolicy(actor=make_actor(make_networks(env, config.network.hidden_size)),
                    select=lambda params: params)


# The config fields (`config.agent.<field>`, `config.network.<field>`) with their rules and
# defaults; validation, configs/train.py:reinforce and config.json derive from this table.
FIELDS = {
    'agent': {'num_envs': rules.Int(1, default=64),
              'gamma': rules.Real(0.0, 1.0, default=0.9),
              'entropy_coef': rules.Real(0.0, default=0.01),
              'learning_rate': rules.Real(0.0, low_open=True, default=3e-3)},
    'network': {'hidden_size': rules.Int(1, default=32)},
}

register(AgentSpec(name='reinforce', kind='gradients', fields=FIELDS, make=make_agent,
                   eval_policy=eval_policy, supports=discrete_episodic))


if __name__ == '__main__':
  import main
  from launch.manager import train
  from tests.examples import reversal_env  # noqa: F401  (registers 'reversal')

  config = main.load_config(['main.py', '--config=configs/train.py:reinforce',
                             '--config.env.name=reversal', '--config.total_env_steps=1280000'])
  main.quiet_console()  # as main.py does: the progress line here, the rows in log.txt
  print(f'run written to {train(config)}')  # its eval.csv: good_choice_rate (chance: 0.5)
