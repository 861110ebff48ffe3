"""Recurrent policy-value network: optional MLP torso, reset core, softmax and value heads.

This is the network of Wang et al. (2018) for meta-RL (an LSTM whose input is the previous
action and reward, with a linear policy head and a linear value head), as a factory that
returns pure functions: `init`, `initial_state`, `step` (one time step, batched) and
`unroll` (a whole [T, B] sequence with resets, `hk.dynamic_unroll`).

With `value_core='rpe'` (Wang et al. 2018, simulation 6) the critic has a core of its own
and the actor receives the critic's reward prediction error in place of the reward: at step
t the critic reads the observation (the previous action and reward r_{t-1}) and gives V_t;
the actor reads the same observation with r_{t-1} replaced by delta_{t-1} = s r_{t-1} +
gamma V_t - V_{t-1} (0 at an episode's first step; s the learning's reward scale), through
a stop-gradient: the critic learns from the value loss only. `RpeConfig.override` sets
delta to a fixed value after a given reward (the perturbations of Stopper et al. 2014).
"""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp

from metarl.networks.cores import CORE_TYPES, make_core, unroll
from metarl.networks.episodic import EpisodicInputs, EpisodicLSTM
from metarl.types import Array, Params, PRNGKey

VALUE_CORES = ('shared', 'separate', 'rpe')


class PolicyValueOutput(NamedTuple):
  logits: Array  # [..., num_actions]
  value: Array  # [...]
  hidden: Array  # [..., hidden_size] core activity after this step


class EpisodicConfig(NamedTuple):
  """Where the episodic core finds its memory keys, and the memory's size."""
  layout: Any  # e.g. `EpisodicTwoStep.layout`: read_key, write_key slices, write index
  key_size: int
  capacity: int
  retrieval: bool = True  # False: the incremental agent (no memory)


class RpeConfig(NamedTuple):
  """Where the observation holds the previous reward, and the RPE the actor receives.

  Attributes:
    reward_index: the observation's (flattened) entry of the previous reward.
    reward_factor: that entry x this = the reward (an env may show it scaled).
    gamma: the discount of delta (the agent's).
    reward_scale: the learning's reward scale (the critic's values are of scaled rewards).
    override: None, or (reward, delta): after that reward the actor receives that delta.
  """
  reward_index: int
  reward_factor: float
  gamma: float
  reward_scale: float = 1.0
  override: tuple[float, float] | None = None


class PolicyValueNetworks(NamedTuple):
  """Pure functions of the network (all batched over a leading B axis)."""
  init: Callable[[PRNGKey], Params]
  initial_state: Callable[[int], Any]
  step: Callable[..., Any]  # (params, obs [B,D], first [B], state) -> (output, state)
  unroll: Callable[..., Any]  # (params, obs [T,B,D], first [T,B], state) -> (output, state)


