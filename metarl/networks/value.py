"""Value RNN: a reset recurrent core read out as a scalar value estimate (value-rnn-td).

Readouts:
  'relu_sum': Vhat(t) = sum_j relu(h_j(t)), no parameters (value-rnn-td, after Starkweather-style
    value RNNs); the hidden units themselves carry the value.
  'linear': Vhat(t) = w . h(t) + b, a learned linear readout.

The factory returns pure functions (`init`, `initial_state`, `unroll`); `unroll` also returns
h(t) for every unit, the activity researchers compare with recordings.

Initialisation (`positive_init`): with a relu readout, a unit whose h_j(t) is never positive
passes no gradient (relu'(x) = 0 for x <= 0) and can never start to learn: value-rnn-td loses
about 2 of 10 seeds this way. The candidate-cell bias of the core is set to `cell_bias` so
that at initialisation every unit's cell integrates a positive drive and every h_j(t) is
positive on every step: every unit starts inside the readout's active region, and learning
decides which steps it should fall silent on. See `tests/test_value_td.py` and
`benchmarks/value_td.py` for the effect across seeds.
"""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp

from metarl.networks.cores import make_core, unroll
from metarl.networks.gru import torch_uniform
from metarl.types import Array, Params, PRNGKey

READOUTS = ('relu_sum', 'linear')


class ValueOutput(NamedTuple):
  value: Array  # [T, B] Vhat(t)
  hidden: Array  # [T, B, H] h(t) of every unit


class ValueNetworks(NamedTuple):
  init: Callable[[PRNGKey], Params]
  initial_state: Callable[[int], Any]
  unroll: Callable[..., Any]  # (params, obs [T,B,D], first [T,B], state) -> (out, state)


def make_value_networks(observation_shape: Sequence[int], core_type: str = 'lstm',
                        hidden_size: int = 2, readout: str = 'relu_sum',
                        cell_bias: float = 0.0, core_layers: int = 1,
                        core_init: str = 'haiku') -> ValueNetworks:
  """Builds the value RNN as pure functions.

  Args:
    observation_shape: shape of one observation.
    core_type: 'lstm', 'gru' or 'lru'.
    hidden_size: number of recurrent units.
    core_layers: stacked layers of an 'lru' core.
    readout: 'relu_sum' or 'linear'.
    cell_bias: initial bias of the candidate cell input (LSTM) or candidate state (GRU);
      > 0 makes every unit's activity positive at initialisation (see the module doc).
    core_init: 'haiku', or 'pytorch': a gru core and a linear readout as PyTorch's nn.GRU and
      nn.Linear compute and initialise them (every weight and bias U(+-1/sqrt(H))), the
      networks of Hennig et al. (2023).
  """
  if readout not in READOUTS:
    raise ValueError(f'readout must be one of {READOUTS}, got {readout!r}')

  def unroll_fn(obs, first, state):
    core = make_core(core_type, hidden_size, num_layers=core_layers, init=core_init)
    x = obs.reshape(obs.shape[:2] + (-1,)).astype(jnp.float32)
    hs, state = unroll(core, x, first, state)
    if readout == 'relu_sum':
      value = jnp.sum(jax.nn.relu(hs), axis=-1)
    else:
      torch = {} if core_init == 'haiku' else dict(w_init=torch_uniform(hidden_size),
                                               b_init=torch_uniform(hidden_size))
      value = hk.Linear(1, name='readout', **torch)(hs)[..., 0]
    return ValueOutput(value=value, hidden=hs), state

  def initial_state_fn(batch_size):
    return make_core(core_type, hidden_size, num_layers=core_layers,
                     init=core_init).initial_state(batch_size)

  unroll_t = hk.without_apply_rng(hk.transform(unroll_fn))
  state_t = hk.without_apply_rng(hk.transform(initial_state_fn))

  def initial_state(batch_size: int):
    return state_t.apply({}, batch_size)

  def init(key: PRNGKey) -> Params:
    obs = jnp.zeros((1, 1) + tuple(observation_shape), jnp.float32)
    params = unroll_t.init(key, obs, jnp.ones((1, 1), bool), initial_state(1))
    if cell_bias and core_type in ('lstm', 'gru'):  # the LRU has no candidate cell
      params = _set_cell_bias(params, core_type, hidden_size, cell_bias, core_init)
    return params

  return ValueNetworks(init=init, initial_state=initial_state, unroll=unroll_t.apply)


def _set_cell_bias(params: Params, core_type: str, hidden_size: int, bias: float,
                   init: str) -> Params:
  """Sets the candidate-input bias of the core (LSTM gate order i, g, f, o)."""
  params = hk.data_structures.to_mutable_dict(params)
  if init == 'pytorch':  # PyTorch's GRU: gates r, z, n; n's input bias
    b = params['gru']['b_i']
    params['gru']['b_i'] = b.at[2 * hidden_size:].set(bias)
  elif core_type == 'lstm':
    b = params['lstm/linear']['b']
    params['lstm/linear']['b'] = b.at[hidden_size:2 * hidden_size].set(bias)
  else:  # haiku GRU: one bias [z, r, a]; a is the candidate state
    b = params['gru']['b']
    params['gru']['b'] = b.at[2 * hidden_size:].set(bias)
  return params
