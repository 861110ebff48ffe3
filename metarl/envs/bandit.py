"""Meta-RL Bernoulli bandits (Wang et al. 2016, "Learning to reinforcement learn";
Wang et al. 2018, "Prefrontal cortex as a meta-reinforcement learning system").

An episode is `trials_per_episode` pulls of one of N arms whose win probabilities are drawn
at the episode start and hidden from the agent. The observation is the one-hot previous action
and the previous reward (all zeros on the first trial), so an agent can only do well by
learning, within the episode, which arm pays. With `observe_trial` it also holds the trials
already played over `trials_per_episode` (0 on the first trial): how much of the episode is
left, which the Bayes-optimal player's choices depend on (it explores less as the end
nears), without the agent having to count.

Arm-probability distributions (`reward_structure`):
  independent: p_i ~ U(0, 1) for each arm.
  correlated:  p_1 ~ U(0, 1), p_2 = 1 - p_1 (Wang 2016's dependent arms; 2 arms only).
  normalized:  u ~ U(0, 1)^N, p = u / sum(u) (what nathanwispinski/meta-rl's code called
               "correlated").
  fixed:       p = params.fixed_probs (evaluation grids; vmap over params for many episodes).

Random stream contract (the numpy reference in tests relies on it): `step` splits its key
into (reward key, reset key); the reward is `uniform(reward key) < p[action]`; `reset` draws
the probabilities from its own key.

Config fields (`FIELDS`): num_arms, reward_structure, trials_per_episode, fixed_probs,
observe_trial.
"""


import chex
import jax
import jax.numpy as jnp

from metarl import config_rules as rules
from metarl.config_rules import ConfigError
from metarl.envs import base
from metarl.envs.registry import register
from metarl.envs.words import Words
from metarl.types import Array, PRNGKey, TimeStep

REWARD_STRUCTURES = ('independent', 'correlated', 'normalized', 'fixed')


@base.env_params
class BanditParams:
  """Per-copy task settings: the probabilities used by the `fixed` structure."""
  fixed_probs: Array  # [num_arms]


@chex.dataclass(frozen=True)
class BanditState:
  probs: Array  # [num_arms] win probability of each arm this episode
  trial: Array  # int32, trials already played in this episode


