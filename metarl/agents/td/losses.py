"""Semi-gradient TD(0) for value RNNs on padded, masked trials (value-rnn-td).

For a trial of length L, every step t = 0..L-2 has a TD error
    delta(t) = r(t+1) + gamma * d(t+1) * Vhat(t+1) - Vhat(t),
with the target not differentiated (rlax.td_learning) and d(t+1) = 0 when t+1 is the trial's
final, terminal step. The loss is the mean of delta(t)^2 over these steps of the whole batch.
Padding (t >= L) and the terminal step itself never enter the loss, the gradients or the
metrics: they are selected away with `jnp.where`, so even huge padded values cannot leak in.

value-rnn-td differentiated through the target too (a residual-gradient method, not TD); SPEC's
semi-gradient form is what is implemented here.
"""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import rlax

from metarl.envs.cue_reward import Trials
from metarl.networks.value import ValueNetworks, ValueOutput
from metarl.types import Array, Params


class TDTerms(NamedTuple):
  """Per-step quantities of a batch of trials, time-major [T-1, B] unless said."""
  delta: Array  # TD error of step t (0 where not a TD step)
  td_mask: Array  # bool: step t has a TD target (t <= L-2)
  output: ValueOutput  # [T, B] network output on every step


def unroll_trials(networks: ValueNetworks, params: Params, trials: Trials) -> ValueOutput:
  """Runs the value RNN over a batch of trials from the zero state, time-major [T, B]."""
  obs = jnp.swapaxes(trials.observations, 0, 1)
  num_steps, batch = obs.shape[:2]
  first = jnp.zeros((num_steps, batch), bool).at[0].set(True)
  output, _ = networks.unroll(params, obs, first, networks.initial_state(batch))
  return output


def td_terms(networks: ValueNetworks, params: Params, trials: Trials,
             gamma: float) -> TDTerms:
  """The TD errors of every step of a batch of trials."""
  output = unroll_trials(networks, params, trials)
  value = output.value  # [T, B]
  num_steps = value.shape[0]
  t = jnp.arange(num_steps - 1)[:, None]
  length = trials.length[None, :]
  td_mask = t + 1 <= length - 1  # step t has a successor inside the trial
  discount_t = jnp.where(t + 1 < length - 1, gamma, 0.0).astype(jnp.float32)
  r_t = jnp.swapaxes(trials.rewards, 0, 1)[1:]
  v_tm1, v_t = value[:-1], value[1:]
  # Select before any arithmetic, so nothing from padding reaches the loss or gradients.
  r_t = jnp.where(td_mask, r_t, 0.0)
  v_t = jnp.where(td_mask, v_t, 0.0)
  td = jax.vmap(jax.vmap(rlax.td_learning))
  delta = jnp.where(td_mask, td(v_tm1, r_t, discount_t, v_t), 0.0)
  return TDTerms(delta=delta, td_mask=td_mask, output=output)


def assert_trials(trials: Trials) -> None:
  """chex checks of a batch of N padded episodes of T steps: observations [N, T, D],
  rewards [N, T] float, mask [N, T] bool, length [N] int."""
  chex.assert_rank([trials.observations, trials.rewards, trials.mask, trials.length],
                   [3, 2, 2, 1])
  chex.assert_equal_shape([trials.rewards, trials.mask])
  chex.assert_equal_shape_prefix([trials.observations, trials.rewards], 2)
  chex.assert_shape(trials.length, trials.rewards.shape[:1])
  chex.assert_type([trials.rewards, trials.mask, trials.length], [float, bool, int])


def make_loss(networks: ValueNetworks, gamma: float):
  """Returns `loss_fn(params, trials) -> (loss, metrics)` (mean squared TD error)."""

  def loss_fn(params: Params, trials: Trials) -> tuple[Array, dict[str, Array]]:
    assert_trials(trials)
    terms = td_terms(networks, params, trials, gamma)
    num = jnp.maximum(terms.td_mask.sum(), 1)
    loss = jnp.sum(jnp.square(terms.delta)) / num
    v_tm1 = jnp.where(terms.td_mask, terms.output.value[:-1], 0.0)
    metrics = dict(td_loss=loss, mean_abs_delta=jnp.sum(jnp.abs(terms.delta)) / num,
                   mean_value=jnp.sum(v_tm1) / num,
                   env_steps=trials.mask.sum().astype(jnp.float32))
    return loss, metrics

  return loss_fn
