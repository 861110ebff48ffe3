"""Play mode: a person plays a task in the terminal, recorded as the agent's evaluation is.

`play(config)` (configs/play.py, `mode='play'`) builds the environment named by
`config.env.name` (its unset fields from the task's default training config), then for each
of `config.num_episodes` episodes shows the observation and the last reward in words that fit
the task, reads an action per step, and steps the same jitted, functional environment the
agents train on. Every step is appended to play_log.csv as it is played. At the end (or on
`q`, end of input or Ctrl-C) the whole episodes go through the analysis the agent's
evaluation uses (`metarl.analysis.registry.analyze_played`), so a person's regret or stay
probabilities land in the same files, with the same columns, as an agent's.
"""

import math
import os
import runpy
import sys
from typing import Any, Callable, Dict, Optional, TextIO

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from metarl import envs
from metarl.envs.base import Environment
from metarl.io import CsvLog, config_to_dict, save_json, timestamped_dir
from metarl.validation import ConfigError, validate_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The training config whose env section gives an env's defaults when played.
DEFAULT_CONFIGS = {'bandit': 'bandit_train', 'two_step': 'two_step_train',
                   'episodic_two_step': 'episodic_two_step_train',
                   'class_query': 'class_query', 'memory': 'memory_sac',
                   'pendulum': 'pendulum_sac', 'cue_reward': 'value_td'}


class Quit(Exception):
  """The player stopped (q, end of input or Ctrl-C)."""


def resolve_env(config) -> ml_collections.ConfigDict:
  """The env section to play: the env's training defaults with the fields `config` sets.

  Raises:
    ConfigError: a set field that the env does not have, or a merged env that is invalid.
  """
  name = config.env.name
  if name in DEFAULT_CONFIGS:
    path = os.path.join(ROOT, 'configs', DEFAULT_CONFIGS[name] + '.py')
    env = ml_collections.ConfigDict(runpy.run_path(path)['get_config']().env.to_dict())
  else:  # an env without a training config here: every field must be set
    env = ml_collections.ConfigDict({'name': name})
  for key, value in config.env.items():
    if value is None or key == 'name':
      continue
    if key not in env and name in DEFAULT_CONFIGS:
      raise ConfigError(f'env.{key}', value, f'a field of the {name} env is required; its '
                        f'fields are {sorted(k for k in env.keys() if k != "name")}')
    env[key] = value
  validate_env(ml_collections.ConfigDict({'env': env}))
  return env


class Words:
  """How a task reads to a person; this generic version shows the raw numbers.

  `situation` describes what a time step shows before the next action, `outcome` what an
  action brought, `prompt` asks for the next action and `parse` reads it.
  """

  def __init__(self, env: Environment):
    self.env = env
    self.spec = env.spec

  def intro(self) -> str:
    if self.spec.num_actions:
      return f'Actions are integers 0 to {self.spec.num_actions - 1}.'
    return f'Actions are {self.spec.action_dim} number(s) from -1 to 1, separated by spaces.'

  def situation(self, step: int, state, timestep) -> str:
    del state
    obs = ' '.join(f'{x:.3g}' for x in np.ravel(timestep.observation))
    return f'step {step + 1}/{self.env.max_episode_steps}: observation [{obs}]'

  def outcome(self, prev_state, action, timestep) -> str:
    del prev_state
    return f'{self.show(action)}: reward {float(timestep.reward):.3g}'

  def prompt(self, state) -> str:
    del state
    if self.spec.num_actions:
      return f'action [0-{self.spec.num_actions - 1}]'
    return f'action ({self.spec.action_dim} number(s) in [-1, 1])'

  def show(self, action) -> str:
    if self.spec.num_actions:
      return f'action {int(action)}'
    return 'action ' + ' '.join(f'{x:.3g}' for x in np.ravel(action))

  def default(self, state) -> Optional[Any]:
    """The action of an empty line whatever the last action was (None: the last one)."""
    del state
    return None

  def parse(self, text: str, state) -> Any:
    """The action typed, or ValueError saying what is allowed."""
    del state
    if self.spec.num_actions:
      n = self.spec.num_actions
      try:
        action = int(text)
      except ValueError:
        action = -1
      if not 0 <= action < n:
        raise ValueError(f'type an integer from 0 to {n - 1}')
      return np.int32(action)
    parts = text.replace(',', ' ').split()
    try:
      values = [float(p) for p in parts]
    except ValueError:
      values = []
    if (len(values) != self.spec.action_dim
        or not all(math.isfinite(v) and -1.0 <= v <= 1.0 for v in values)):
      raise ValueError(f'type {self.spec.action_dim} number(s) from -1 to 1')
    return np.asarray(values, np.float32)