class Bandit(base.Environment):
  """N-armed Bernoulli bandit with a new arm distribution every episode."""

  def __init__(self, num_arms: int = 2, reward_structure: str = 'independent',
               trials_per_episode: int = 100, fixed_probs=(), observe_trial: bool = False):
    if reward_structure not in REWARD_STRUCTURES:
      raise ValueError(f'reward_structure must be one of {REWARD_STRUCTURES}, '
                       f'got {reward_structure!r}')
    if reward_structure == 'correlated' and num_arms != 2:
      raise ValueError('the correlated reward structure has exactly 2 arms')
    self.num_arms = num_arms
    self.reward_structure = reward_structure
    self.trials_per_episode = trials_per_episode
    self.observe_trial = bool(observe_trial)
    if fixed_probs is None or len(fixed_probs) == 0:
      fixed_probs = jnp.full((num_arms,), 0.5)
    self._fixed_probs = jnp.asarray(fixed_probs, jnp.float32)
    chex.assert_shape(self._fixed_probs, (num_arms,))

  @property
  def spec(self) -> base.EnvSpec:
    return base.EnvSpec(observation_shape=(self.num_arms + 1 + self.observe_trial,),
                        num_actions=self.num_arms)

  @property
  def max_episode_steps(self) -> int:
    return self.trials_per_episode

  @property
  def reward_slot(self) -> tuple[int, float]:
    """(observation entry, factor): entry x factor is the previous reward."""
    return self.num_arms, 1.0

  def default_params(self) -> BanditParams:
    return BanditParams(fixed_probs=self._fixed_probs)

  def sample_probs(self, key: PRNGKey, params: BanditParams) -> Array:
    """Draws one episode's arm probabilities from the configured structure."""
    n = self.num_arms
    if self.reward_structure == 'independent':
      return jax.random.uniform(key, (n,))
    if self.reward_structure == 'correlated':
      p1 = jax.random.uniform(key, ())
      return jnp.stack([p1, 1.0 - p1])
    if self.reward_structure == 'normalized':
      u = jax.random.uniform(key, (n,))
      return u / jnp.sum(u)
    return params.fixed_probs.astype(jnp.float32)

  def reset(self, key: PRNGKey, params: BanditParams) -> tuple[BanditState, TimeStep]:
    state = BanditState(probs=self.sample_probs(key, params),
                        trial=jnp.zeros((), jnp.int32))
    timestep = TimeStep(
        observation=jnp.zeros(self.spec.observation_shape, jnp.float32),
        reward=jnp.zeros((), jnp.float32),
        discount=jnp.ones((), jnp.float32),
        first=jnp.ones((), bool),
        last=jnp.zeros((), bool))
    return state, timestep

  def reset_key(self, key: PRNGKey) -> PRNGKey:
    return jax.random.split(key)[1]

  def step_env(self, key: PRNGKey, state: BanditState, action: Array,
               params: BanditParams) -> tuple[BanditState, TimeStep]:
    reward_key, _ = jax.random.split(key)
    reward = (jax.random.uniform(reward_key) < state.probs[action]).astype(jnp.float32)
    trial = state.trial + 1
    last = trial >= self.trials_per_episode
    parts = [jax.nn.one_hot(action, self.num_arms, dtype=jnp.float32), reward[None]]
    if self.observe_trial:  # the trial about to be played, as a fraction of the episode
      parts.append((trial / self.trials_per_episode).astype(jnp.float32)[None])
    observation = jnp.concatenate(parts)
    return BanditState(probs=state.probs, trial=trial), TimeStep(
        observation=observation, reward=reward, discount=1.0 - last.astype(jnp.float32),
        first=last, last=last)

  def episode_metrics(self, states: BanditState, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """Mean reward per trial and mean cumulative (expected) regret per episode.

    regret_t = max(p) - p[a_t]; summed over the trials of an episode, averaged over
    episodes. `states`, `actions` and `rewards` are [T, B] over whole episodes.
    """
    regret = cumulative_regret(states.probs, actions)  # [T, B]
    num_episodes = actions.size / self.trials_per_episode
    return {
        'mean_reward_per_trial': rewards.mean(),
        'mean_cumulative_regret': regret.sum() / num_episodes,
    }


def cumulative_regret(probs: Array, actions: Array) -> Array:
  """Per-step expected regret max(p) - p[a] for probs [..., N] and actions [...]."""
  chosen = jnp.take_along_axis(probs, actions[..., None].astype(jnp.int32), axis=-1)
  return probs.max(axis=-1) - chosen[..., 0]


class BanditWords(Words):
  """Arms, payouts and trials."""

  def intro(self) -> str:
    env = self.env
    return (f'{env.num_arms}-armed bandit: each arm pays 1 with its own probability, hidden '
            f'from you and drawn anew for every episode ({env.reward_structure}). '
            f'{env.trials_per_episode} trials per episode: find the better arm and use it.')

  def situation(self, step, state, timestep) -> str:
    return f'trial {step + 1}/{self.env.trials_per_episode}'

  def outcome(self, prev_state, action, timestep) -> str:
    return f'arm {int(action)} paid {int(timestep.reward)}'

  def prompt(self, state) -> str:
    return f'arm [0-{self.env.num_arms - 1}]'

  def show(self, action) -> str:
    return f'arm {int(action)}'


FIELDS = {
    'num_arms': rules.Int(2, default=2),
    'reward_structure': rules.Choice(REWARD_STRUCTURES, default='independent'),
    'trials_per_episode': rules.Int(1, default=100),
    'fixed_probs': rules.ListOf(
        lambda p: rules.is_real(p) and 0 <= p <= 1,
        "probabilities must lie in [0, 1] (one per arm; empty unless reward_structure is "
        "'fixed')", default=(), none_ok=True),
    # the observation also holds trials played / trials_per_episode (time left to exploit)
    'observe_trial': rules.Bool(default=False),
}


def check(fields) -> None:
  arms, structure = fields['num_arms'], fields['reward_structure']
  if structure == 'correlated' and arms != 2:
    raise ConfigError('num_arms', arms, "the 'correlated' reward structure has exactly 2 arms")
  probs = tuple(fields['fixed_probs'] or ())
  if structure == 'fixed' and len(probs) != arms:
    raise ConfigError('fixed_probs', probs,
                      f"reward_structure 'fixed' needs one probability per arm ({arms})")
  if probs and len(probs) != arms:
    raise ConfigError('fixed_probs', probs, f'one probability per arm ({arms}), or none '
                      f"(they are read with reward_structure 'fixed' only)")


register('bandit', Bandit, FIELDS, check, words=BanditWords)
