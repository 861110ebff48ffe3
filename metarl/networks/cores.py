"""Recurrent cores with per-step resets, built by name from a config.

LSTM and GRU are wrapped in `hk.ResetCore`, so an unroll over `(inputs, first)` starts from the
initial (zero) state wherever `first` is true: episodes never leak memory into each other,
inside one rollout or across rollout chunks. The LRU (`metarl.networks.lru`) resets itself,
inside its scan. `unroll` runs any of them over a sequence: step by step for LSTM and GRU,
the whole sequence at once for the LRU (its projections on all steps together, its linear
recurrence as one scan).
"""

import chex
import haiku as hk

from metarl.config_rules import ConfigError
from metarl.networks.gru import TorchGRU
from metarl.networks.lru import LRU

CORE_TYPES = ('lstm', 'gru', 'lru')
# network.init: 'haiku' (Haiku's cores and initialisers) or 'pytorch' (a gru core as
# PyTorch's nn.GRU computes and initialises it: metarl.networks.gru.TorchGRU)
CORE_INITS = ('haiku', 'pytorch')


def make_core(core_type: str, hidden_size: int, name=None, num_layers: int = 1,
              init: str = 'haiku') -> hk.RNNCore:
  """A resettable recurrent core taking `(inputs, should_reset)`.

  Args:
    core_type: 'lstm', 'gru' or 'lru'.
    hidden_size: units of the core.
    name: module name of the wrapped core (Haiku's default when None).
    num_layers: stacked layers (the LRU only).
    init: 'haiku', or 'pytorch' for a gru core computed and initialised as PyTorch's.

  Returns:
    A core whose inputs are `(x [B, D], should_reset [B])`.
  """
  if core_type != 'lru' and num_layers != 1:
    raise ValueError(f'{core_type} cores have one layer here, not {num_layers}')
  if init not in CORE_INITS or (init == 'pytorch' and core_type != 'gru'):
    raise ValueError(f"init must be one of {CORE_INITS} ('pytorch' with a gru core), got "
                     f'{init!r} for {core_type!r}')
  if core_type == 'lstm':
    return hk.ResetCore(hk.LSTM(hidden_size, name=name))
  if core_type == 'gru':
    if init == 'pytorch':
      return TorchGRU(hidden_size, name=name)
    return hk.ResetCore(hk.GRU(hidden_size, name=name))
  if core_type == 'lru':
    return LRU(hidden_size, num_layers, name=name)
  raise ValueError(f'core type must be one of {CORE_TYPES}, got {core_type!r}')


def unroll(core: hk.RNNCore, inputs, first, state):
  """The core over a sequence: (outputs [T, B, ...], final state); `inputs` [T, B, ...]
  (or a tuple of such), `first` [T, B] bool; every leaf of `state` [B, ...]."""
  chex.assert_rank(first, 2)
  chex.assert_type(first, bool)
  chex.assert_tree_shape_prefix(inputs, first.shape)
  chex.assert_tree_shape_prefix(state, first.shape[1:])
  if isinstance(core, (LRU, TorchGRU)):  # a whole sequence at once
    return core.unroll(inputs, first, state)
  return hk.dynamic_unroll(core, (inputs, first), state)


def check_core_layers(network_config) -> None:
  """`network.core_layers` > 1 stacks LRU layers; the other cores have one.
  `network.init='pytorch'` is of a gru core."""
  layers = network_config.core_layers
  if layers != 1 and network_config.core != 'lru':
    raise ConfigError('network.core_layers', layers,
                      f"1 for network.core={network_config.core!r} (stacked layers are for "
                      "'lru')")
  init = network_config.init
  if init == 'pytorch' and network_config.core != 'gru':
    raise ConfigError('network.init', init,
                      f"'haiku' for network.core={network_config.core!r} ('pytorch' is "
                      "PyTorch's GRU: network.core='gru')")
