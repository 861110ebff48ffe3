"""Optimizers, schedules and the skipping of non-finite updates, shared by the agents."""

import jax
import jax.numpy as jnp
import optax

from metarl import config_rules as rules

SCHEDULES = ('constant', 'linear')
OPTIMIZERS = ('adam', 'rmsprop')

# The fields of `scheduled_optimizer`, for the agents that use it (defaults: each agent's).
OPTIMIZER_FIELDS = {
    'optimizer': rules.Choice(OPTIMIZERS, default='adam'),
    'optimizer_eps': rules.Real(0.0, low_open=True, default=1e-8),
    'learning_rate': rules.Real(0.0, low_open=True, default=3e-4),
    'learning_rate_end': rules.Real(0.0, default=0.0),
    'learning_rate_schedule': rules.Choice(SCHEDULES, default='linear'),
}


def linear_or_constant(start: float, end: float, kind: str,
                       total_updates: int) -> optax.Schedule:
  """A schedule over updates: `constant` (start) or `linear` from start to end."""
  if kind == 'constant':
    return optax.constant_schedule(start)
  if kind == 'linear':
    return optax.linear_schedule(start, end, transition_steps=max(1, total_updates))
  raise ValueError(f"schedule must be 'constant' or 'linear', got {kind!r}")


def scheduled_optimizer(agent_config, total_updates: int) -> optax.GradientTransformation:
  """Adam or RMSProp (`agent_config.optimizer`) with the learning-rate schedule of
  `agent_config` (learning_rate, learning_rate_end, learning_rate_schedule, optimizer_eps).

  The schedule counts optimizer updates, so `linear` reaches its end value exactly at the
  last update (nathanwispinski/meta-rl's reached 0 halfway through training).
  """
  lr = linear_or_constant(agent_config.learning_rate, agent_config.learning_rate_end,
                          agent_config.learning_rate_schedule, total_updates)
  if agent_config.optimizer == 'adam':
    return optax.adam(lr, eps=agent_config.optimizer_eps)
  if agent_config.optimizer == 'rmsprop':
    return optax.rmsprop(lr, decay=0.99, eps=agent_config.optimizer_eps)
  raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {agent_config.optimizer!r}")


def all_finite(*trees) -> jax.Array:
  """True when no leaf of any tree holds a NaN or an Inf (a scalar bool array)."""
  checks = [jnp.all(jnp.isfinite(x)) for tree in trees for x in jax.tree_util.tree_leaves(tree)]
  return jnp.all(jnp.stack(checks)) if checks else jnp.asarray(True)


def keep_if_finite(ok: jax.Array, new, old):
  """`new` where `ok`, else `old`, leaf by leaf: how an update with a NaN or Inf in its loss
  or gradient is skipped (params, optimizer state and step stay as they were)."""
  return jax.tree_util.tree_map(lambda n, o: jnp.where(ok, n, o), new, old)


def next_bad_streak(ok: jax.Array, streak: jax.Array) -> jax.Array:
  """Updates skipped in a row: reset by a good update, one more for a skipped one."""
  return jnp.where(ok, jnp.zeros_like(streak), streak + 1)
