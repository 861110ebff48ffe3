"""A two-armed reversal task, written as a new metarl environment (docs/guide.md: "Add an
environment"); in your own work this file is metarl/envs/reversal.py.

Each episode one arm is good: it pays 1 with probability `reward_prob`, the other arm with
1 - reward_prob. At a trial drawn uniformly from 1 .. trials_per_episode - 1 when the
episode starts, the arms swap. The agent sees its previous action (one-hot) and reward
(zeros on the first trial), so it can only follow the reversal through its rewards.

Random stream (the numpy reference in tests/test_examples.py relies on it): `reset` splits
its key into (good-arm key, reversal key); `step` splits its key into (reward key, reset
key) and pays 1 when uniform(reward key) < p[action].
"""

import chex
import jax
import jax.numpy as jnp

from metarl import config_rules as rules
from metarl.envs import base
from metarl.envs.registry import register
from metarl.types import TimeStep


@base.env_params
class ReversalParams:  # numbers that may differ between vmapped copies
  reward_prob: chex.Array  # float32: the good arm's reward probability


@chex.dataclass(frozen=True)
class ReversalState:
  good: chex.Array  # int32: the arm that pays more now
  reversal: chex.Array  # int32: the first trial on which the other arm is good
  trial: chex.Array  # int32: trials played in this episode


class Reversal(base.Environment):
  """Two arms whose reward probabilities swap once per episode."""

  def __init__(self, trials_per_episode: int = 20, reward_prob: float = 0.9):
    self.trials_per_episode = trials_per_episode  # fixes array shapes: not a param
    self.reward_prob = reward_prob

  @property
  def spec(self) -> base.EnvSpec:
    return base.EnvSpec(observation_shape=(3,), num_actions=2)

  @property
  def max_episode_steps(self) -> int:  # evaluation plays whole episodes of this length
    return self.trials_per_episode

  def default_params(self) -> ReversalParams:
    return ReversalParams(reward_prob=jnp.float32(self.reward_prob))

  def reset(self, key, params):
    good_key, reversal_key = jax.random.split(key)
    state = ReversalState(
        good=jax.random.randint(good_key, (), 0, 2),
        reversal=jax.random.randint(reversal_key, (), 1, self.trials_per_episode),
        trial=jnp.zeros((), jnp.int32))
    return state, base.restart(jnp.zeros(3, jnp.float32))

  def reset_key(self, key):  # at an episode's end, `step` resets with this part of its key
    return jax.random.split(key)[1]

  def step_env(self, key, state, action, params):  # `step` adds the auto-reset
    reward_key, _ = jax.random.split(key)
    p = jnp.where(action == state.good, params.reward_prob, 1.0 - params.reward_prob)
    reward = (jax.random.uniform(reward_key) < p).astype(jnp.float32)
    trial = state.trial + 1
    good = jnp.where(trial == state.reversal, 1 - state.good, state.good)
    last = trial >= self.trials_per_episode
    return ReversalState(good=good, reversal=state.reversal, trial=trial), TimeStep(
        observation=jnp.concatenate([jax.nn.one_hot(action, 2), reward[None]]),
        reward=reward, discount=1.0 - last.astype(jnp.float32), first=last, last=last)

  def episode_metrics(self, states, actions, rewards):
    """eval.csv's columns: reward per trial, and how often the good arm was chosen."""
    return {'mean_reward_per_trial': rewards.mean(),
            'good_choice_rate': (actions == states.good).mean()}


# The config fields (`config.env.<field>`, passed to Reversal(...)) with their rules and
# defaults; validation, play and the eval config's placeholders derive from this table.
FIELDS = {
    'trials_per_episode': rules.Int(2, default=20),
    'reward_prob': rules.Real(0.0, 1.0, default=0.9),
}

register('reversal', Reversal, FIELDS)
