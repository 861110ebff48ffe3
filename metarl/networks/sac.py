"""Actor and critic networks of recurrent SAC (RLtools), as pure functions.

Both share one trunk shape: an optional dense torso, then either dense hidden layers
(`core='mlp'`) or stacked recurrent layers (`gru` / `lstm` / `lru`, one per entry of
`hidden_sizes`), then a linear head. RLtools' memory agent is torso (16,) tanh, then
GRU(16), GRU(16). Recurrent trunks reset to the zero state wherever `reset` is true. GRU
layers are `metarl.networks.gru.GRUStack` (PyTorch's and RLtools' cell, a native CPU kernel
per sequence pass); LSTM layers are Haiku's; LRU layers (`metarl.networks.lru`, one scan
of the linear recurrence per layer) share the width hidden_sizes[0].

  actor: observation -> (mean, log_std) of a Gaussian squashed by tanh to [-1, 1];
  critic: [observation, action (, previous action, previous reward)] -> Q.

Twin critics are one critic's params stacked on a leading axis of 2 and applied with
`jax.vmap`, so both run in the same scan.
"""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import distrax
import haiku as hk
import jax
import jax.numpy as jnp

from metarl.networks import gru
from metarl.networks.cores import unroll
from metarl.networks.lru import LRU
from metarl.types import Array, Params, PRNGKey

SAC_CORES = ('mlp', 'gru', 'lstm', 'lru')
ACTIVATIONS = {'tanh': jnp.tanh, 'relu': jax.nn.relu, 'elu': jax.nn.elu}


class TrunkConfig(NamedTuple):
  core: str = 'gru'  # mlp | gru | lstm | lru
  torso_sizes: Sequence[int] = ()
  hidden_sizes: Sequence[int] = (16, 16)
  activation: str = 'tanh'


class SACNetworks(NamedTuple):
  """Pure functions; sequences are time-major [T, B, ...], `reset` is [T, B] bool."""
  actor_init: Callable[[PRNGKey], Params]
  critic_init: Callable[[PRNGKey], Params]  # twin params, leading axis 2
  actor_unroll: Callable[..., Any]  # (params, obs, reset) -> (mean, log_std) [T, B, A]
  critic_unroll: Callable[..., Array]  # (twin params, inputs, reset) -> q [2, T, B]
  actor_initial_state: Callable[[int], Any]
  # (params, obs [B, D], reset [B], state) -> ((mean, log_std), state)
  actor_step: Callable[..., Any]
  recurrent: bool
  critic_input_size: int


def _trunk_modules(config: TrunkConfig):
  act = ACTIVATIONS[config.activation]
  torso = (hk.nets.MLP(list(config.torso_sizes), activation=act, activate_final=True,
                       name='torso') if config.torso_sizes else None)
  if config.core == 'mlp':
    core = hk.nets.MLP(list(config.hidden_sizes), activation=act, activate_final=True,
                       name='hidden')
  elif config.core == 'gru':
    core = gru.GRUStack(config.hidden_sizes, name='gru')
  elif config.core == 'lru':  # len(hidden_sizes) layers of hidden_sizes[0] features
    core = LRU(config.hidden_sizes[0], len(config.hidden_sizes), name='lru')
  else:
    layers = [hk.LSTM(size, name=f'lstm_{i}') for i, size in enumerate(config.hidden_sizes)]
    core = hk.ResetCore(hk.DeepRNN(layers, name='core'))
  return torso, core


def _unroll_trunk(config: TrunkConfig, x: Array, reset: Array) -> Array:
  """x [T, B, D] -> features [T, B, H], starting from the zero state."""
  torso, core = _trunk_modules(config)
  if torso is not None:
    x = torso(x)
  if config.core == 'mlp':
    return core(x)
  if config.core == 'gru':
    return core.unroll(x, reset)
  out, _ = unroll(core, x, reset, core.initial_state(x.shape[1]))
  return out


