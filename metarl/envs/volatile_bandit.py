"""The two-armed task of Behrens et al. (2007) as Wang, Kurth-Nelson et al. (2018) simulate
it (simulation 2): reward probabilities r and 1 - r whose volatility changes, and a reward
size for each arm shown on every trial.

Each trial shows a size for each arm, 100 x Beta(4, 4) points (observed as size / 100);
the chosen arm pays its size (as size / 100) with its probability, else 0. Arm 1 pays with
probability r and arm 0 with 1 - r. Which arm is the better one flips with probability v
after each trial.

Schedules (`schedule`):
  train            200-trial episodes; v switches between 0 (stable) and 0.2 (volatile)
                   with probability k after each trial, log k ~ U(-4.5, -3.5) drawn per
                   episode; stable: r is 0.25 or 0.75, volatile: r is 0 or 1 (the better
                   arm always pays); the first phase is stable or volatile at random.
  stable_first     test: 100 stable trials at 0.75 / 0.25 (the better arm fixed), then 100
                   volatile trials at 0.8 / 0.2 whose better arm swaps every 25 trials.
  volatile_first   test: the same phases in the other order.
The better arm at the start is drawn at random in every schedule.

The observation is the one-hot previous action, the previous reward (0 on the first trial)
and the two sizes of the trial about to be played: [a0, a1, reward, size0, size1].

Random stream contract (the numpy reference in tests relies on it): `step` splits its key
into (reward key, flip key, switch key, size key, reset key); the reward is paid when
uniform(reward key) < p[action]; the better arm flips when uniform(flip key) < v (train);
the phase switches when uniform(switch key) < k (train); the next sizes are
beta(size key, 4, 4, [2]). `reset` splits its key into (better key, phase key, k key,
size key): better = randint(0, 2), volatile = uniform < 0.5 (train), log k = -4.5 +
uniform(k key), the sizes beta(size key, 4, 4, [2]).

Config fields (`FIELDS`): schedule, trials_per_episode (train only; the test schedules are
200 trials).
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

SCHEDULES = ('train', 'stable_first', 'volatile_first')
VOLATILE_V = 0.2  # flips per trial in a volatile training phase
TEST_PHASE = 100  # trials in each phase of a test episode
TEST_SWAP_EVERY = 25  # the volatile test phase's better arm swaps this often
STABLE_P, VOLATILE_P = 0.75, 1.0  # training: the better arm's probability
TEST_STABLE_P, TEST_VOLATILE_P = 0.75, 0.8


@base.env_params
class VolatileParams:
  """Per-copy task settings: the flip probability of a volatile training phase."""
  volatile_v: Array


@chex.dataclass(frozen=True)
class VolatileState:
  better: Array  # int32, the arm with the larger probability now
  volatile: Array  # bool, the phase
  k: Array  # float32, this episode's phase-switch probability (train)
  sizes: Array  # [2] float32, the sizes (/ 100) of the trial about to be played
  trial: Array  # int32, trials already played in this episode


class VolatileBandit(base.Environment):
  """Behrens et al.'s task: volatility that changes, reward sizes that are shown."""

  def __init__(self, schedule: str = 'train', trials_per_episode: int = 200):
    if schedule not in SCHEDULES:
      raise ValueError(f'schedule must be one of {SCHEDULES}, got {schedule!r}')
    self.schedule = schedule
    self.trials = trials_per_episode if schedule == 'train' else 2 * TEST_PHASE

  @property
  def spec(self) -> base.EnvSpec:
    return base.EnvSpec(observation_shape=(5,), num_actions=2)

  @property
  def max_episode_steps(self) -> int:
    return self.trials

  def default_params(self) -> VolatileParams:
    return VolatileParams(volatile_v=jnp.asarray(VOLATILE_V, jnp.float32))

  def reset(self, key: PRNGKey, params: VolatileParams) -> tuple[VolatileState, TimeStep]:
    better_key, phase_key, k_key, size_key = jax.random.split(key, 4)
    volatile = (jax.random.uniform(phase_key) < 0.5 if self.schedule == 'train'
                else jnp.asarray(self.schedule == 'volatile_first'))
    sizes = jax.random.beta(size_key, 4.0, 4.0, (2,)).astype(jnp.float32)
    state = VolatileState(better=jax.random.randint(better_key, (), 0, 2).astype(jnp.int32),
                          volatile=volatile,
                          k=jnp.exp(-4.5 + jax.random.uniform(k_key)).astype(jnp.float32),
                          sizes=sizes, trial=jnp.zeros((), jnp.int32))
    return state, base.restart(jnp.concatenate([jnp.zeros(3, jnp.float32), sizes]))

  def reset_key(self, key: PRNGKey) -> PRNGKey:
    return jax.random.split(key, 5)[4]

  def probabilities(self, state: VolatileState) -> Array:
    """[2]: each arm's chance to pay now."""
    if self.schedule == 'train':
      high = jnp.where(state.volatile, VOLATILE_P, STABLE_P)
    else:
      high = jnp.where(state.volatile, TEST_VOLATILE_P, TEST_STABLE_P)
    return jnp.where(jnp.arange(2) == state.better, high, 1.0 - high).astype(jnp.float32)

  def step_env(self, key: PRNGKey, state: VolatileState, action: Array,
               params: VolatileParams) -> tuple[VolatileState, TimeStep]:
    reward_key, flip_key, switch_key, size_key, _ = jax.random.split(key, 5)
    paid = jax.random.uniform(reward_key) < self.probabilities(state)[action]
    reward = jnp.where(paid, state.sizes[action], 0.0).astype(jnp.float32)
    trial = state.trial + 1
    if self.schedule == 'train':
      v = jnp.where(state.volatile, params.volatile_v, 0.0)
      flip = jax.random.uniform(flip_key) < v
      volatile = jnp.where(jax.random.uniform(switch_key) < state.k, ~state.volatile,
                           state.volatile)
    else:  # the phase changes half way; the volatile phase swaps every 25 trials
      volatile = (trial >= TEST_PHASE) != (self.schedule == 'volatile_first')
      start = jnp.where(self.schedule == 'volatile_first', 0, TEST_PHASE)
      flip = (state.volatile & volatile & (trial > start) &
              ((trial - start) % TEST_SWAP_EVERY == 0))
    better = jnp.where(flip, 1 - state.better, state.better).astype(jnp.int32)
    sizes = jax.random.beta(size_key, 4.0, 4.0, (2,)).astype(jnp.float32)
    last = trial >= self.trials
    observation = jnp.concatenate([jax.nn.one_hot(action, 2, dtype=jnp.float32),
                                   reward[None], sizes])
    return VolatileState(better=better, volatile=volatile, k=state.k, sizes=sizes,
                         trial=trial), TimeStep(
        observation=observation, reward=reward, discount=1.0 - last.astype(jnp.float32),
        first=last, last=last)

  def episode_metrics(self, states: VolatileState, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """The mean reward per trial (size / 100 when paid) and how often the better arm was
    chosen."""
    return {'mean_reward_per_trial': rewards.mean(),
            'p_better_arm': (actions == states.better).mean()}


class VolatileWords(Words):
  """Sizes, outcomes and the trial."""

  def intro(self) -> str:
    return ('Two arms, 0 and 1. One of them is more likely to pay than the other, and which '
            'one that is changes, sometimes often and sometimes not for a long while. '
            'Each trial shows what each arm would pay (in points); the chosen arm pays '
            f'that or nothing. {self.env.trials} trials per episode.')

  def situation(self, step, state, timestep) -> str:
    sizes = [round(100 * float(s)) for s in state.sizes]
    return f'trial {int(state.trial) + 1}/{self.env.trials}: arm 0 offers {sizes[0]}, ' \
           f'arm 1 offers {sizes[1]}'

  def outcome(self, prev_state, action, timestep) -> str:
    return f'arm {int(action)} paid {round(100 * float(timestep.reward))}'

  def prompt(self, state) -> str:
    return 'arm [0-1]'


FIELDS = {
    # train: volatility that switches (Wang 2018); stable_first / volatile_first: the tests
    'schedule': rules.Choice(SCHEDULES, default='train'),
    'trials_per_episode': rules.Int(1, default=200),  # train only (tests: 200)
}


def check(fields) -> None:
  if fields['schedule'] != 'train' and fields['trials_per_episode'] != 2 * TEST_PHASE:
    raise ConfigError('trials_per_episode', fields['trials_per_episode'],
                      f'the test schedules have {2 * TEST_PHASE} trials: use '
                      f'{2 * TEST_PHASE} with schedule {fields["schedule"]!r}')


register('volatile_bandit', VolatileBandit, FIELDS, check, words=VolatileWords)
