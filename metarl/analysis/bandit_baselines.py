"""Classic bandit algorithms as yardsticks for meta-learned agents, in JAX.

Each baseline plays one episode on given arm probabilities; `run_baseline` vmaps it over
episodes. Regret is expected regret, sum_t max(p) - p[a_t], so every method is scored on the
same probabilities without reward-draw noise in the yardstick itself.

  thompson: Thompson sampling with Beta(1, 1) priors (Thompson 1933).
  ucb1:     each arm once, then argmax mean + sqrt(2 ln t / n) (Auer et al. 2002).
  random:   uniform choice.
  oracle:   always the best arm (regret 0; reward per trial = E[max p]).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from metarl.envs.bandit import cumulative_regret
from metarl.types import Array, PRNGKey

BASELINES = ('thompson', 'ucb1', 'random', 'oracle')


class BaselineCounts(NamedTuple):
  successes: Array  # [N]
  failures: Array  # [N]
  t: Array  # trials played


def _choose(name: str, key: PRNGKey, counts: BaselineCounts, probs: Array) -> Array:
  n = probs.shape[-1]
  if name == 'thompson':
    theta = jax.random.beta(key, counts.successes + 1.0, counts.failures + 1.0)
    return jnp.argmax(theta)
  if name == 'ucb1':
    pulls = counts.successes + counts.failures
    mean = counts.successes / jnp.maximum(pulls, 1.0)
    bonus = jnp.sqrt(2.0 * jnp.log(jnp.maximum(counts.t, 1.0)) / jnp.maximum(pulls, 1.0))
    untried = pulls == 0
    return jnp.where(untried.any(), jnp.argmax(untried), jnp.argmax(mean + bonus))
  if name == 'random':
    return jax.random.randint(key, (), 0, n)
  if name == 'oracle':
    return jnp.argmax(probs)
  raise ValueError(f'baseline must be one of {BASELINES}, got {name!r}')


def play_episode(name: str, key: PRNGKey, probs: Array, num_trials: int):
  """One episode of a baseline on arm probabilities `probs` [N].

  Returns:
    (actions [T] int32, rewards [T] float32).
  """
  n = probs.shape[-1]

  def trial(counts, key):
    choose_key, reward_key = jax.random.split(key)
    a = _choose(name, choose_key, counts, probs).astype(jnp.int32)
    r = (jax.random.uniform(reward_key) < probs[a]).astype(jnp.float32)
    hit = jax.nn.one_hot(a, n)
    counts = BaselineCounts(successes=counts.successes + hit * r,
                            failures=counts.failures + hit * (1.0 - r), t=counts.t + 1.0)
    return counts, (a, r)

  init = BaselineCounts(jnp.zeros(n), jnp.zeros(n), jnp.zeros(()))
  _, (actions, rewards) = jax.lax.scan(trial, init, jax.random.split(key, num_trials))
  return actions, rewards


def run_baseline(name: str, key: PRNGKey, probs: Array, num_trials: int):
  """Plays `name` on every episode of `probs` [E, N].

  Returns:
    (actions [E, T], rewards [E, T], regret [E, T] per-trial expected regret).
  """
  keys = jax.random.split(key, probs.shape[0])
  actions, rewards = jax.jit(jax.vmap(play_episode, in_axes=(None, 0, 0, None)),
                             static_argnums=(0, 3))(name, keys, probs, num_trials)
  regret = cumulative_regret(probs[:, None, :], actions)
  return actions, rewards, regret
