"""Checkpoints of a run (`run_dir/checkpoints/ckpt_<env steps>.pickle`) and its final
params (`params.pickle`), each in one layout whatever the agent.

Each checkpoint is one pickle written atomically (temp file + `os.replace`), so a file with
the checkpoint name is always complete; the newest `keep` are kept. Array state is stored as
the list of its numpy leaves and put back into the structure of a freshly built state
(`restore_tree`), so a checkpoint holds no pickled JAX or Haiku classes and a mismatch
(another network, another number of envs) is caught with the field named.
"""

import os
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import ml_collections
import numpy as np

from metarl import io

CHECKPOINT_DIR = 'checkpoints'
_NAME = re.compile(r'^ckpt_(\d+)\.pickle$')
# The layout of a checkpoint's payload (launch/checkpointing.py); 2 stored the trainers' arrays
# and counters by hook, 1 had one layout per agent.
CHECKPOINT_SCHEMA = 3
REQUIRED = ('env_steps', 'updates', 'parts', 'config')


def directory(run_dir: str) -> str:
  return os.path.join(run_dir, CHECKPOINT_DIR)


def list_checkpoints(run_dir: str) -> list[str]:
  """Complete checkpoints of `run_dir`, oldest first."""
  folder = directory(run_dir)
  if not os.path.isdir(folder):
    return []
  found = [(int(m.group(1)), name) for name in os.listdir(folder)
           if (m := _NAME.match(name))]
  return [os.path.join(folder, name) for _, name in sorted(found)]


def latest(run_dir: str) -> str | None:
  paths = list_checkpoints(run_dir)
  return paths[-1] if paths else None


def save(run_dir: str, payload: dict[str, Any], keep: int) -> str:
  """Writes `payload` (with 'env_steps') as the newest checkpoint; drops all but `keep`."""
  os.makedirs(directory(run_dir), exist_ok=True)
  path = os.path.join(directory(run_dir), f'ckpt_{int(payload["env_steps"]):015d}.pickle')
  io.save_pickle(path, payload)
  for old in list_checkpoints(run_dir)[:-keep]:
    os.unlink(old)
  return path


def load(path: str) -> dict[str, Any]:
  """A checkpoint's payload; `io.RunFileError` (one line) if it is not a readable one."""
  payload = io.load_pickle(path)
  if not isinstance(payload, dict):
    raise io.RunFileError(f'{path}: not a metarl checkpoint (not a dict)')
  if payload.get('schema', 1) != CHECKPOINT_SCHEMA:
    raise io.RunFileError(f'{path}: a checkpoint of another metarl (layout '
                          f'{payload.get("schema", 1)!r}, this one reads {CHECKPOINT_SCHEMA}): '
                          'resume it with the metarl that wrote it, or start the run again')
  missing = [k for k in REQUIRED if k not in payload]
  if missing or not isinstance(payload['parts'], dict):
    raise io.RunFileError(f'{path}: not a metarl checkpoint (no {", ".join(missing)})'
                          if missing else f'{path}: not a metarl checkpoint (parts is not a '
                          'dict)')
  return payload


def load_for_resume(run_dir: str, agent: str) -> tuple[str, dict[str, Any]]:
  """The newest checkpoint of `run_dir` and its payload, to resume an `agent` run; the temp
  files of writes a killed run never finished are deleted. `io.RunFileError` (one line) if
  there is none, it cannot be read or it is another agent's."""
  path = latest(run_dir)
  if path is None:
    raise io.RunFileError(f'{run_dir}: no checkpoint to resume from')
  payload = load(path)
  if payload.get('agent') != agent:
    raise io.RunFileError(f'{path}: a checkpoint of the {payload.get("agent")!r} agent '
                          f'cannot resume a {agent!r} run')
  io.remove_stale_temp_files(run_dir)
  return path, payload


def tree_leaves(tree: Any) -> list[np.ndarray]:
  """The numpy leaves of a pytree of arrays (what a checkpoint stores)."""
  return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(tree))]


def restore_tree(template: Any, leaves: list[np.ndarray], what: str, path: str) -> Any:
  """`template`'s structure filled with the stored `leaves` (same shapes and dtypes)."""
  ref = jax.tree_util.tree_leaves(template)
  shapes = [(np.shape(x), np.asarray(x).dtype) for x in ref]
  got = [(np.shape(x), np.asarray(x).dtype) for x in leaves]
  if shapes != got:
    raise io.RunFileError(f'{path}: its {what} does not fit this config ({len(got)} arrays '
                          f'vs {len(shapes)} expected, or other shapes): resume with the '
                          'config the run was started with (files of a metarl whose '
                          "networks differ, such as rsac's before its GRU layers became "
                          "PyTorch's and RLtools' cell, cannot be resumed)")
  treedef = jax.tree_util.tree_structure(template)
  return jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(x) for x in leaves])


# params.pickle ----------------------------------------------------------------------------

PARAMS_SCHEMA = 2  # version 1 had one layout per agent
PARAMS_KEYS = ('schema', 'agent', 'config', 'env_steps', 'updates', 'seeds', 'seed_axis',
               'params', 'extra')


class SavedParams(NamedTuple):
  """What params.pickle holds (one layout for every agent).

  Attributes:
    agent: the agent's registered name.
    config: the training run's config.
    env_steps, updates: how far training went (the furthest seed's, for several).
    seeds: the run's seeds, in the order of the params' seed axis.
    seed_axis: whether every params leaf has a leading axis over `seeds`.
    params: the agent's params (numpy leaves; the agent's own structure).
    extra: what the agent's trainer kind adds (e.g. td's env steps per seed).
    path: the file read.
  """
  agent: str
  config: ml_collections.ConfigDict
  env_steps: int
  updates: int
  seeds: list[int]
  seed_axis: bool
  params: Any
  extra: dict[str, Any]
  path: str


