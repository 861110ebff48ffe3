"""The memory task of RLtools: count the ones among the last `horizon` bits.

At every step a new bit, 1 with `input_probability`, enters a window of the last `horizon`
bits (oldest first, zeros before the episode's start) and is the whole observation. The
agent answers with a continuous action a in [-1, 1] (clipped) and is paid
-10 * |a - count / horizon|, where count is the number of ones in the window, the bit just
observed included. An episode has no terminal state: it is truncated after
`episode_step_limit` steps (`last=True` with discount 1), and the same time step already
holds the next episode's first observation (`first=True`), as in `metarl.types.TimeStep`.

Random stream contract (the numpy reference in tests relies on it): `reset(key)` draws its
bit as `bernoulli(key, p)`; `step(key)` draws the next bit as `bernoulli(fold_in(key, 1), p)`
and, at truncation, returns `reset(key)` itself.

Config fields (`FIELDS`): horizon, input_probability, episode_step_limit (RLtools' 10,
0.2 = 2 / H and 2000).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from metarl import config_rules as rules
from metarl.envs import base
from metarl.envs.registry import register
from metarl.envs.words import Words
from metarl.types import Array, PRNGKey, TimeStep


@base.env_params
class MemoryParams:
  input_probability: Array  # float32 probability that a new bit is 1


class MemoryState(NamedTuple):
  window: Array  # int32 [horizon] the last bits, oldest first (the newest was observed)
  t: Array  # int32 steps already taken in this episode


def _push(window: Array, bit: Array) -> Array:
  """Shifts the window left by one and appends `bit` as its newest entry."""
  return jnp.concatenate([window[1:], bit[None].astype(window.dtype)])


def random_sequences(key: PRNGKey, num_sequences: int, length: int, horizon: int,
                     input_probability: float) -> tuple[Array, Array]:
  """I.i.d. Bernoulli bit sequences and the answer expected at their end.

  The seed's accuracy check: after feeding a sequence, an agent is right when
  round(horizon * a) equals the number of ones among the sequence's last `horizon` bits.

  Args:
    key: random key.
    num_sequences: number of sequences B.
    length: steps T per sequence.
    horizon: the window size H.
    input_probability: probability that a bit is 1.

  Returns:
    bits: float32 [T, B, 1] observations (time major).
    counts: int32 [B] ones among the last `horizon` bits of each sequence.
  """
  bits = jax.random.bernoulli(key, input_probability, (length, num_sequences, 1))
  counts = jnp.sum(bits[-horizon:, :, 0].astype(jnp.int32), axis=0)
  return bits.astype(jnp.float32), counts


class Memory(base.Environment):
  """Counts ones in a sliding window of `horizon` random bits; truncated episodes."""

  def __init__(self, horizon: int = 10, input_probability: float = 0.2,
               episode_step_limit: int = 2000):
    self.horizon = horizon
    self.episode_step_limit = episode_step_limit
    self._input_probability = input_probability

  @property
  def spec(self) -> base.EnvSpec:
    return base.EnvSpec(observation_shape=(1,), num_actions=0, action_dim=1)

  @property
  def max_episode_steps(self) -> int:
    return self.episode_step_limit

  def default_params(self) -> MemoryParams:
    return MemoryParams(input_probability=jnp.asarray(self._input_probability, jnp.float32))

  def count(self, state: MemoryState) -> Array:
    """Number of ones in the window (of any leading batch shape)."""
    return jnp.sum(state.window, axis=-1)

  def reset(self, key: PRNGKey, params: MemoryParams) -> tuple[MemoryState, TimeStep]:
    bit = jax.random.bernoulli(key, params.input_probability)
    window = _push(jnp.zeros((self.horizon,), jnp.int32), bit)
    state = MemoryState(window=window, t=jnp.zeros((), jnp.int32))
    return state, base.restart(bit[None].astype(jnp.float32))

  def step_env(self, key: PRNGKey, state: MemoryState, action: Array,
               params: MemoryParams) -> tuple[MemoryState, TimeStep]:
    a = jnp.clip(jnp.reshape(action, (1,))[0].astype(jnp.float32), -1.0, 1.0)
    reward = -10.0 * jnp.abs(a - self.count(state) / self.horizon)
    t = state.t + 1
    last = t >= self.episode_step_limit
    bit = jax.random.bernoulli(jax.random.fold_in(key, 1), params.input_probability)
    next_state = MemoryState(window=_push(state.window, bit), t=t)
    return next_state, TimeStep(observation=bit[None].astype(jnp.float32),
                                reward=reward.astype(jnp.float32),
                                discount=jnp.ones((), jnp.float32), first=last, last=last)

  def episode_metrics(self, states: MemoryState, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """Reward per step and the fraction of steps with round(H * a) == count.

    Args:
      states: the states acted in, leaves [T, B, ...].
      actions: [T, B, 1] actions (clipped to [-1, 1] here, as in `step`).
      rewards: [T, B] rewards received.

    Returns:
      {'mean_reward_per_step', 'accuracy'} scalars.
    """
    a = jnp.clip(actions[..., 0], -1.0, 1.0)
    correct = jnp.round(self.horizon * a).astype(jnp.int32) == self.count(states)
    return {'mean_reward_per_step': rewards.mean(),
            'accuracy': correct.astype(jnp.float32).mean()}


class MemoryWords(Words):
  """Each new bit, and the answer against the true fraction."""

  def intro(self) -> str:
    env = self.env
    return (f'Memory task: each step shows one new bit. Answer with the fraction of ones among '
            f'the last {env.horizon} bits, the newest included (a number from 0 to 1); the '
            f'reward is -10 x |answer - fraction|. {env.episode_step_limit} steps per episode '
            '(--config.env.episode_step_limit=N for fewer).')

  def situation(self, step, state, timestep) -> str:
    return (f'step {step + 1}/{self.env.episode_step_limit}: new bit '
            f'{int(timestep.observation[0])}')

  def outcome(self, prev_state, action, timestep) -> str:
    truth = int(np.sum(prev_state.window)) / self.env.horizon
    return (f'you answered {float(np.ravel(action)[0]):.2f} (it was {truth:.2f}): reward '
            f'{float(timestep.reward):.2f}')

  def prompt(self, state) -> str:
    return 'fraction of ones [0-1]'


FIELDS = {
    'horizon': rules.Int(1, default=10),
    'input_probability': rules.Real(0.0, 1.0, default=0.2),
    'episode_step_limit': rules.Int(1, default=2000),
}

register('memory', Memory, FIELDS, words=MemoryWords)
