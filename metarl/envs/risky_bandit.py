"""The safe / risky choice task of Stopper et al. (2014) as Wang, Kurth-Nelson et al. (2018)
simulate it (simulation 6).

Two arms: the safe one pays 1 on every pull, the risky one pays 4 with probability p (0.125
or 0.5, drawn per episode) and 0 otherwise; which side is risky is drawn per episode (the
sides swap with probability 0.5). An episode begins with `forced_trials` forced pulls of
each arm in a random order, then `free_trials` free choices (5 + 5 + 20 = 30 trials). On a
forced trial only one arm is there: whatever the agent picks, that arm is pulled (the
observation's previous action shows the arm pulled). The observation is the one-hot arm
pulled on the previous trial, its reward / 4 (0 on the first trial) and which arms are
there on the trial about to be played: [a0, a1, reward / 4, arm 0 there, arm 1 there].

Random stream contract (the numpy reference in tests relies on it): `step` splits its key
into (reward key, reset key); the risky arm pays when uniform(reward key) < p; `reset`
splits its key into (side key, p key, order key): risky side = randint(0, 2), p =
RISKY_PROBS[randint(p key, 0, 2)] (risky_prob 'both') and the forced order =
permutation(order key, [0] * forced + [1] * forced).

Config fields (`FIELDS`): risky_prob, forced_trials, free_trials.
"""

import chex
import jax
import jax.numpy as jnp

from metarl import config_rules as rules
from metarl.envs import base
from metarl.envs.registry import register
from metarl.envs.words import Words
from metarl.types import Array, PRNGKey, TimeStep

RISKY_PROBS = (0.125, 0.5)
RISKY_REWARD, SAFE_REWARD = 4.0, 1.0
RISKY_PROB_CHOICES = ('both', '0.125', '0.5')


@base.env_params
class RiskyParams:
  """Per-copy task settings: the risky arm's probabilities an episode draws from."""
  risky_probs: Array  # [K]


@chex.dataclass(frozen=True)
class RiskyState:
  risky_side: Array  # int32, the risky arm this episode
  p: Array  # float32, its chance to pay 4
  forced: Array  # [2 * forced_trials] int32, the arm of each forced trial in order
  trial: Array  # int32, trials already played in this episode


