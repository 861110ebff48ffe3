"""TD value learning: value RNNs trained with semi-gradient TD(0) on cue-reward trials
(value-rnn-td; Sutton 1988; value RNNs of Starkweather et al. 2017 and Hennig et al. 2023).

`make_agent(config, env)` builds the pure pieces; `config.num_seeds` independent networks
(seeds `config.seed`, `config.seed + 1`, ...) train together in one jitted, vmapped call, and
every state here has a leading seed axis.
"""

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from metarl.agents.base import AgentSpec, EvalPolicy
from metarl.agents.freeze import param_paths, trainable_mask
from metarl.agents.registry import register
from metarl.agents.td import config as config_lib
from metarl.agents.td.config import PARAM_GROUPS, freeze_patterns
from metarl.agents.td.evaluation import ValueEval, make_value_evaluator, value_mse
from metarl.agents.td.learning import DataState, TrainingState, make_learning_fns, make_optimizer
from metarl.agents.td.losses import make_loss, td_terms
from metarl.config_rules import ConfigError, typed
from metarl.envs.cue_reward import CueReward
from metarl.networks.cores import check_core_layers
from metarl.networks.value import ValueNetworks, make_value_networks
from metarl.types import Params


class TDAgent(NamedTuple):
  networks: ValueNetworks
  loss_fn: Callable
  optimizer: Any
  template: Params  # one seed's params at PRNGKey(0): shapes and paths
  trainable: Params  # bool mask (one seed's shapes)
  batches_per_epoch: int
  init_data: Callable  # jitted (keys [S]) -> DataState
  train_epochs: Callable  # jitted (TrainingState, DataState, num_epochs) -> (ts, ds, metrics)
  keep_best: bool  # params_to_keep: the weights of the lowest epoch loss

  @staticmethod
  def seed_keys(seed: int, num_seeds: int):
    return seed_keys(seed, num_seeds)

  def make_evaluator(self, env: CueReward, gamma: float, num_trials: int):
    return make_value_evaluator(env, self.networks, gamma, num_trials)

  def init(self, keys, params: Params = None) -> TrainingState:
    """TrainingState for each seed key ([S] keys), from `params` ([S, ...]) if given."""
    if params is None:
      params = jax.jit(jax.vmap(self.networks.init))(keys)
    opt_state = jax.jit(jax.vmap(self.optimizer.init))(params)
    zeros = jnp.zeros((keys.shape[0],), jnp.int32)
    return TrainingState(params=params, opt_state=opt_state, step=zeros, bad_streak=zeros,
                         best_params=params,
                         best_loss=jnp.full((keys.shape[0],), jnp.inf, jnp.float32))

  def params_to_keep(self, state: TrainingState) -> Params:
    """The params a run saves and analyses: those of the lowest epoch loss with
    `agent.keep_best`, else the last."""
    return state.best_params if self.keep_best else state.params


def seed_keys(seed: int, num_seeds: int):
  """Per-seed (params keys, data keys): seed i of a run is `seed + i` on its own."""
  keys = jnp.stack([jax.random.PRNGKey(seed + i) for i in range(num_seeds)])
  split = jax.vmap(jax.random.split)(keys)
  return split[:, 0], split[:, 1]


def make_networks(config, env: CueReward) -> ValueNetworks:
  net = typed(config.network, config_lib.NETWORK, 'network')
  return make_value_networks(env.spec.observation_shape, core_type=net.core,
                             hidden_size=net.hidden_size, readout=net.readout,
                             cell_bias=net.cell_bias, core_layers=net.core_layers,
                             core_init=net.init)


def make_agent(config, env: CueReward) -> TDAgent:
  agent_cfg = typed(config.agent, config_lib.AGENT, 'agent')
  networks = make_networks(config, env)
  loss_fn = make_loss(networks, agent_cfg.gamma)
  template = networks.init(jax.random.PRNGKey(0))
  mask = trainable_mask(template, freeze_patterns(agent_cfg.freeze))
  batches_per_epoch = agent_cfg.num_trials // agent_cfg.batch_size
  optimizer = make_optimizer(agent_cfg, agent_cfg.epochs * batches_per_epoch,
                             mask if agent_cfg.freeze else None)
  learning = make_learning_fns(loss_fn, optimizer, env, agent_cfg.num_trials,
                               agent_cfg.batch_size, agent_cfg.resample_trials)
  return TDAgent(networks=networks, loss_fn=loss_fn, optimizer=optimizer, template=template,
                 trainable=mask, batches_per_epoch=batches_per_epoch, **learning._asdict(),
                 keep_best=agent_cfg.keep_best)


def check(config, env) -> None:
  check_core_layers(config.network)
  agent = config.agent
  if agent.batch_size > agent.num_trials:
    raise ConfigError('agent.batch_size', agent.batch_size,
                      f'an integer from 1 to agent.num_trials ({agent.num_trials}) is '
                      'required')
  names = tuple(agent.freeze)
  if not names:
    return
  from metarl.agents.td import make_networks  # the networks module imports this one
  networks = make_networks(config, env)
  # Shapes only: nothing is allocated, however large the network.
  paths = param_paths(jax.eval_shape(networks.init, jax.random.PRNGKey(0)))
  for name, pattern in zip(names, freeze_patterns(names), strict=True):
    try:
      regex = re.compile(pattern)
    except re.error as e:
      raise ConfigError('agent.freeze', names, f'{name!r} is not a regex ({e})') from e
    if not any(regex.search(p) for p in paths):
      raise ConfigError('agent.freeze', names,
                        f'{name!r} matches no parameter; groups are '
                        f'{list(PARAM_GROUPS)}, parameters are {paths}')
  patterns = [re.compile(p) for p in freeze_patterns(names)]
  if all(any(r.search(p) for r in patterns) for p in paths):
    raise ConfigError('agent.freeze', names, 'every parameter would be frozen '
                      '(with readout relu_sum only the core has parameters)')


def eval_policy(config, env: CueReward, record: bool = False) -> EvalPolicy:
  """A value network does not act: its evaluation runs the network over fresh trials
  (`make_value_evaluator`, used by `metarl.analysis.value`)."""
  del record
  networks = make_networks(config, env)
  return EvalPolicy(actor=None, select=lambda params: params,
                    value_evaluator=lambda env, gamma, num_trials: make_value_evaluator(
                        env, networks, gamma, num_trials), init=networks.init)


SPEC = register(AgentSpec(name='td', kind='seeds', fields=config_lib.FIELDS,
                          make=make_agent, eval_policy=eval_policy,
                          supports=config_lib.supports, check=check))

__all__ = ['SPEC', 'check', 'eval_policy', 'freeze_patterns', 'DataState', 'PARAM_GROUPS', 'TDAgent', 'TrainingState', 'ValueEval',
           'make_agent', 'make_loss', 'make_networks', 'make_optimizer',
           'make_value_evaluator', 'seed_keys', 'td_terms', 'value_mse']
