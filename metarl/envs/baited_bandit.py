"""The two-armed baited bandit of Wang, Kurth-Nelson et al. (2018), simulation 1 (after Lau &
Glimcher 2005 and Tsutsui et al. 2016): an arm left alone builds up its chance to pay.

Each episode draws p0(right) from a set of ranges and sets p0(left) = 0.5 - p0(right). On
a trial the chosen arm a pays 1 with probability 1 - (1 - p0(a))^(n(a) + 1), where n(a) is
the number of trials since a was last chosen (0 if it was chosen on the trial before, and
0 for both arms at the episode's start): a bait, once set, waits for the next visit. An
episode lasts a number of trials drawn uniformly from [min_trials, max_trials], not shown
to the agent. The observation is the one-hot previous action and the previous reward (all
zeros on the first trial), as in `metarl.envs.bandit`.

p0(right) sets (`p0_set`): 'train' draws from [0, .1] U [.2, .3] U [.4, .5] (the paper's
training ranges), 'held_out' from [.1, .2] U [.3, .4] (tested only), 'all' from [0, .5];
a range is chosen uniformly, then p0 uniformly inside it.

`max_episode_steps` is max_trials: an evaluation of that many steps holds each copy's
whole first episode and, when it was shorter, the start of the next; `first_episode`
says which steps are the first episode's.

Random stream contract (the numpy reference in tests relies on it): `step` splits its key
into (reward key, reset key); the reward is `uniform(reward key) < p`; `reset` splits its
key into (range key, p0 key, length key): range = randint(range key, 0, K), p0(right) =
low[range] + 0.1 uniform(p0 key), length = randint(length key, min, max + 1).

Config fields (`FIELDS`): p0_set, min_trials, max_trials.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from metarl import config_rules as rules
from metarl.config_rules import ConfigError
from metarl.envs import base
from metarl.envs.registry import register
from metarl.envs.words import Words
from metarl.types import Array, PRNGKey, TimeStep

# The lower ends of each set's p0(right) ranges (each range 0.1 wide).
P0_SETS = {'train': (0.0, 0.2, 0.4), 'held_out': (0.1, 0.3), 'all': (0.0, 0.1, 0.2, 0.3, 0.4)}
RANGE_WIDTH = 0.1
LEFT, RIGHT = 0, 1


@base.env_params
class BaitedParams:
  """Per-copy task settings: the lower ends of the p0(right) ranges drawn from."""
  p0_lows: Array  # [K]


@chex.dataclass(frozen=True)
class BaitedState:
  p0: Array  # [2] base probabilities (left, right) of this episode
  since: Array  # [2] int32, trials since each arm was last chosen
  trial: Array  # int32, trials already played in this episode
  length: Array  # int32, this episode's number of trials


def reward_probability(p0, since):
  """The chance each arm pays now: 1 - (1 - p0)^(since + 1)."""
  return 1.0 - (1.0 - p0) ** (since + 1)


class BaitedBandit(base.Environment):
  """Two arms whose unchosen arm's reward probability builds up; episodes of 50-100 trials."""

  def __init__(self, p0_set: str = 'train', min_trials: int = 50, max_trials: int = 100):
    if p0_set not in P0_SETS:
      raise ValueError(f'p0_set must be one of {tuple(P0_SETS)}, got {p0_set!r}')
    if not 1 <= min_trials <= max_trials:
      raise ValueError(f'need 1 <= min_trials <= max_trials, got {min_trials}, {max_trials}')
    self.p0_set, self.min_trials, self.max_trials = p0_set, min_trials, max_trials

  @property
  def spec(self) -> base.EnvSpec:
    return base.EnvSpec(observation_shape=(3,), num_actions=2)

  @property
  def max_episode_steps(self) -> int:
    return self.max_trials

  def default_params(self) -> BaitedParams:
    return BaitedParams(p0_lows=jnp.asarray(P0_SETS[self.p0_set], jnp.float32))

  def reset(self, key: PRNGKey, params: BaitedParams) -> tuple[BaitedState, TimeStep]:
    range_key, p0_key, length_key = jax.random.split(key, 3)
    low = params.p0_lows[jax.random.randint(range_key, (), 0, params.p0_lows.shape[0])]
    p0_right = low + RANGE_WIDTH * jax.random.uniform(p0_key)
    length = jax.random.randint(length_key, (), self.min_trials, self.max_trials + 1)
    state = BaitedState(p0=jnp.stack([0.5 - p0_right, p0_right]).astype(jnp.float32),
                        since=jnp.zeros(2, jnp.int32), trial=jnp.zeros((), jnp.int32),
                        length=length.astype(jnp.int32))
    return state, base.restart(jnp.zeros(3, jnp.float32))

  def reset_key(self, key: PRNGKey) -> PRNGKey:
    return jax.random.split(key)[1]

  def step_env(self, key: PRNGKey, state: BaitedState, action: Array,
               params: BaitedParams) -> tuple[BaitedState, TimeStep]:
    reward_key, _ = jax.random.split(key)
    p = reward_probability(state.p0, state.since)[action]
    reward = (jax.random.uniform(reward_key) < p).astype(jnp.float32)
    since = jnp.where(jnp.arange(2) == action, 0, state.since + 1).astype(jnp.int32)
    trial = state.trial + 1
    last = trial >= state.length
    observation = jnp.concatenate([jax.nn.one_hot(action, 2, dtype=jnp.float32), reward[None]])
    return BaitedState(p0=state.p0, since=since, trial=trial, length=state.length), TimeStep(
        observation=observation, reward=reward, discount=1.0 - last.astype(jnp.float32),
        first=last, last=last)

  def episode_metrics(self, states: BaitedState, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """Over each copy's first episode ([T, B] from a reset): the mean reward per trial and
    how often the arm of the larger p0 was chosen."""
    mask = first_episode(states.trial).astype(jnp.float32)
    richer = jnp.argmax(states.p0, axis=-1)
    return {'mean_reward_per_trial': (rewards * mask).sum() / mask.sum(),
            'p_richer_arm': ((actions == richer) * mask).sum() / mask.sum()}


def first_episode(trial):
  """[T, B] bool: the steps of each column's first episode (`trial` [T, B] from a reset:
  the trials played before each step; it is 0 again where the next episode starts)."""
  starts = jnp.cumsum((jnp.asarray(trial) == 0).astype(jnp.int32), axis=0)
  return starts == 1


class BaitedWords(Words):
  """Left and right, and what each paid."""

  def intro(self) -> str:
    env = self.env
    return ('Two arms, 0 = left and 1 = right. Each pays 1 with a chance that grows while '
            'you leave it alone: a reward, once set, waits for your next visit. One arm is '
            f'richer than the other, hidden from you and drawn anew every episode of '
            f'{env.min_trials}-{env.max_trials} trials (you are not told how many).')

  def situation(self, step, state, timestep) -> str:
    return f'trial {int(state.trial) + 1}'

  def outcome(self, prev_state, action, timestep) -> str:
    side = 'left' if int(action) == LEFT else 'right'
    return f'{side} paid {int(timestep.reward)}'

  def prompt(self, state) -> str:
    return 'arm [0 = left, 1 = right]'

  def show(self, action) -> str:
    return 'left' if int(action) == LEFT else 'right'


FIELDS = {
    # the ranges p0(right) is drawn from: train [0,.1]U[.2,.3]U[.4,.5], held_out
    # [.1,.2]U[.3,.4], all [0,.5]
    'p0_set': rules.Choice(tuple(P0_SETS), default='train'),
    'min_trials': rules.Int(1, default=50),  # an episode's trials, uniform in [min, max]
    'max_trials': rules.Int(1, default=100),
}


def check(fields) -> None:
  if fields['min_trials'] > fields['max_trials']:
    raise ConfigError('min_trials', fields['min_trials'],
                      f'at most max_trials ({fields["max_trials"]}) is required')


def p0_ranges(p0_set: str) -> list[tuple[float, float]]:
  """The (low, high) ranges of p0(right) a set draws from."""
  return [(low, float(np.round(low + RANGE_WIDTH, 6))) for low in P0_SETS[p0_set]]


register('baited_bandit', BaitedBandit, FIELDS, check, words=BaitedWords)
