"""Freezing and unfreezing parameter groups, for any agent's optimizer.

Parameters are named by their Haiku path, `module/name` (e.g. `lstm/linear/w`,
`readout/b`). A frozen parameter gets a zero update (`optax.set_to_zero`), so it stays
bit-identical through training while the rest train as usual. Unfreezing is building the
optimizer again without the freeze (e.g. fine-tuning from saved params with
`config.init_params_path` and another `agent.freeze`).

Example: train only a linear readout on top of fixed recurrent weights
    mask = trainable_mask(params, frozen=[r'^lstm/'])
    optimizer = freeze(optax.adam(1e-3), mask)
"""

import re
from collections.abc import Sequence
from typing import Any

import haiku as hk
import jax
import optax

from metarl.types import Params


def param_paths(params: Params) -> list[str]:
  """Every parameter's path, `module/name`, in a stable order."""
  return [f'{module}/{name}' for module, name, _ in hk.data_structures.traverse(params)]


def trainable_mask(params: Params, frozen: Sequence[str]) -> Params:
  """A pytree like `params` of bools: False where the path matches a `frozen` regex."""
  patterns = [re.compile(p) for p in frozen]
  return hk.data_structures.map(
      lambda module, name, _: not any(p.search(f'{module}/{name}') for p in patterns),
      params)


def freeze(optimizer: optax.GradientTransformation,
           mask: Params) -> optax.GradientTransformation:
  """`optimizer` on the parameters where `mask` is True; zero updates elsewhere."""
  labels = jax.tree_util.tree_map(lambda m: 'trainable' if m else 'frozen', mask)
  return optax.multi_transform({'trainable': optimizer, 'frozen': optax.set_to_zero()},
                               labels)


def count_trainable(mask: Params, params: Params) -> dict[str, Any]:
  """Numbers of trainable and frozen scalars (for the log)."""
  sizes = jax.tree_util.tree_map(lambda m, p: (bool(m), p.size), mask, params)
  flat = jax.tree_util.tree_leaves(sizes, is_leaf=lambda x: isinstance(x, tuple))
  trainable = sum(n for m, n in flat if m)
  return dict(trainable=trainable, frozen=sum(n for _, n in flat) - trainable)
