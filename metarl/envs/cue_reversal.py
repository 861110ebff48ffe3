"""The cue-reversal task of Bromberg-Martin et al. (2010) as Wang, Kurth-Nelson et al. (2018)
simulate it (simulation 3: RPEs that reflect inferred value).

A trial is 4 steps: a fixation screen, one of two cues, a response screen and the outcome
screen. Actions: 0 hold (the valid action on the fixation, cue and outcome screens), 1 left
and 2 right (either is a valid response on the response screen; with `respond_to_cue` only
the cue's side, left after cue 0 and right after cue 1, as a saccade to where the cue
was). A valid response after the rewarded cue pays `reward`, after the other cue
nothing; an invalid action anywhere pays `invalid_reward` (and the trial goes on). The
paper's "episodes" of 5 trials are blocks here: which cue is rewarded is fixed within a
block and switches with `switch_prob` between blocks, and the blocks follow each other
inside one env episode of `blocks_per_episode` blocks, so the network's state carries over
a switch (metarl resets a core at every episode start) and it has to notice the switch
from the outcome.

The observation: [screen one-hot (fixation, cue, response, outcome), cue one-hot (on the
cue screen only), previous action one-hot (3), previous reward] (10 numbers).

Random stream contract (the numpy reference in tests relies on it): `step` splits its key
into (draw key, reset key) and the draw key into (cue key, switch key); a new trial's cue
is randint(cue key, 0, 2); at a new block the rewarded cue switches when
uniform(switch key) < switch_prob. `reset` splits its key into (rewarded key, cue key):
rewarded = randint(rewarded key, 0, 2), cue = randint(cue key, 0, 2).

Config fields (`FIELDS`): trials_per_block, blocks_per_episode, switch_prob, reward,
invalid_reward, cue_stays, respond_to_cue.
"""

import chex
import jax
import jax.numpy as jnp

from metarl import config_rules as rules
from metarl.envs import base
from metarl.envs.registry import register
from metarl.envs.words import Words
from metarl.types import Array, PRNGKey, TimeStep

FIXATION, CUE, RESPONSE, OUTCOME = range(4)
SCREENS = ('fixation', 'cue', 'response', 'outcome')
HOLD, LEFT, RIGHT = range(3)
STEPS_PER_TRIAL = 4


@base.env_params
class CueReversalParams:
  switch_prob: Array  # chance that the rewarded cue switches at a block's start
  reward: Array  # a valid response after the rewarded cue
  invalid_reward: Array  # an invalid action


@chex.dataclass(frozen=True)
class CueReversalState:
  rewarded: Array  # int32, the cue that pays in this block
  switched: Array  # bool, this block's rewarded cue differs from the previous block's
  cue: Array  # int32, this trial's cue
  screen: Array  # int32, FIXATION .. OUTCOME: the screen the coming action answers
  trial: Array  # int32, trials already played in this block
  block: Array  # int32, blocks already played in this episode


