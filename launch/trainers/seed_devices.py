"""Seeds trained side by side in one process, split over this process's CPU devices (main.py
exposes one per core: `metarl.xla_setup.expose_cpu_cores`): what the trainer kinds that
vmap seeds share (env steps: gradients and replay; epochs: seeds).

A run's states carry a leading seed axis; `SeedDevices.spread` splits it over the devices
and `SeedDevices.over_seeds` makes a jitted call of every seed run each device's share in a
thread of its own. With one seed, one device, or off the CPU, both leave things as they are.
"""

import concurrent.futures
from typing import Any

import jax
import numpy as np
from absl import logging

SEED = jax.sharding.PartitionSpec('seed')  # a leading seed axis, split over the mesh
SHARED = jax.sharding.PartitionSpec()  # the same value for every seed


def seed_mesh(num_seeds: int) -> jax.sharding.Mesh | None:
  """A mesh over as many of this process's CPU devices as divide `num_seeds` (main.py
  exposes one per core: `metarl.xla_setup.expose_cpu_cores`), or None (one seed, one
  device, or not on CPU)."""
  if num_seeds < 2 or jax.default_backend() != 'cpu':
    return None
  devices = jax.local_devices()
  k = max(d for d in range(1, len(devices) + 1) if num_seeds % d == 0)
  if k < 2:
    return None
  logging.info('%d seeds spread over %d CPU devices', num_seeds, k)
  return jax.sharding.Mesh(np.array(devices[:k]), ('seed',))


def uneven_shares(num_seeds: int) -> list[tuple[Any, int, int]] | None:
  """(device, first seed, end) for each CPU device when no mesh divides the seeds evenly
  but several devices can share them (3 seeds on 2 cores: 2 + 1), else None."""
  if num_seeds < 2 or jax.default_backend() != 'cpu':
    return None
  devices = jax.local_devices()[:num_seeds]
  if len(devices) < 2 or seed_mesh(num_seeds) is not None:
    return None
  bounds = np.linspace(0, num_seeds, len(devices) + 1).round().astype(int)
  shares = [(d, int(a), int(b)) for d, a, b in zip(devices, bounds[:-1], bounds[1:],
                                                   strict=True)]
  logging.info('%d seeds spread over %d CPU devices (%s)', num_seeds, len(devices),
               ' + '.join(str(b - a) for _, a, b in shares))
  return shares


class SeedDevices:
  """The devices a run's seeds are split over, and the calls that use them."""

  def __init__(self, num_seeds: int):
    self.mesh = seed_mesh(num_seeds)
    self.split = (None if self.mesh is None else  # the seed axis over the mesh
                  jax.sharding.NamedSharding(self.mesh, SEED))
    # seeds no mesh divides: each device's share sliced off and gathered back per call
    self.uneven = uneven_shares(num_seeds) if self.mesh is None else None
    self.threads = None  # the calls of `over_seeds`, one thread per device

  def spread(self, tree):
    """`tree` (leading seed axis) split over the devices of the seed mesh, where the calls
    of `over_seeds` expect it. Unchanged without a mesh."""
    return tree if self.split is None else jax.device_put(tree, self.split)

  def over_seeds(self, fn, in_specs, vmapped: bool = True):
    """A call of `fn` on every seed, each device of the seed mesh computing its share of the
    seeds in a thread of its own (one SPMD program over the mesh kept the recurrent SAC
    call on about one core); the outputs are split over the devices as `spread` splits.
    Seeds that no mesh divides (3 on 2 cores) are shared out unevenly (`uneven_shares`):
    each call slices each device's share off, and gathers the outputs back on the first
    device.

    Args:
      fn: jitted; `vmapped`: a function of the whole seed axis (vmapped), called once per
        device on its share; else a function of one seed, called once per seed (vmapping
        turns a `lax.cond` whose predicate differs per seed into computing both branches:
        recurrent SAC's interval and warm-up conds would double its work).
      in_specs: SEED or SHARED per argument.
    """
    split, uneven = self.split, self.uneven
    if split is None and uneven is None and vmapped:
      return fn
    if split is not None:
      devices = list(self.mesh.devices.flat)
    elif uneven is not None:
      devices = [device for device, _, _ in uneven]
    else:
      devices = [jax.local_devices()[0]]
    if self.threads is None:
      self.threads = concurrent.futures.ThreadPoolExecutor(len(devices),
                                                            thread_name_prefix='seeds')

    def shares(tree, spec):  # [the tree on each device]
      if spec is SHARED:
        return [jax.device_put(tree, device) for device in devices]
      if uneven is not None:  # the seeds [a, b) of each device, copied onto it
        return [jax.device_put(jax.tree_util.tree_map(lambda x, a=a, b=b: x[a:b], tree),
                               device) for device, a, b in uneven]
      if split is None:
        return [tree]
      leaves, treedef = jax.tree_util.tree_flatten(tree)
      found = [{s.device: s.data for s in jax.device_put(x, split).addressable_shards}
               for x in leaves]
      return [treedef.unflatten([f[device] for f in found]) for device in devices]

    def one_by_one(*args):  # one device's seeds, a call each
      count = jax.tree_util.tree_leaves(
          [a for a, spec in zip(args, in_specs, strict=True) if spec is SEED])[0].shape[0]
      outs = [fn(*[a if spec is SHARED else jax.tree_util.tree_map(lambda x, i=i: x[i], a)
                   for a, spec in zip(args, in_specs, strict=True)]) for i in range(count)]
      return jax.tree_util.tree_map(lambda *xs: jax.numpy.stack(xs), *outs)

    run = fn if vmapped else one_by_one

    def call(*args):
      # every share taken before any call runs: a call may donate (delete) its inputs
      per_device = list(zip(*[shares(a, spec) for a, spec in zip(args, in_specs, strict=True)],
                            strict=True))
      parts = list(self.threads.map(lambda a: jax.block_until_ready(run(*a)), per_device))
      if uneven is not None:  # gathered on the first device, as an unsplit run holds them
        return jax.tree_util.tree_map(
            lambda *xs: jax.numpy.concatenate([jax.device_put(x, devices[0]) for x in xs]),
            *parts)
      if split is None:
        return parts[0]
      return jax.tree_util.tree_map(
          lambda *xs: jax.make_array_from_single_device_arrays(
              (sum(x.shape[0] for x in xs),) + xs[0].shape[1:], split, list(xs)), *parts)
    return call
