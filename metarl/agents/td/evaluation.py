"""Frozen-weight evaluation of value RNNs: Vhat, h(t), RPEs and the true value on fresh
trials, and the MSE of Vhat against the true value."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from metarl.agents.td.losses import td_terms
from metarl.envs.cue_reward import CueReward, Trials
from metarl.networks.value import ValueNetworks
from metarl.types import Array, Params, PRNGKey


class ValueEval(NamedTuple):
  """One seed's network on a batch of trials (batch-major [N, T, ...])."""
  value: Array  # [N, T] Vhat(t)
  hidden: Array  # [N, T, H] h(t)
  rpe: Array  # [N, T] delta(t), 0 where t has no TD target (t >= L-1)
  true_value: Array  # [N, T]


def value_mse(value: Array, true_value: Array, trials: Trials) -> dict[str, Array]:
  """MSE of Vhat against the true value over every non-terminal step of each episode
  (`mse`) and over the steps from its first cue on (`mse_from_cue`)."""
  t = jnp.arange(value.shape[-1])
  scored = t[None, :] < trials.length[:, None] - 1
  from_cue = scored & (t[None, :] >= trials.iti[:, :1])
  err = jnp.square(value - true_value)
  return dict(mse=jnp.sum(jnp.where(scored, err, 0.0)) / scored.sum(),
              mse_from_cue=jnp.sum(jnp.where(from_cue, err, 0.0)) / from_cue.sum())


def make_value_evaluator(env: CueReward, networks: ValueNetworks, gamma: float,
                         num_trials: int):
  """Returns jitted `evaluate(params [S, ...], key) -> (metrics [S], ValueEval [S], trials)`.

  Every seed sees the same `num_trials` trials drawn from `key`.
  """

  def one_seed(params: Params, trials: Trials, true_value: Array):
    terms = td_terms(networks, params, trials, gamma)
    swap = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
    pad = jnp.zeros((1, trials.length.shape[0]))
    result = ValueEval(value=swap(terms.output.value), hidden=swap(terms.output.hidden),
                       rpe=swap(jnp.concatenate([terms.delta, pad])),
                       true_value=true_value)
    return value_mse(result.value, true_value, trials), result

  def evaluate(params: Params, key: PRNGKey):
    trials = env.sample_trials(key, num_trials)
    true_value = env.true_value(trials, gamma)
    metrics, result = jax.vmap(one_seed, in_axes=(0, None, None))(params, trials,
                                                                 true_value)
    return metrics, result, trials

  return jax.jit(evaluate)