class CueReversal(base.Environment):
  """Two cues, one rewarded; the rewarded one switches between blocks of trials."""

  def __init__(self, trials_per_block: int = 5, blocks_per_episode: int = 20,
               switch_prob: float = 0.5, reward: float = 1.0, invalid_reward: float = -1.0,
               cue_stays: bool = False, respond_to_cue: bool = False):
    self.trials_per_block, self.blocks_per_episode = trials_per_block, blocks_per_episode
    self.cue_stays, self.respond_to_cue = cue_stays, respond_to_cue
    self._params = (switch_prob, reward, invalid_reward)

  @property
  def spec(self) -> base.EnvSpec:
    return base.EnvSpec(observation_shape=(10,), num_actions=3)

  @property
  def max_episode_steps(self) -> int:
    return STEPS_PER_TRIAL * self.trials_per_block * self.blocks_per_episode

  def default_params(self) -> CueReversalParams:
    switch, reward, invalid = (jnp.asarray(p, jnp.float32) for p in self._params)
    return CueReversalParams(switch_prob=switch, reward=reward, invalid_reward=invalid)

  def observe(self, screen: Array, cue: Array, action: Array, reward: Array) -> Array:
    """The observation of `screen` after `action` (-1: none yet) paid `reward`."""
    return jnp.concatenate([
        jax.nn.one_hot(screen, 4), jax.nn.one_hot(cue, 2) * self.cue_shown(screen),
        jax.nn.one_hot(action, 3), jnp.asarray(reward, jnp.float32)[None]])

  def cue_shown(self, screen: Array) -> Array:
    """The cue is on the screen: the cue screen, and with `cue_stays` until the outcome."""
    return (screen != FIXATION) if self.cue_stays else (screen == CUE)

  def reset(self, key: PRNGKey, params: CueReversalParams
            ) -> tuple[CueReversalState, TimeStep]:
    rewarded_key, cue_key = jax.random.split(key)
    zero = jnp.zeros((), jnp.int32)
    state = CueReversalState(rewarded=jax.random.randint(rewarded_key, (), 0, 2),
                             switched=jnp.zeros((), bool),
                             cue=jax.random.randint(cue_key, (), 0, 2), screen=zero,
                             trial=zero, block=zero)
    return state, base.restart(self.observe(zero, state.cue, -1, 0.0))

  def reset_key(self, key: PRNGKey) -> PRNGKey:
    return jax.random.split(key)[1]

  def valid(self, screen: Array, action: Array, cue: Array) -> Array:
    """Hold on the fixation, cue and outcome screens; on the response screen left or right,
    or with `respond_to_cue` the side of the cue (left for cue 0, right for cue 1)."""
    response = (action == LEFT + cue) if self.respond_to_cue else (action != HOLD)
    return jnp.where(screen == RESPONSE, response, action == HOLD)

  def step_env(self, key: PRNGKey, state: CueReversalState, action: Array,
               params: CueReversalParams) -> tuple[CueReversalState, TimeStep]:
    draw_key, _ = jax.random.split(key)
    cue_key, switch_key = jax.random.split(draw_key)
    valid = self.valid(state.screen, action, state.cue)
    paid = (state.screen == RESPONSE) & (state.cue == state.rewarded)
    reward = jnp.where(valid, jnp.where(paid, params.reward, 0.0),
                       params.invalid_reward).astype(jnp.float32)
    trial_over = state.screen == OUTCOME
    trial = state.trial + trial_over
    block_over = trial >= self.trials_per_block
    block = state.block + block_over
    switch = block_over & (jax.random.uniform(switch_key) < params.switch_prob)
    next_state = CueReversalState(
        rewarded=jnp.where(switch, 1 - state.rewarded, state.rewarded),
        switched=jnp.where(block_over, switch, state.switched),
        cue=jnp.where(trial_over, jax.random.randint(cue_key, (), 0, 2), state.cue),
        screen=(state.screen + 1) % STEPS_PER_TRIAL,
        trial=jnp.where(block_over, 0, trial), block=block)
    last = block >= self.blocks_per_episode
    observation = self.observe(next_state.screen, next_state.cue, action, reward)
    return next_state, TimeStep(observation=observation, reward=reward,
                                discount=1.0 - last.astype(jnp.float32), first=last,
                                last=last)

  def episode_metrics(self, states: CueReversalState, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """Valid actions, reward per trial and how often the rewarded cue pays."""
    valid = self.valid(states.screen, actions, states.cue)
    return {'valid_actions': valid.mean(),
            'mean_reward_per_trial': rewards.sum() / (rewards.size / STEPS_PER_TRIAL)}


class CueReversalWords(Words):
  """Screens, cues and outcomes in the task's own terms."""

  def intro(self) -> str:
    env = self.env
    response = ('the side of the cue: 1 after A, 2 after B' if env.respond_to_cue else
                'either will do')
    return ('Each trial: a fixation screen (hold: 0), one of two cues, A or B (hold: 0), a '
            f'response screen (left: 1 or right: 2, {response}) and the outcome (hold: '
            '0). One cue pays 1 after the response, the other nothing; a wrong key costs 1. '
            f'Which cue pays stays the same for {env.trials_per_block} trials, then may '
            'switch (half of the time).')

  def situation(self, step, state, timestep) -> str:
    screen = SCREENS[int(state.screen)]
    if int(state.screen) == CUE:
      screen = f'cue {"AB"[int(state.cue)]}'
    return (f'block {int(state.block) + 1}/{self.env.blocks_per_episode}, trial '
            f'{int(state.trial) + 1}/{self.env.trials_per_block}: {screen}')

  def outcome(self, prev_state, action, timestep) -> str:
    reward = float(timestep.reward)
    return f'reward {reward:g}' if reward else ''

  def prompt(self, state) -> str:
    return 'respond [1-2]' if int(state.screen) == RESPONSE else 'hold [0]'


FIELDS = {
    'trials_per_block': rules.Int(1, default=5),  # the paper's 5-trial "episodes"
    'blocks_per_episode': rules.Int(1, default=20),  # blocks the network's state runs over
    'switch_prob': rules.Real(0.0, 1.0, default=0.5),  # the rewarded cue switches, per block
    'reward': rules.Real(default=1.0),  # a valid response after the rewarded cue
    'invalid_reward': rules.Real(default=-1.0),  # an invalid action anywhere
    # False: the cue is shown on the cue screen only; True: until the outcome screen
    'cue_stays': rules.Bool(default=False),
    # False: either side is a valid response; True: the cue's side (cue 0 left, cue 1 right)
    'respond_to_cue': rules.Bool(default=False),
}

register('cue_reversal', CueReversal, FIELDS, words=CueReversalWords)
