"""Builds an environment from the `config.env` section by name."""

from metarl.envs import bandit
from metarl.envs.base import Environment


def _make_bandit(env_config) -> Environment:
  return bandit.Bandit(
      num_arms=env_config.num_arms,
      reward_structure=env_config.reward_structure,
      trials_per_episode=env_config.trials_per_episode,
      fixed_probs=tuple(env_config.get('fixed_probs', ()) or ()))


_REGISTRY = {'bandit': _make_bandit}
ENV_NAMES = tuple(_REGISTRY)


def make(env_config) -> Environment:
  """Returns the environment named by `env_config.name`, built from its fields."""
  if env_config.name not in _REGISTRY:
    raise ValueError(f'config.env.name must be one of {ENV_NAMES}, got {env_config.name!r}')
  return _REGISTRY[env_config.name](env_config)