def make_policy_value_networks(num_actions: int, observation_shape: Sequence[int],
                               core_type: str = 'lstm', hidden_size: int = 48,
                               torso_sizes: Sequence[int] = (),
                               episodic: EpisodicConfig | None = None,
                               value_core: str = 'shared',
                               core_layers: int = 1,
                               core_init: str = 'haiku',
                               rpe: RpeConfig | None = None) -> PolicyValueNetworks:
  """Builds the recurrent actor-critic network as pure functions.

  With `episodic`, the core is an `EpisodicLSTM` (DND reinstatement, Ritter et al. 2018)
  whose memory keys and write flag are read from the observation at `episodic.layout`.

  `value_core='shared'`: one core feeds both heads. `'separate'`: the value head reads its
  own torso and core (the value memory m^V_t of Bartunov's lecture; an LSTM or GRU like the
  policy's, a plain LSTM beside an episodic core), so value regression does not shape the policy's
  memory. The recurrent state is then the pair (policy state, value state).

  `core_init='pytorch'`: a gru core (and a gru value core) as PyTorch's nn.GRU computes and
  initialises it (`metarl.networks.gru.TorchGRU`).

  `value_core='rpe'` (with `rpe`): separate cores, the actor's input holding the critic's
  RPE in place of the reward (the module's docstring); the recurrent state is (policy
  state, value state, the previous value [B]).
  """
  if value_core not in VALUE_CORES:
    raise ValueError(f'value_core must be one of {VALUE_CORES}, got {value_core!r}')
  if (value_core == 'rpe') != (rpe is not None):
    raise ValueError("value_core='rpe' and an RpeConfig go together")
  separate = value_core != 'shared'

  def modules():
    torso = hk.nets.MLP(list(torso_sizes), activate_final=True) if torso_sizes else None
    if episodic is None:
      core = make_core(core_type, hidden_size, num_layers=core_layers, init=core_init)
    else:
      core = hk.ResetCore(EpisodicLSTM(hidden_size, episodic.key_size, episodic.capacity,
                                       retrieval=episodic.retrieval, name='episodic_lstm'))
    policy_head = hk.Linear(num_actions, name='policy')
    value_head = hk.Linear(1, name='value')
    return torso, core, policy_head, value_head

  def value_modules():
    torso = (hk.nets.MLP(list(torso_sizes), activate_final=True, name='value_torso')
             if torso_sizes else None)
    kind = core_type if core_type in CORE_TYPES else 'lstm'
    return torso, make_core(kind, hidden_size, name='value_core',
                            num_layers=core_layers if kind == core_type else 1,
                            init=core_init if kind == core_type else 'haiku')

  def heads(policy_head, value_head, h, h_value):
    return PolicyValueOutput(logits=policy_head(h), value=value_head(h_value)[..., 0],
                             hidden=h)

  def embed(torso, obs):
    x = obs.reshape(obs.shape[:-len(observation_shape)] + (-1,)).astype(jnp.float32)
    return torso(x) if torso is not None else x

  def embed_seq(torso, obs):
    return hk.BatchApply(lambda o: embed(torso, o))(obs) if torso is not None else embed(
        None, obs)

  def core_inputs(x, obs):
    if episodic is None:
      return x
    flat = obs.reshape(obs.shape[:-len(observation_shape)] + (-1,)).astype(jnp.float32)
    layout = episodic.layout
    return EpisodicInputs(x=x, read_key=flat[..., layout.read_key],
                          write_key=flat[..., layout.write_key],
                          write=flat[..., layout.write] > 0.5)

  def flat(obs):
    return obs.reshape(obs.shape[:-len(observation_shape)] + (-1,)).astype(jnp.float32)

  def actor_observation(obs, first, value, previous_value):
    """The observation with its reward entry replaced by the critic's RPE (stopped)."""
    x = flat(obs)
    reward = x[..., rpe.reward_index] * rpe.reward_factor
    delta = rpe.reward_scale * reward + rpe.gamma * value - previous_value
    if rpe.override is not None:
      after, set_to = rpe.override
      delta = jnp.where(jnp.isclose(reward, after), set_to, delta)
    delta = jnp.where(first, 0.0, jax.lax.stop_gradient(delta))
    return x.at[..., rpe.reward_index].set(delta).reshape(obs.shape)

  def rpe_step(obs, first, state):
    torso, core, policy_head, value_head = modules()
    policy_state, value_state, previous_value = state
    value_torso, value_core_ = value_modules()
    h_value, value_state = value_core_((embed(value_torso, obs), first), value_state)
    value = value_head(h_value)[..., 0]
    actor_obs = actor_observation(obs, first, value, previous_value)
    h, policy_state = core((embed(torso, actor_obs), first), policy_state)
    return (PolicyValueOutput(logits=policy_head(h), value=value, hidden=h),
            (policy_state, value_state, value))

  def rpe_unroll(obs, first, state):
    torso, core, policy_head, value_head = modules()
    policy_state, value_state, previous_value = state
    value_torso, value_core_ = value_modules()
    hs_value, value_state = unroll(value_core_, embed_seq(value_torso, obs), first,
                                   value_state)
    values = value_head(hs_value)[..., 0]  # [T, B]
    previous = jnp.concatenate([previous_value[None], values[:-1]], axis=0)
    actor_obs = actor_observation(obs, first, values, previous)
    hs, policy_state = unroll(core, embed_seq(torso, actor_obs), first, policy_state)
    return (PolicyValueOutput(logits=policy_head(hs), value=values, hidden=hs),
            (policy_state, value_state, values[-1]))

  def step_fn(obs, first, state):
    if rpe is not None:
      return rpe_step(obs, first, state)
    torso, core, policy_head, value_head = modules()
    policy_state, value_state = state if separate else (state, None)
    h, policy_state = core((core_inputs(embed(torso, obs), obs), first), policy_state)
    if not separate:
      return heads(policy_head, value_head, h, h), policy_state
    value_torso, value_core_ = value_modules()
    h_value, value_state = value_core_((embed(value_torso, obs), first), value_state)
    return heads(policy_head, value_head, h, h_value), (policy_state, value_state)

  def unroll_fn(obs, first, state):
    if rpe is not None:
      return rpe_unroll(obs, first, state)
    torso, core, policy_head, value_head = modules()
    policy_state, value_state = state if separate else (state, None)
    hs, policy_state = unroll(core, core_inputs(embed_seq(torso, obs), obs), first,
                              policy_state)
    if not separate:
      return heads(policy_head, value_head, hs, hs), policy_state
    value_torso, value_core_ = value_modules()
    hs_value, value_state = unroll(value_core_, embed_seq(value_torso, obs), first,
                                   value_state)
    return heads(policy_head, value_head, hs, hs_value), (policy_state, value_state)

  def initial_state_fn(batch_size):
    _, core, _, _ = modules()
    if not separate:
      return core.initial_state(batch_size)
    states = core.initial_state(batch_size), value_modules()[1].initial_state(batch_size)
    return states + ((jnp.zeros((batch_size,), jnp.float32),) if rpe is not None else ())

  step_t = hk.without_apply_rng(hk.transform(step_fn))
  unroll_t = hk.without_apply_rng(hk.transform(unroll_fn))
  state_t = hk.without_apply_rng(hk.transform(initial_state_fn))

  def init(key: PRNGKey) -> Params:
    obs = jnp.zeros((1, 1) + tuple(observation_shape), jnp.float32)
    first = jnp.ones((1, 1), bool)
    state = state_t.apply({}, 1)
    return unroll_t.init(key, obs, first, state)

  def initial_state(batch_size: int):
    return state_t.apply({}, batch_size)

  return PolicyValueNetworks(init=init, initial_state=initial_state,
                             step=step_t.apply, unroll=unroll_t.apply)


def sample_action(key: PRNGKey, logits: Array) -> Array:
  """Samples from a softmax policy."""
  return jax.random.categorical(key, logits).astype(jnp.int32)
