"""Frozen-weight evaluation: whole episodes with the same rollout as training.

The agent acts (sampling from its policy) with fixed params in `num_episodes` copies of the
environment from a reset, for exactly one episode each; the environment's
`episode_metrics` turns the recorded states, actions and rewards into scalars.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from metarl.envs.base import Environment
from metarl.rollout import Actor, Trajectory, make_rollout, with_env_params
from metarl.types import Array, Params, PRNGKey

# The seed of an offline evaluation's episodes (configs/eval.py's `seed`), and of the
# analysis a run writes at its end: that analysis and configs/eval.py on the run's
# params.pickle play the same episodes and write the same tables.
EVAL_SEED = 12345


class EvalResult(NamedTuple):
  metrics: dict[str, Array]
  trajectory: Trajectory  # [T, E]: one whole episode per column, env states recorded


def make_evaluator(env: Environment, actor: Actor, num_episodes: int,
                   env_params: Any | None = None,
                   num_steps: int | None = None) -> Callable[..., EvalResult]:
  """Returns a jitted `evaluate(params, key, env_overrides=None) -> EvalResult`;
  `env_overrides` {field: value} sets `EnvParams` fields (e.g. a curriculum's delay).

  Args:
    env: the environment.
    actor: acting functions (e.g. `make_actor(networks, record=True)` for hidden states).
    num_episodes: E, episodes run side by side.
    env_params: shared or per-episode ([E]-batched) `EnvParams`, e.g. fixed arm
      probabilities to compare the agent and baselines on the same tasks.
    num_steps: steps to run (default: the environment's fixed episode length).
  """
  num_steps = num_steps or env.max_episode_steps
  if not num_steps:
    raise ValueError('this environment has no fixed episode length: pass num_steps')
  rollout = make_rollout(env, actor, num_episodes, num_steps, env_params=env_params,
                         record_env_state=True)

  @jax.jit
  def evaluate(params: Params, key: PRNGKey,
               env_overrides: dict[str, Any] | None = None) -> EvalResult:
    state = rollout.init(key)
    if env_overrides:
      state = rollout.init(key, with_env_params(state.env_params, env_overrides))
    _, trajectory = rollout.unroll(params, state)
    metrics = env.episode_metrics(trajectory.env_state, trajectory.action,
                                  trajectory.reward)
    return EvalResult(metrics=metrics, trajectory=trajectory)

  return evaluate
