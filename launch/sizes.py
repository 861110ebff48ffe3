"""How big a run will be, checked before anything starts: its number of processes and a
rough estimate of its memory.

Field rules bound each number on its own (up to 2^31 - 1); together they can still ask for
100,000 processes or hundreds of GB (a 10^6-armed bandit's observations, a torso of 10^5
units), which would fail minutes later, or take the machine down. The estimate counts in
float32: the network's params with their gradients and two optimizer moments, one update's
activations (the steps it learns from, each holding the observation, the actions and every
layer's units, kept for the backward pass) and a replay's contents, per seed. It is rough
(the largest arrays only) and refuses only runs that cannot fit in the machine's memory.
"""

import math
import os

import jax

from metarl.config_rules import ConfigError

BYTES = 4  # float32
WORKERS_PER_CPU = 4
_GIB = 2**30


def physical_memory() -> int:
  """Bytes of memory of this machine."""
  return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def cpus() -> int:
  return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (
      os.cpu_count() or 1)


def _count(tree) -> int:
  return sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree))


def _widths(network) -> int:
  """Units of every layer of a network section: torso, cores (LSTM: 4 gates), heads."""
  sizes = list(network.get('torso_sizes') or ())
  if 'hidden_sizes' in network:  # layers of their own sizes (rsac)
    hidden = list(network.hidden_sizes or ())
  else:  # `core_layers` cores of `hidden_size` units
    hidden = [network.hidden_size] * network.core_layers
  return sum(sizes) + 5 * sum(hidden)


def estimate(config, env, policy) -> dict[str, int]:
  """Bytes per part, keyed by the fields that set them (all seeds together)."""
  seeds = config.num_seeds
  params = _count(jax.eval_shape(policy.init, jax.random.PRNGKey(0)))
  copies = 4 * (4 if 'replay' in config else 1)  # + grads, 2 moments; rsac: twin critic, target
  spec = env.spec
  step = (math.prod(spec.observation_shape) + (spec.num_actions or spec.action_dim or 0) +
          _widths(config.network) + 4)
  agent = config.agent
  if 'num_envs' in agent and 'unroll_length' in agent:
    steps, batch = agent.num_envs * agent.unroll_length, 'agent.num_envs'
    if 'replay' in config:
      steps = agent.batch_size * config.replay.sequence_length
      batch = 'agent.batch_size'
  else:
    steps, batch = agent.batch_size * (env.max_episode_steps or 1), 'agent.batch_size'
  parts = {'network': params * copies * BYTES * seeds,
           batch: 3 * steps * step * BYTES * seeds}
  if 'replay' in config:
    parts['replay.capacity'] = config.replay.capacity * (
        math.prod(spec.observation_shape) + (spec.action_dim or 1) + 4) * BYTES * seeds
  return parts


def check(config, env, policy) -> None:
  """`ConfigError` if the run would start more than WORKERS_PER_CPU processes per CPU
  (unless `launch.oversubscribe`) or needs more memory than the machine has."""
  launch = config.launch
  workers = launch.num_workers
  limit = WORKERS_PER_CPU * cpus()
  if workers > limit and not launch.oversubscribe:
    raise ConfigError('launch.num_workers', workers, f'at most {limit} ({WORKERS_PER_CPU} x '
                      f'the {cpus()} CPUs here) is allowed; set launch.oversubscribe=True '
                      'for more (e.g. a Ray cluster with more CPUs than this machine)')
  if policy.init is None:
    return
  parts = estimate(config, env, policy)
  total, have = sum(parts.values()), physical_memory()
  if total > have:
    field = max(parts, key=parts.get)
    shown = ', '.join(f'{name} {size / _GIB:,.1f}' for name, size in parts.items())
    value = config.network.to_dict() if field == 'network' else _value(config, field)
    raise ConfigError(field, value, f'the run would need about {total / _GIB:,.0f} GiB '
                      f'({shown} GiB), more than the {have / _GIB:,.0f} GiB of this machine: '
                      'use smaller sizes (env observations, network layers, batches, seeds)')


def _value(config, field: str):
  section, _, name = field.partition('.')
  return config[section][name]