def save_params(path: str, agent: str, config, env_steps: int, updates: int, params: Any,
                seeds: Sequence[int], seed_axis: bool = False,
                extra: dict[str, Any] | None = None) -> None:
  """Writes params.pickle atomically (numpy leaves, no JAX or Haiku classes)."""
  io.save_pickle(path, dict(
      schema=PARAMS_SCHEMA, agent=agent, config=io.config_to_dict(config),
      env_steps=int(env_steps), updates=int(updates), seeds=[int(s) for s in seeds],
      seed_axis=bool(seed_axis), params=io.to_numpy(params), extra=dict(extra or {})))


def with_new_defaults(agent: str, config: ml_collections.ConfigDict) -> None:
  """Gives the fields the agent gained since `config` was saved their defaults (each new
  field's default keeps what the code did before it, e.g. a3c's normalize_advantages), so
  params of an older run build the same agent; an unknown agent is left alone."""
  from metarl.agents import registry  # the agents import this module's callers, not it
  if agent not in registry.AGENTS:
    return
  for section, fields in registry.AGENTS.get(agent).fields.items():
    if not isinstance(config.get(section), ml_collections.ConfigDict):
      continue
    for field, rule in fields.items():
      if field not in config[section]:
        config[section][field] = rule.default


def load_params(path: str) -> SavedParams:
  """Reads a params.pickle; `io.RunFileError` (one line) if it is not one of this layout."""
  payload = io.load_pickle(path, required_keys=('params', 'agent', 'config'))
  if payload.get('schema') != PARAMS_SCHEMA:
    raise io.RunFileError(f'{path}: params of an older metarl (layout '
                          f'{payload.get("schema", 1)}, this one reads {PARAMS_SCHEMA}): '
                          'train again, or evaluate them with the version that wrote them')
  missing = [k for k in PARAMS_KEYS if k not in payload]
  if missing:
    raise io.RunFileError(f'{path}: not a metarl params file (no {", ".join(missing)})')
  try:
    config = ml_collections.ConfigDict(payload['config'])
  except Exception as e:
    raise io.RunFileError(f'{path}: its config cannot be read ({e})') from e
  with_new_defaults(payload['agent'], config)
  return SavedParams(agent=payload['agent'], config=config,
                     env_steps=int(payload['env_steps']), updates=int(payload['updates']),
                     seeds=list(payload['seeds']), seed_axis=bool(payload['seed_axis']),
                     params=payload['params'], extra=dict(payload['extra']), path=path)


def check_init_params(saved: SavedParams, agent: str, init, num_seeds: int) -> None:
  """Saved params that can start a run of `agent` with `num_seeds` seeds: that agent's,
  fitting the network `init` builds (`check_fit`), with a leading axis of 1 seed (shared by
  all) or `num_seeds`. `io.RunFileError` (one line) otherwise."""
  if saved.agent != agent:
    raise io.RunFileError(f'{saved.path}: params of the {saved.agent!r} agent cannot start a '
                          f'{agent} run')
  seeds = check_fit(saved.params, init, saved.path, seed_axis=True)
  if seeds not in (1, num_seeds):
    raise io.RunFileError(f'{saved.path}: it holds {seeds} seeds: config.num_seeds must be '
                          f'{seeds} (or the file must hold 1 seed, shared by all)')


def check_fit(params: Any, init, path: str, seed_axis: bool = False) -> int | None:
  """Checks that saved `params` have the structure, shapes and dtypes that `init(key)` (the
  network their config builds) gives, with one leading seed axis if `seed_axis`.

  Returns:
    The number of seeds along that axis (None without one).

  Raises:
    io.RunFileError: one line naming the first parameter that differs.
  """
  template = jax.eval_shape(init, jax.random.PRNGKey(0))
  want = {jax.tree_util.keystr(k): (tuple(v.shape), np.dtype(v.dtype))
          for k, v in jax.tree_util.tree_flatten_with_path(template)[0]}
  try:
    got = {jax.tree_util.keystr(k): (np.shape(v), np.asarray(v).dtype)
           for k, v in jax.tree_util.tree_flatten_with_path(params)[0]}
  except Exception as e:  # not a tree of arrays
    raise io.RunFileError(f'{path}: its params are not a tree of arrays ({e})') from e
  hint = ("(the file's params and the network its config describes differ: was the config "
          'edited, or are they from another run?)')
  if set(want) != set(got):
    name = sorted(set(want) ^ set(got))[0]
    where = 'the params' if name in got else 'the network'
    raise io.RunFileError(f'{path}: parameter {name} is in {where} only {hint}')
  seeds = set()
  for name, (shape, dtype) in want.items():
    saved_shape, saved_dtype = got[name]
    if seed_axis:
      seeds.add(saved_shape[0] if saved_shape else None)
      saved_shape = saved_shape[1:]
    if saved_shape != shape or saved_dtype != dtype:
      expected = f'(seeds,) + {shape}' if seed_axis else f'{shape}'
      raise io.RunFileError(f'{path}: parameter {name} is {saved_dtype} of shape '
                            f'{got[name][0]}, the network\'s is {dtype} of shape {expected} '
                            f'{hint}')
  if not seed_axis:
    return None
  if len(seeds) != 1 or None in seeds:
    raise io.RunFileError(f'{path}: its params do not share one leading seed axis')
  return seeds.pop()
