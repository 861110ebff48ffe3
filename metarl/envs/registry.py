"""Builds an environment from the `config.env` section by name."""

from metarl.envs import (bandit, class_query, cue_reward, episodic_two_step, memory, pendulum,
                         two_step)
from metarl.envs.base import Environment


def _make_bandit(env_config) -> Environment:
  return bandit.Bandit(
      num_arms=env_config.num_arms,
      reward_structure=env_config.reward_structure,
      trials_per_episode=env_config.trials_per_episode,
      fixed_probs=tuple(env_config.get('fixed_probs', ()) or ()))


def _make_cue_reward(env_config) -> Environment:
  return cue_reward.CueReward(
      cue_delays=tuple(env_config.cue_delays), cue_probs=tuple(env_config.cue_probs or ()),
      iti_distribution=env_config.iti_distribution, iti_p=env_config.iti_p,
      iti_min=env_config.iti_min, iti_max=env_config.iti_max,
      delay_jitter=env_config.delay_jitter, omission_prob=env_config.omission_prob,
      reward_in_observation=env_config.reward_in_observation)


def _make_two_step(env_config) -> Environment:
  return two_step.TwoStep(common_prob=env_config.common_prob,
                          reward_prob=env_config.reward_prob, swap_prob=env_config.swap_prob,
                          trials_per_episode=env_config.trials_per_episode)


def _make_episodic_two_step(env_config) -> Environment:
  return episodic_two_step.EpisodicTwoStep(
      common_prob=env_config.common_prob, reward_prob=env_config.reward_prob,
      swap_prob=env_config.swap_prob, trials_per_episode=env_config.trials_per_episode,
      context_size=env_config.context_size)


def _make_memory(env_config) -> Environment:
  return memory.Memory(horizon=env_config.horizon,
                       input_probability=env_config.input_probability,
                       episode_step_limit=env_config.episode_step_limit)


def _make_pendulum(env_config) -> Environment:
  return pendulum.Pendulum(observe_velocity=env_config.observe_velocity,
                           episode_step_limit=env_config.episode_step_limit)


def _make_class_query(env_config) -> Environment:
  return class_query.ClassQuery(
      cue_steps=env_config.cue_steps, delay=env_config.delay,
      noise_scale=env_config.noise_scale, reward_correct=env_config.reward_correct,
      reward_wrong=env_config.reward_wrong)


_REGISTRY = {'bandit': _make_bandit, 'cue_reward': _make_cue_reward,
             'two_step': _make_two_step, 'episodic_two_step': _make_episodic_two_step,
             'memory': _make_memory, 'pendulum': _make_pendulum,
             'class_query': _make_class_query}
ENV_NAMES = tuple(_REGISTRY)


def make(env_config) -> Environment:
  """Returns the environment named by `env_config.name`, built from its fields."""
  if env_config.name not in _REGISTRY:
    raise ValueError(f'config.env.name must be one of {ENV_NAMES}, got {env_config.name!r}')
  return _REGISTRY[env_config.name](env_config)