class RiskyBandit(base.Environment):
  """Safe 1 against risky 4 with probability p; forced pulls, then free choices."""

  def __init__(self, risky_prob: str = 'both', forced_trials: int = 5, free_trials: int = 20):
    if risky_prob not in RISKY_PROB_CHOICES:
      raise ValueError(f'risky_prob must be one of {RISKY_PROB_CHOICES}, got {risky_prob!r}')
    self.risky_prob, self.forced_trials, self.free_trials = (risky_prob, forced_trials,
                                                             free_trials)
    self.trials = 2 * forced_trials + free_trials

  @property
  def spec(self) -> base.EnvSpec:
    return base.EnvSpec(observation_shape=(5,), num_actions=2)

  @property
  def reward_slot(self) -> tuple[int, float]:
    """(observation entry, factor): entry x factor is the previous reward."""
    return 2, RISKY_REWARD

  @property
  def max_episode_steps(self) -> int:
    return self.trials

  def default_params(self) -> RiskyParams:
    probs = RISKY_PROBS if self.risky_prob == 'both' else (float(self.risky_prob),)
    return RiskyParams(risky_probs=jnp.asarray(probs, jnp.float32))

  def available(self, forced, trial) -> Array:
    """[2]: which arms are there on trial `trial` (both once the forced trials are over)."""
    n = 2 * self.forced_trials
    arm = forced[jnp.minimum(trial, n - 1)] if n else 0
    one = jax.nn.one_hot(arm, 2, dtype=jnp.float32)
    return jnp.where(trial < n, one, jnp.ones(2, jnp.float32))

  def reset(self, key: PRNGKey, params: RiskyParams) -> tuple[RiskyState, TimeStep]:
    side_key, p_key, order_key = jax.random.split(key, 3)
    forced = jax.random.permutation(order_key, jnp.repeat(jnp.arange(2, dtype=jnp.int32),
                                                          self.forced_trials))
    p = params.risky_probs[jax.random.randint(p_key, (), 0, params.risky_probs.shape[0])]
    state = RiskyState(risky_side=jax.random.randint(side_key, (), 0, 2).astype(jnp.int32),
                       p=p.astype(jnp.float32), forced=forced,
                       trial=jnp.zeros((), jnp.int32))
    return state, base.restart(jnp.concatenate([jnp.zeros(3, jnp.float32),
                                                self.available(forced, 0)]))

  def reset_key(self, key: PRNGKey) -> PRNGKey:
    return jax.random.split(key)[1]

  def pulled(self, state: RiskyState, action: Array) -> Array:
    """The arm pulled: the forced one on a forced trial, else the agent's choice."""
    n = 2 * self.forced_trials
    if not n:
      return action
    return jnp.where(state.trial < n, state.forced[jnp.minimum(state.trial, n - 1)], action)

  def step_env(self, key: PRNGKey, state: RiskyState, action: Array,
               params: RiskyParams) -> tuple[RiskyState, TimeStep]:
    reward_key, _ = jax.random.split(key)
    arm = self.pulled(state, action)
    risky_paid = jax.random.uniform(reward_key) < state.p
    reward = jnp.where(arm == state.risky_side, jnp.where(risky_paid, RISKY_REWARD, 0.0),
                       SAFE_REWARD).astype(jnp.float32)
    trial = state.trial + 1
    last = trial >= self.trials
    observation = jnp.concatenate([jax.nn.one_hot(arm, 2, dtype=jnp.float32),
                                   (reward / RISKY_REWARD)[None],
                                   self.available(state.forced, trial)])
    return RiskyState(risky_side=state.risky_side, p=state.p, forced=state.forced,
                      trial=trial), TimeStep(
        observation=observation, reward=reward, discount=1.0 - last.astype(jnp.float32),
        first=last, last=last)

  def episode_metrics(self, states: RiskyState, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """On the free trials: how often the risky arm was chosen, overall and when it pays
    with each probability; the mean reward per trial of the whole episode."""
    free = states.trial >= 2 * self.forced_trials
    risky = (actions == states.risky_side) & free
    out = {'mean_reward_per_trial': rewards.mean(),
           'p_risky': risky.sum() / jnp.maximum(free.sum(), 1)}
    for p in RISKY_PROBS:
      at = free & jnp.isclose(states.p, p)
      out[f'p_risky_at_{p:g}'] = (risky & at).sum() / jnp.maximum(at.sum(), 1)
    return out


class RiskyWords(Words):
  """Safe and risky arms, forced and free trials."""

  def intro(self) -> str:
    env = self.env
    return ('Two arms, 0 and 1. One is safe and always pays 1; the other is risky and pays 4 '
            'or nothing. Which side is which, and how often the risky one pays, is drawn '
            f'anew every episode. The first {2 * env.forced_trials} trials offer one arm '
            f'only (whatever you pick, that arm is pulled); then {env.free_trials} free '
            'choices.')

  def situation(self, step, state, timestep) -> str:
    there = [i for i, x in enumerate(timestep.observation[3:]) if x > 0]
    what = 'free choice' if len(there) == 2 else f'forced: only arm {there[0]}'
    return f'trial {int(state.trial) + 1}/{self.env.trials} ({what})'

  def outcome(self, prev_state, action, timestep) -> str:
    arm = int(self.env.pulled(prev_state, action))
    return f'arm {arm} paid {float(timestep.reward):g}'

  def prompt(self, state) -> str:
    return 'arm [0-1]'


FIELDS = {
    # the risky arm's chance to pay 4: both (0.125 or 0.5, drawn per episode) or one of them
    'risky_prob': rules.Choice(RISKY_PROB_CHOICES, default='both'),
    'forced_trials': rules.Int(0, default=5),  # forced pulls of each arm, in a random order
    'free_trials': rules.Int(1, default=20),
}


register('risky_bandit', RiskyBandit, FIELDS, words=RiskyWords)
