"""Recurrent cores with per-step resets, built by name from a config.

Every core is wrapped in `hk.ResetCore`, so an unroll over `(inputs, first)` starts from the
initial (zero) state wherever `first` is true: episodes never leak memory into each other,
inside one rollout or across rollout chunks.
"""

import haiku as hk

CORE_TYPES = ('lstm', 'gru')


def make_core(core_type: str, hidden_size: int, name=None) -> hk.RNNCore:
  """A resettable recurrent core taking `(inputs, should_reset)`.

  Args:
    core_type: 'lstm' or 'gru'.
    hidden_size: units of the core.
    name: module name of the wrapped core (Haiku's default when None).

  Returns:
    An `hk.ResetCore` whose inputs are `(x [B, D], should_reset [B])`.
  """
  if core_type == 'lstm':
    core = hk.LSTM(hidden_size, name=name)
  elif core_type == 'gru':
    core = hk.GRU(hidden_size, name=name)
  else:
    raise ValueError(f'core type must be one of {CORE_TYPES}, got {core_type!r}')
  return hk.ResetCore(core)

