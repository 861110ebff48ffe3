"""Sequence replay for recurrent off-policy agents (RLtools' batch sampling, in JAX).

The buffer is a pytree of arrays, so adding and sampling jit and fuse with the updates in
one `lax.scan`. It has one ring per environment stream (row): a row receives the steps of
one environment copy in order, so a row is a sequence of whole episodes and a sampled
window never interleaves two environments. Each row remembers how many steps it was ever
given (`count`); step j of a row lives at slot `j % capacity`, and the stored steps are
j in [count - stored, count).

A sampled sequence starts at a stored step, runs for at most `sequence_length` steps and
stops (masked) at the end of its episode or of the stored data: episodes are never mixed.
Every field is gathered for L + 1 steps so the target networks can see the step after the
last one (the bootstrap observation). Masks say which steps are real (`valid`), which
steps the critic may train on (`critic_mask`: the next observation is stored, or the
episode terminated) and which the actor may train on (`actor_mask`). With
`mask_non_terminal` both masks keep only the last such step of each sequence.

A truncated episode (time limit, `discount == 1` on its last step) has no stored next
observation: the environments reset automatically and return the next episode's first
observation, so that one transition is left out of the critic loss.
"""

from collections.abc import Sequence
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from metarl.types import Array, PRNGKey


class ReplayConfig(NamedTuple):
  """The sampling options of RLtools (RLtools' BATCH_SAMPLING_PARAMETERS)."""
  sequence_length: int = 50
  random_seq_length: bool = False  # length ~ L w.p. nominal_prob, else uniform in 1..L-1
  nominal_seq_length_prob: float = 0.5
  always_sample_from_initial_state: bool = False  # sequences start at an episode's start
  include_first_step_in_targets: bool = True  # target nets see the L + 1 step window
  mask_non_terminal: bool = False  # losses only at the last step of each sequence


class Steps(NamedTuple):
  """Steps of experience, one per env stream and time. Index t: the agent saw
  observation[t] (first[t]: it starts an episode), took action[t], got reward[t],
  discount[t] (0: terminated) and last[t] (the episode ended with this transition).
  prev_action / prev_reward are those of the step before (zero at an episode's start)."""
  observation: Array
  action: Array
  reward: Array
  discount: Array
  first: Array
  last: Array
  prev_action: Array
  prev_reward: Array


class ReplayState(NamedTuple):
  steps: Steps  # leaves [R, C, ...]
  count: Array  # [R] int32: steps ever added to each row


class SequenceBatch(NamedTuple):
  """B sampled sequences; every field covers L + 1 steps (position L: bootstrap only)."""
  steps: Steps  # leaves [B, L + 1, ...]
  valid: Array  # [B, L + 1] bool: the position holds a step of the sequence's episode
  critic_mask: Array  # [B, L] float: positions the critic loss uses
  actor_mask: Array  # [B, L] float: positions the actor and temperature losses use
  target_reset: Array  # [B, L + 1] bool: where the target networks start from zero state
  length: Array  # [B] int32: the drawn sequence length


def init(num_rows: int, capacity: int, observation_shape: Sequence[int],
         action_dim: int) -> ReplayState:
  """An empty buffer of `num_rows` rings of `capacity` steps each."""
  shape = (num_rows, capacity)
  steps = Steps(
      observation=jnp.zeros(shape + tuple(observation_shape), jnp.float32),
      action=jnp.zeros(shape + (action_dim,), jnp.float32),
      reward=jnp.zeros(shape, jnp.float32), discount=jnp.zeros(shape, jnp.float32),
      first=jnp.zeros(shape, bool), last=jnp.zeros(shape, bool),
      prev_action=jnp.zeros(shape + (action_dim,), jnp.float32),
      prev_reward=jnp.zeros(shape, jnp.float32))
  return ReplayState(steps=steps, count=jnp.zeros((num_rows,), jnp.int32))


def capacity(state: ReplayState) -> int:
  return state.steps.reward.shape[1]


def size(state: ReplayState) -> Array:
  """Steps stored in the whole buffer."""
  return jnp.minimum(state.count, capacity(state)).sum()


def add(state: ReplayState, rows: Array, steps: Steps) -> ReplayState:
  """Appends a time-major chunk (leaves [T, n, ...]) to rows `rows` [n] (distinct)."""
  _assert_state(state)
  chex.assert_rank(rows, 1)
  chex.assert_type(rows, int)
  chex.assert_tree_shape_prefix(steps, (steps.reward.shape[0], rows.shape[0]))
  num_steps = steps.reward.shape[0]
  cap = capacity(state)
  slots = (state.count[rows][None, :] + jnp.arange(num_steps)[:, None]) % cap  # [T, n]
  row_index = jnp.broadcast_to(rows[None, :], slots.shape)
  new_steps = jax.tree_util.tree_map(
      lambda buf, x: buf.at[row_index, slots].set(x.astype(buf.dtype)), state.steps, steps)
  return ReplayState(steps=new_steps, count=state.count.at[rows].add(num_steps))


def end_episodes(state: ReplayState, rows: Array) -> ReplayState:
  """Marks the newest step of each of `rows` as the end of its episode, truncated (its next
  observation is not stored): what the rows' env copies did next is lost, e.g. when the
  worker that stepped them died, so no sequence may run on into the steps added later."""
  slots = (state.count[rows] - 1) % capacity(state)
  open_end = (state.count[rows] > 0) & ~state.steps.last[rows, slots]
  last = state.steps.last.at[rows, slots].set(state.steps.last[rows, slots] | open_end)
  discount = state.steps.discount.at[rows, slots].set(
      jnp.where(open_end, 1.0, state.steps.discount[rows, slots]))
  return state._replace(steps=state.steps._replace(last=last, discount=discount))


