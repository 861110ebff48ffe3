"""Play mode: a person plays a task in the terminal, recorded as the agent's evaluation is.

`play(config)` (configs/play.py, `mode='play'`) builds the environment named by
`config.env.name` (its unset fields from the env's registered defaults), then for each
of `config.num_episodes` episodes shows the observation and the last reward in words that fit
the task, reads an action per step, and steps the same jitted, functional environment the
agents train on. Every step is appended to play_log.csv as it is played. At the end (or on
`q`, end of input or Ctrl-C) the whole episodes go through the analysis the agent's
evaluation uses (`metarl.analysis.registry.analyze_played`), so a person's regret or stay
probabilities land in the same files, with the same columns, as an agent's.
"""

import os
import sys
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from launch.validation import validate_env
from metarl import envs
from metarl.config_rules import ConfigError
from metarl.envs import registry as env_registry
from metarl.envs.words import Words
from metarl.io import CsvLog, config_to_dict, new_timestamped_dir, save_json


class Quit(Exception):
  """The player stopped (q, end of input or Ctrl-C)."""


def resolve_env(config) -> ml_collections.ConfigDict:
  """The env section to play: the env's registered defaults with the fields `config` sets.

  Raises:
    ConfigError: a set field that the env does not have, or a merged env that is invalid.
  """
  name = config.env.name
  env = env_registry.defaults(name)
  for key, value in config.env.items():
    if value is None or key == 'name':
      continue
    if key not in env:
      raise ConfigError(f'env.{key}', value, f'a field of the {name} env is required; its '
                        f'fields are {sorted(k for k in env.keys() if k != "name")}')
    env[key] = value
  validate_env(ml_collections.ConfigDict({'env': env}))
  return env


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
        raise Quit from None
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


def play(config, stdin: TextIO | None = None, stdout: TextIO | None = None) -> str:
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
  words = (env_registry.entry(env_config.name).words or Words)(env)
  out_dir = config.run_dir or new_timestamped_dir('runs', f'{config.name}_{env_config.name}')
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
  note = registry.analysis_for(env_config.name).summary_note
  if note:
    terminal.say(note)
  for name, value in summary.items():
    terminal.say(f'  {name}: {value:.4g}' if isinstance(value, float) else
                 f'  {name}: {value}')
  return out_dir
