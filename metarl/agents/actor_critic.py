"""What the recurrent actor-critic agents (a3c, ppo) share: the policy-value network's config
fields and how it is built from them, the actor that samples from its softmax, and the
evaluation policy.

The network is Wang et al. (2018)'s meta-RL agent (a recurrent core whose input is the
observation, here holding the previous action and reward, with a linear policy head and a
linear value head), with options: the core (lstm, gru, lru, or the episodic LSTM of Ritter
et al. 2018), its size and layers, an MLP torso, a value core of its own, and a critic whose
RPE replaces the reward in the actor's input (Wang et al. 2018, simulation 6: value_core
'rpe', on envs that say where their observation holds the reward, `env.reward_slot`).
"""

from metarl import config_rules as rules
from metarl import curriculum as curriculum_lib
from metarl.agents.base import EvalPolicy
from metarl.config_rules import ConfigError
from metarl.envs.base import Environment
from metarl.networks.cores import CORE_INITS, CORE_TYPES, check_core_layers
from metarl.networks.policy_value import (
  VALUE_CORES,
  EpisodicConfig,
  PolicyValueNetworks,
  RpeConfig,
  make_policy_value_networks,
  sample_action,
)
from metarl.rollout import Actor, with_env_params

EPISODIC_CORE = 'episodic_lstm'  # LSTM + reinstatement gate + DND (Ritter et al. 2018)

NETWORK = {
    'core': rules.Choice(CORE_TYPES + (EPISODIC_CORE,), default='lstm'),
    'core_layers': rules.Int(1, default=1),  # stacked layers of the core (lru only)
    'hidden_size': rules.Int(1, default=48),
    'torso_sizes': rules.Sizes(default=()),
    # shared: one core, two heads | separate: the value's own core | rpe: separate, and the
    # actor receives the critic's RPE in place of the reward
    'value_core': rules.Choice(VALUE_CORES, default='shared'),
    'memory_capacity': rules.Int(1, default=50),  # episodic_lstm: DND slots
    # 'pytorch': a gru core as PyTorch's nn.GRU computes and initialises it
    'init': rules.Choice(CORE_INITS, default='haiku'),
    # value_core 'rpe': after this reward the actor receives rpe_override_to instead of the
    # RPE (None: never; the perturbations of Stopper et al. 2014, set by the analysis)
    'rpe_override_after': rules.Custom(lambda v: v is None or rules.is_real(v),
                                       'None (no perturbation) or a reward value that '
                                       'float32 holds is required', float),
    'rpe_override_to': rules.Real(default=0.0),
}


def check_network(config, env: Environment) -> None:
  """The episodic core reads its memory keys where the env's observation layout says."""
  core = config.network.core
  check_core_layers(config.network)
  if core == EPISODIC_CORE and not hasattr(env, 'layout'):
    raise ConfigError('network.core', core, f"'{EPISODIC_CORE}' reads its memory keys from "
                      'an observation layout (env.layout), which env '
                      f'{config.env.name!r} does not have (episodic_two_step has one)')
  if config.network.get('value_core') == 'rpe':
    if getattr(env, 'reward_slot', None) is None:
      raise ConfigError('network.value_core', 'rpe', 'the actor reads the RPE where the '
                        'observation holds the reward (env.reward_slot), which env '
                        f'{config.env.name!r} does not say (risky_bandit and bandit do)')
    if core == EPISODIC_CORE:
      raise ConfigError('network.core', core, "value_core 'rpe' is for the plain cores")
    if not {'gamma', 'reward_scale'} <= set(config.agent):
      raise ConfigError('network.value_core', 'rpe', f'the RPE needs the agent\'s gamma and '
                        f'reward_scale, which the {config.agent.name} agent does not have')


def make_networks(config, env: Environment) -> PolicyValueNetworks:
  """The policy-value network; `network.core='episodic_lstm'` adds the DND (the env must
  say where its memory keys are: `env.layout`, `env.context_size`)."""
  spec = env.spec
  net = rules.typed(config.network, NETWORK, 'network')
  episodic, rpe = None, None
  if net.value_core == 'rpe':
    index, factor = env.reward_slot
    override = (None if net.rpe_override_after is None
                else (net.rpe_override_after, net.rpe_override_to))
    rpe = RpeConfig(reward_index=index, reward_factor=factor, gamma=config.agent.gamma,
                    reward_scale=config.agent.reward_scale, override=override)
  if net.core == EPISODIC_CORE:
    episodic = EpisodicConfig(layout=env.layout, key_size=env.context_size,
                              capacity=net.memory_capacity, retrieval=config.agent.retrieval)
  return make_policy_value_networks(
      num_actions=spec.num_actions, observation_shape=spec.observation_shape,
      core_type=net.core, hidden_size=net.hidden_size, torso_sizes=net.torso_sizes,
      episodic=episodic, value_core=net.value_core, core_layers=net.core_layers,
      core_init=net.init, rpe=rpe)


def make_actor(networks: PolicyValueNetworks, record: bool = False,
               behaviour: bool = False) -> Actor:
  """An actor that samples a ~ softmax(logits).

  Args:
    networks: the policy-value network.
    record: report logits, value and the core activity `hidden` of every step in the
      trajectory's extras (for analyses); off in training, where nothing reads them.
    behaviour: report the logits and value it acted with (what PPO's ratios and value
      clipping compare against), without the activity.
  """

  def step(params, key, timestep, state):
    out, state = networks.step(params, timestep.observation, timestep.first, state)
    action = sample_action(key, out.logits)
    extras = {}
    if record:
      extras = dict(logits=out.logits, value=out.value, hidden=out.hidden)
    elif behaviour:
      extras = dict(logits=out.logits, value=out.value)
    return action, extras, state

  return Actor(initial_state=networks.initial_state, step=step)


def start_env_params(config, env: Environment):
  """The env params training starts with: the curriculum's start value, if one is on."""
  return with_env_params(env.default_params(), curriculum_lib.start_overrides(config))


def eval_policy(config, env: Environment, record: bool = False) -> EvalPolicy:
  """The trained policy, sampling from its softmax; `record` adds logits, value and the
  core activity `hidden` of every step to the trajectory's extras."""
  networks = make_networks(config, env)
  return EvalPolicy(actor=make_actor(networks, record=record), select=lambda params: params,
                    init=networks.init)