class BanditWords(Words):

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


class TwoStepWords(Words):

  def intro(self) -> str:
    p = self.env.default_params()
    common, reward, swap = (float(x) for x in (p.common_prob, p.reward_prob, p.swap_prob))
    return ('Two-step task: in stage 1 (state S0) choose 0 or 1. Choice 0 usually '
            f'(p = {common:g}) leads to stage-2 state S1, choice 1 usually to S2; otherwise '
            'to the other state (an uncommon transition). One stage-2 state pays 1 with '
            f'probability {reward:g}, the other with {1 - reward:g}, and they swap now and '
            f'then (p = {swap:g} per trial). {self.env.trials_per_episode} trials per '
            'episode.')

  def situation(self, step, state, timestep) -> str:
    return f'trial {step + 1}/{self.env.trials_per_episode}: stage 1 (S0)'

  def outcome(self, prev_state, action, timestep) -> str:
    result = jax.device_get(self.env.trial_outcome(prev_state, jnp.asarray(action),
                                                   self.env.default_params()))
    common = 'common' if bool(result.common) else 'uncommon'
    return (f'you chose {int(action)} -> stage 2: state S{int(result.stage2) + 1} ({common} '
            f'transition), reward {int(result.reward)}')

  def prompt(self, state) -> str:
    return 'choice [0: usually S1, 1: usually S2]'

  def show(self, action) -> str:
    return f'choice {int(action)}'


class EpisodicTwoStepWords(TwoStepWords):

  def intro(self) -> str:
    half = self.env.trials_per_episode // 2
    return (super().intro() + f' Every trial shows a context (a bit string). Trials 1-{half} '
            f'are uncued (a new context each); in trials {half + 1}-'
            f'{self.env.trials_per_episode} each context is one seen before, and reaching '
            'the stage-2 state reached then pays what it paid then.')

  def situation(self, step, state, timestep) -> str:
    layout = self.env.layout
    obs = np.asarray(timestep.observation)
    context = ''.join(str(int(b)) for b in obs[layout.read_key])
    seen = 'seen before' if obs[layout.cued] > 0.5 else 'new'
    return f'{super().situation(step, state, timestep)}, context {context} ({seen})'


class ClassQueryWords(Words):

  def intro(self) -> str:
    env, p = self.env, self.env.default_params()
    return (f'Class query: for the first {env.cue_steps} steps x shows the class (-1 or +1) '
            f'plus noise (scale {float(p.noise_scale):g}), then {env.delay} steps show noise '
            'only, then comes the QUERY: answer 0 for class -1, 1 for class +1 (right pays '
            f'{float(p.reward_correct):g}, wrong {float(p.reward_wrong):g}). Before the query '
            'your action is ignored: press Enter.')

  def situation(self, step, state, timestep) -> str:
    length = self.env.cue_steps + int(state.delay) + 1
    if bool(self.env.is_query(state)):
      return f'step {int(state.t) + 1}/{length}: QUERY - which class, -1 or +1?'
    return f'step {int(state.t) + 1}/{length}: x = {float(timestep.observation[0]):+.2f}'

  def outcome(self, prev_state, action, timestep) -> str:
    if not bool(self.env.is_query(prev_state)):
      return ''
    return (f'you answered {2 * int(action) - 1:+d}, the class was {int(prev_state.cls):+d}: '
            f'reward {float(timestep.reward):g}')

  def prompt(self, state) -> str:
    return 'answer [0: -1, 1: +1]' if bool(self.env.is_query(state)) else '(Enter)'

  def default(self, state) -> Optional[Any]:
    return None if bool(self.env.is_query(state)) else np.int32(0)

  def show(self, action) -> str:
    return f'answer {2 * int(action) - 1:+d}'


