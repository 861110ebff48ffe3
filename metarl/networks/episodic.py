"""Episodic memory for meta-RL: a differentiable neural dictionary (DND) and the episodic
LSTM that reinstates retrieved cell states (Ritter et al. 2018; Pritzel et al. 2017;
BKHMSI/Meta-RL-TwoStep-Task).

DND: a fixed-capacity table of (key, value) pairs held in the recurrent state, so it jits,
vmaps over a batch and is cleared wherever the core resets (every episode start). Keys are
task contexts, values are LSTM cell states. Reading is cosine-similarity 1-nearest-neighbour
over the filled slots; writing fills slots in order and, once full, overwrites the oldest.
No gradient flows into the memory: values are stored with `stop_gradient`.

Episodic LSTM cell: gates i, f, o and a reinstatement gate r computed like an LSTM's,
    c_t = f * c_{t-1} + i * g + r * tanh(m_t),   h_t = o * tanh(c_t),
where m_t is the value retrieved with the step's read key. After the step, c_t is written
under the step's write key when its `write` flag is set (in the episodic two-step task: the
cell that has just seen a trial's outcome, under that trial's context). With
`retrieval=False` (the "incremental" agent of BKHMSI/Meta-RL-TwoStep-Task) m_t = 0,
nothing is stored, and the cell is a plain LSTM with the same i, g, f, o weights.
"""

from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp

from metarl.types import Array


class DNDState(NamedTuple):
  keys: Array  # [..., capacity, key_size]
  values: Array  # [..., capacity, value_size]
  size: Array  # [...] int32 slots filled (<= capacity)
  next: Array  # [...] int32 slot written next


class DNDRead(NamedTuple):
  value: Array  # [value_size] retrieved value (zeros when the memory is empty)
  similarity: Array  # cosine similarity of the neighbour (-1 when empty)
  index: Array  # int32 slot read (-1 when empty)


def dnd_init(capacity: int, key_size: int, value_size: int,
             batch_shape: tuple[int, ...] = ()) -> DNDState:
  """An empty memory (leading `batch_shape`)."""
  return DNDState(keys=jnp.zeros(batch_shape + (capacity, key_size), jnp.float32),
                  values=jnp.zeros(batch_shape + (capacity, value_size), jnp.float32),
                  size=jnp.zeros(batch_shape, jnp.int32),
                  next=jnp.zeros(batch_shape, jnp.int32))


def dnd_write(memory: DNDState, key: Array, value: Array, write: Array = True) -> DNDState:
  """Stores (key, value) in the next slot when `write` (one unbatched memory)."""
  capacity = memory.keys.shape[0]
  slot = memory.next
  keys = memory.keys.at[slot].set(jnp.where(write, key, memory.keys[slot]))
  values = memory.values.at[slot].set(
      jnp.where(write, jax.lax.stop_gradient(value), memory.values[slot]))
  written = jnp.asarray(write, jnp.int32)
  return DNDState(keys=keys, values=values,
                  size=jnp.minimum(memory.size + written, capacity),
                  next=(memory.next + written) % capacity)


def dnd_read(memory: DNDState, query: Array, eps: float = 1e-8) -> DNDRead:
  """Cosine-similarity nearest neighbour of `query` among the filled slots (unbatched)."""
  capacity = memory.keys.shape[0]
  norms = jnp.linalg.norm(memory.keys, axis=-1) * jnp.linalg.norm(query)
  similarity = memory.keys @ query / jnp.maximum(norms, eps)
  filled = jnp.arange(capacity) < memory.size
  similarity = jnp.where(filled, similarity, -jnp.inf)
  index = jnp.argmax(similarity)
  empty = memory.size == 0
  value = jnp.where(empty, 0.0, memory.values[index])
  return DNDRead(value=jax.lax.stop_gradient(value),
                 similarity=jnp.where(empty, -1.0, similarity[index]),
                 index=jnp.where(empty, -1, index).astype(jnp.int32))


class EpisodicState(NamedTuple):
  hidden: Array  # [B, H]
  cell: Array  # [B, H]
  memory: DNDState  # [B, capacity, ...]


class EpisodicInputs(NamedTuple):
  x: Array  # [B, D] the step's input
  read_key: Array  # [B, K] context the memory is read with
  write_key: Array  # [B, K] context c_t is stored under
  write: Array  # [B] bool: store (write_key, c_t) after this step


class EpisodicLSTM(hk.RNNCore):
  """LSTM with a reinstatement gate reading cell states back from a DND."""

  def __init__(self, hidden_size: int, key_size: int, capacity: int,
               retrieval: bool = True, name: str | None = None):
    super().__init__(name=name)
    self.hidden_size = hidden_size
    self.key_size = key_size
    self.capacity = capacity
    self.retrieval = retrieval

  def __call__(self, inputs: EpisodicInputs,
               state: EpisodicState) -> tuple[Array, EpisodicState]:
    h_size = self.hidden_size
    x_and_h = jnp.concatenate([inputs.x, state.hidden], axis=-1)
    # Gate order i, g, f, o as hk.LSTM, then r: the first 4H columns are an LSTM's.
    gated = hk.Linear(5 * h_size, name='linear')(x_and_h)
    i, g, f, o, r = jnp.split(gated, 5, axis=-1)
    f = jax.nn.sigmoid(f + 1)  # forget bias as hk.LSTM
    c = f * state.cell + jax.nn.sigmoid(i) * jnp.tanh(g)
    memory = state.memory
    if self.retrieval:
      retrieved = jax.vmap(dnd_read)(memory, inputs.read_key).value
      c = c + jax.nn.sigmoid(r) * jnp.tanh(retrieved)
      memory = jax.vmap(dnd_write)(memory, inputs.write_key, c, inputs.write)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return h, EpisodicState(hidden=h, cell=c, memory=memory)

  def initial_state(self, batch_size: int | None) -> EpisodicState:
    batch = () if batch_size is None else (batch_size,)
    shape = batch + (self.hidden_size,)
    return EpisodicState(hidden=jnp.zeros(shape, jnp.float32),
                         cell=jnp.zeros(shape, jnp.float32),
                         memory=dnd_init(self.capacity, self.key_size, self.hidden_size,
                                         batch))
