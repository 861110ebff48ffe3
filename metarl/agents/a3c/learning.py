"""A3C learning: the optimizer (the training state, gradients, updates and fused train step
are those of every gradients-kind agent: `metarl.agents.gradients`)."""

import optax

from metarl.agents.gradients import (  # noqa: F401
    TrainingState,
    init_training_state,
    make_learning_fns,
)
from metarl.agents.optim import scheduled_optimizer


def make_optimizer(agent_config, total_updates: int) -> optax.GradientTransformation:
  """Global-norm clipping of the gradients, then Adam or RMSProp on a schedule.

  Clipping comes first, so it clips gradients (nathanwispinski/meta-rl chained it
  after Adam, clipping updates).
  """
  return optax.chain(optax.clip_by_global_norm(agent_config.max_grad_norm),
                     scheduled_optimizer(agent_config, total_updates))