class MemoryWords(Words):

  def intro(self) -> str:
    env = self.env
    return (f'Memory task: each step shows one new bit. Answer with the fraction of ones among '
            f'the last {env.horizon} bits, the newest included (a number from 0 to 1); the '
            f'reward is -10 x |answer - fraction|. {env.episode_step_limit} steps per episode '
            '(--config.env.episode_step_limit=N for fewer).')

  def situation(self, step, state, timestep) -> str:
    return (f'step {step + 1}/{self.env.episode_step_limit}: new bit '
            f'{int(timestep.observation[0])}')

  def outcome(self, prev_state, action, timestep) -> str:
    truth = int(np.sum(prev_state.window)) / self.env.horizon
    return (f'you answered {float(np.ravel(action)[0]):.2f} (it was {truth:.2f}): reward '
            f'{float(timestep.reward):.2f}')

  def prompt(self, state) -> str:
    return 'fraction of ones [0-1]'


class PendulumWords(Words):

  def intro(self) -> str:
    env = self.env
    seen = ('the angle and the angular velocity' if env.observe_velocity else
            'the angle only (not its velocity)')
    return (f'Pendulum swing-up: you see {seen}. Type a torque from -1 to 1 (x 2 N m; '
            'positive turns the pendulum toward positive angles); bring it upright (angle 0) '
            'and keep it there. The reward is -(angle^2 + 0.1 velocity^2 + 0.001 torque^2), angle in '
            f'radians. {env.episode_step_limit} steps of 0.05 s per episode.')

  def situation(self, step, state, timestep) -> str:
    obs = np.asarray(timestep.observation)
    angle = math.degrees(math.atan2(float(obs[1]), float(obs[0])))
    text = f'step {step + 1}/{self.env.episode_step_limit}: angle {angle:+.0f} deg'
    if self.env.observe_velocity:
      text += f', velocity {float(obs[2]):+.2f} rad/s'
    return text

  def outcome(self, prev_state, action, timestep) -> str:
    return f'torque {float(np.ravel(action)[0]):+.2f}: reward {float(timestep.reward):.2f}'

  def prompt(self, state) -> str:
    return 'torque [-1 to 1]'


WORDS: Dict[str, Callable[[Environment], Words]] = {
    'bandit': BanditWords, 'two_step': TwoStepWords,
    'episodic_two_step': EpisodicTwoStepWords, 'class_query': ClassQueryWords,
    'memory': MemoryWords, 'pendulum': PendulumWords}


def _stack(items):
  return jax.tree_util.tree_map(lambda *x: np.stack(x), *items)


class Terminal:
  """Reads actions from `stdin` and writes to `stdout` (the real terminal by default)."""

  def __init__(self, stdin: TextIO, stdout: TextIO):
    self.stdin, self.stdout = stdin, stdout

  def say(self, text: str) -> None:
    self.stdout.write(text + '\n')
    self.stdout.flush()

  def ask(self, words: Words, state, last_action) -> Any:
    """The next action; raises Quit on q, end of input or Ctrl-C."""
    while True:
      self.stdout.write(f'{words.prompt(state)}> ')
      self.stdout.flush()
      try:
        line = self.stdin.readline()
      except KeyboardInterrupt:
        raise Quit
      if not line or line.strip().lower() in ('q', 'quit', 'exit'):
        raise Quit
      text = line.strip()
      if not text:
        action = words.default(state)
        if action is None:
          action = last_action
        if action is not None:
          return action
        self.say('  type an action (Enter repeats the last one; q stops)')
        continue
      try:
        return words.parse(text, state)
      except ValueError as e:
        self.say(f'  {e} (q stops)')