def _actor_head(action_dim: int, features: Array, log_std_min: float, log_std_max: float):
  out = hk.Linear(2 * action_dim, name='policy')(features)
  mean, log_std = jnp.split(out, 2, axis=-1)
  return mean, jnp.clip(log_std, log_std_min, log_std_max)


def make_sac_networks(observation_shape: Sequence[int], action_dim: int,
                      trunk: TrunkConfig, critic_prev_action_reward: bool = False,
                      log_std_min: float = -20.0, log_std_max: float = 2.0) -> SACNetworks:
  """Builds the actor and twin critic functions for an env's observation and action sizes."""
  if trunk.core not in SAC_CORES:
    raise ValueError(f'network.core must be one of {SAC_CORES}, got {trunk.core!r}')
  obs_size = 1
  for d in observation_shape:
    obs_size *= d
  critic_in = obs_size + action_dim + (action_dim + 1 if critic_prev_action_reward else 0)

  def flat(obs):
    return obs.reshape(obs.shape[:2] + (-1,)).astype(jnp.float32)

  def actor_fn(obs, reset):
    features = _unroll_trunk(trunk, flat(obs), reset)
    return _actor_head(action_dim, features, log_std_min, log_std_max)

  def critic_fn(inputs, reset):
    features = _unroll_trunk(trunk, inputs, reset)
    return hk.Linear(1, name='q')(features)[..., 0]

  def actor_step_fn(obs, reset, state):
    torso, core = _trunk_modules(trunk)
    x = obs.reshape(obs.shape[:1] + (-1,)).astype(jnp.float32)
    if torso is not None:
      x = torso(x)
    if trunk.core == 'mlp':
      features = core(x)
    elif trunk.core == 'gru':
      features, state = core.step(x, reset, state)
    else:
      features, state = core((x, reset), state)
    return _actor_head(action_dim, features, log_std_min, log_std_max), state

  def actor_state_fn(batch_size):
    if trunk.core == 'mlp':
      return ()
    _, core = _trunk_modules(trunk)
    return core.initial_state(batch_size)

  actor_t = hk.without_apply_rng(hk.transform(actor_fn))
  critic_t = hk.without_apply_rng(hk.transform(critic_fn))
  step_t = hk.without_apply_rng(hk.transform(actor_step_fn))
  state_t = hk.without_apply_rng(hk.transform(actor_state_fn))

  def actor_init(key):
    obs = jnp.zeros((1, 1) + tuple(observation_shape), jnp.float32)
    return actor_t.init(key, obs, jnp.ones((1, 1), bool))

  def critic_init(key):
    inputs = jnp.zeros((1, 1, critic_in), jnp.float32)
    twins = [critic_t.init(k, inputs, jnp.ones((1, 1), bool))
             for k in jax.random.split(key, 2)]
    return jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), *twins)

  def critic_unroll(params, inputs, reset):
    return jax.vmap(critic_t.apply, in_axes=(0, None, None))(params, inputs, reset)

  return SACNetworks(actor_init=actor_init, critic_init=critic_init,
                     actor_unroll=actor_t.apply, critic_unroll=critic_unroll,
                     actor_initial_state=lambda b: state_t.apply({}, b),
                     actor_step=step_t.apply, recurrent=trunk.core != 'mlp',
                     critic_input_size=critic_in)


def squashed_gaussian(mean: Array, log_std: Array) -> distrax.Distribution:
  """The tanh-squashed diagonal Gaussian policy (last axis: action dimensions).

  Built as independent Normals made one event by `distrax.Independent` (lighter to compile
  than `MultivariateNormalDiag`, the same density)."""
  base = distrax.Independent(distrax.Normal(mean, jnp.exp(log_std)), 1)
  return distrax.Transformed(base, distrax.Block(distrax.Tanh(), 1))


def deterministic_action(mean: Array) -> Array:
  """The evaluation action: tanh of the mean (RLtools' evaluation mode)."""
  return jnp.tanh(mean)