def add_to_all_rows(state: ReplayState, steps: Steps) -> ReplayState:
  """`add` for a chunk (leaves [T, R, ...]) of every row when all rows hold the same
  number of steps (env copies stepped together): one contiguous in-place write per row
  when the chunk does not wrap around the ring."""
  num_steps = steps.reward.shape[0]
  cap = capacity(state)
  if num_steps != 1:
    return add(state, jnp.arange(state.count.shape[0]), steps)
  slot = state.count[0] % cap

  def write(buf, x):
    x = jnp.swapaxes(x, 0, 1).astype(buf.dtype)  # [R, 1, ...]
    start = (0, slot) + (0,) * (buf.ndim - 2)
    return jax.lax.dynamic_update_slice(buf, x, start)
  return ReplayState(steps=jax.tree_util.tree_map(write, state.steps, steps),
                     count=state.count + num_steps)


def _assert_state(state: ReplayState) -> None:
  """chex checks of a replay: every leaf [R, C, ...], count [R] int."""
  chex.assert_rank([state.steps.reward, state.count], [2, 1])
  chex.assert_tree_shape_prefix(state.steps, state.steps.reward.shape)
  chex.assert_shape(state.count, state.steps.reward.shape[:1])
  chex.assert_type(state.count, int)


def _sample_starts(key: PRNGKey, state: ReplayState, batch_size: int,
                   from_initial_state: bool):
  """Rows and logical start indices of `batch_size` sequences."""
  num_rows, cap = state.steps.reward.shape
  stored = jnp.minimum(state.count, cap)  # [R]
  if from_initial_state:
    in_store = jnp.arange(cap)[None, :] < stored[:, None]
    logits = jnp.where(in_store & state.steps.first, 0.0, -jnp.inf).reshape(-1)
    flat = jax.random.categorical(key, logits, shape=(batch_size,))
    rows, slots = flat // cap, flat % cap
  else:
    row_key, slot_key = jax.random.split(key)
    rows = jax.random.categorical(row_key, jnp.log(stored.astype(jnp.float32)),
                                  shape=(batch_size,))
    slots = jax.random.randint(slot_key, (batch_size,), 0, jnp.maximum(stored[rows], 1))
  newest = state.count[rows] - 1
  # The most recent logical index stored at `slot` (slots are reused every `cap` steps).
  starts = newest - (newest - slots) % cap
  return rows, starts


def _sample_lengths(key: PRNGKey, config: ReplayConfig, batch_size: int) -> Array:
  full = config.sequence_length
  if not config.random_seq_length or full == 1:
    return jnp.full((batch_size,), full, jnp.int32)
  nominal_key, uniform_key = jax.random.split(key)
  nominal = jax.random.bernoulli(nominal_key, config.nominal_seq_length_prob, (batch_size,))
  shorter = jax.random.randint(uniform_key, (batch_size,), 1, full)  # 1 .. L-1
  return jnp.where(nominal, full, shorter).astype(jnp.int32)


def _last_true(mask: Array) -> Array:
  """Keeps only the last True of each row of `mask` [B, L]."""
  later = jnp.flip(jnp.cumsum(jnp.flip(mask, axis=1), axis=1), axis=1)  # Trues at or after
  return mask & (later == 1)


def sample(key: PRNGKey, state: ReplayState, config: ReplayConfig,
           batch_size: int) -> SequenceBatch:
  """Draws `batch_size` sequences as `config` says (see the module docstring)."""
  _assert_state(state)
  chex.assert_shape(key, (2,))
  start_key, length_key = jax.random.split(key)
  rows, starts = _sample_starts(start_key, state, batch_size,
                                config.always_sample_from_initial_state)
  lengths = _sample_lengths(length_key, config, batch_size)
  window = config.sequence_length + 1
  offsets = jnp.arange(window)
  logical = starts[:, None] + offsets[None, :]  # [B, L + 1]
  cap = capacity(state)
  steps = jax.tree_util.tree_map(lambda buf: buf[rows[:, None], logical % cap], state.steps)
  in_store = logical < state.count[rows][:, None]
  # An earlier position of the window ended the episode: later ones belong to another.
  ended_before = jnp.cumsum(steps.last, axis=1) - steps.last > 0
  in_episode = in_store & ~ended_before
  valid = in_episode  # [B, L + 1]
  in_sequence = offsets[None, :-1] < lengths[:, None]  # [B, L]
  acted = valid[:, :-1] & in_sequence
  terminated = steps.last[:, :-1] & (steps.discount[:, :-1] == 0)
  next_stored = valid[:, 1:] & ~steps.last[:, :-1]
  critic_ok = acted & (terminated | next_stored)
  actor_ok = acted
  if config.mask_non_terminal:
    critic_ok = _last_true(critic_ok)
    actor_ok = _last_true(actor_ok)
  target_reset = offsets[None, :] == 0
  if not config.include_first_step_in_targets:
    target_reset = target_reset | (offsets[None, :] == 1)
  target_reset = jnp.broadcast_to(target_reset, valid.shape)
  return SequenceBatch(steps=steps, valid=valid, critic_mask=critic_ok.astype(jnp.float32),
                       actor_mask=actor_ok.astype(jnp.float32), target_reset=target_reset,
                       length=lengths)