def play(config, stdin: Optional[TextIO] = None, stdout: Optional[TextIO] = None) -> str:
  """Plays `config.num_episodes` episodes with a person and writes the run folder.

  Returns:
    The folder written.

  Raises:
    ConfigError: an env that cannot be played, or invalid env fields.
  """
  logging.set_verbosity(logging.WARNING)  # the terminal is the player's
  terminal = Terminal(stdin or sys.stdin, stdout or sys.stdout)
  env_config = resolve_env(config)
  env = envs.make(env_config)
  if not env.spec.num_actions and not env.spec.action_dim:
    raise ConfigError('env.name', env_config.name, 'an env with actions is required (this '
                      'one has none to play)')
  if not env.max_episode_steps:
    raise ConfigError('env.name', env_config.name, 'an env with a fixed episode length is '
                      'required to play')
  words = WORDS.get(env_config.name, Words)(env)
  out_dir = config.run_dir or timestamped_dir('runs', f'{config.name}_{env_config.name}')
  os.makedirs(out_dir, exist_ok=True)
  with config.unlocked():
    config.env = env_config
  save_json(os.path.join(out_dir, 'config.json'), config_to_dict(config))
  params = env.default_params()
  reset, step = jax.jit(env.reset), jax.jit(env.step)
  key = jax.random.PRNGKey(config.seed)
  log = CsvLog(os.path.join(out_dir, 'play_log.csv'),
               ['episode', 'step', 'observation', 'action', 'reward'])
  terminal.say(words.intro())
  terminal.say('Enter repeats your last action; q stops (whole episodes are kept).\n')
  episodes = []  # (states, actions, rewards) of each whole episode
  try:
    for episode in range(config.num_episodes):
      key, reset_key = jax.random.split(key)
      state, timestep = jax.device_get(reset(reset_key, params))
      if config.num_episodes > 1:
        terminal.say(f'--- episode {episode + 1}/{config.num_episodes} ---')
      terminal.say(words.situation(0, state, timestep))
      states, actions, rewards, action = [], [], [], None
      for t in range(env.max_episode_steps):
        action = terminal.ask(words, state, action)
        observation = ' '.join(f'{x:.6g}' for x in np.ravel(timestep.observation))
        key, step_key = jax.random.split(key)
        prev_state = state
        state, timestep = jax.device_get(step(step_key, state, jnp.asarray(action), params))
        states.append(prev_state)
        actions.append(np.asarray(action))
        rewards.append(np.float32(timestep.reward))
        log.write(dict(episode=episode, step=t, observation=observation,
                       action=' '.join(f'{x:g}' for x in np.ravel(action)),
                       reward=float(timestep.reward)))
        said = words.outcome(prev_state, action, timestep)
        if said:
          terminal.say(f'  {said} (total {float(sum(rewards)):.4g})')
        if bool(timestep.last):
          break
        terminal.say(words.situation(t + 1, state, timestep))
      terminal.say(f'episode {episode + 1} over: total reward {float(sum(rewards)):.4g}\n')
      episodes.append((_stack(states), np.stack(actions), np.stack(rewards)))
  except (Quit, KeyboardInterrupt):  # Ctrl-C between two questions stops the same way
    terminal.say('\nstopped')
  finally:
    log.close()
  if not episodes:
    terminal.say(f'no whole episode played: nothing to analyse; {out_dir}/play_log.csv '
                 'holds the steps')
    return out_dir
  from metarl.analysis import registry  # matplotlib only now
  lengths = {len(e[2]) for e in episodes}
  if len(lengths) > 1:  # cannot happen with fixed-length envs; keep the first length
    episodes = [e for e in episodes if len(e[2]) == len(episodes[0][2])]
  states = jax.tree_util.tree_map(lambda *x: np.stack(x, axis=1), *[e[0] for e in episodes])
  actions = np.stack([e[1] for e in episodes], axis=1)
  rewards = np.stack([e[2] for e in episodes], axis=1)
  summary = registry.analyze_played(env_config.name, env, states, actions, rewards, out_dir,
                                    seed=config.seed)
  terminal.say(f'{len(episodes)} whole episode(s) analysed into {out_dir}:')
  if env_config.name == 'bandit':
    terminal.say('mean cumulative regret per episode (the baselines played the same arms, '
                 '200 times each):')
  for name, value in summary.items():
    terminal.say(f'  {name}: {value:.4g}' if isinstance(value, float) else
                 f'  {name}: {value}')
  return out_dir
