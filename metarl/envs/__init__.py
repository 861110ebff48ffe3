"""Functional JAX environments and the registry that builds them from a config."""

from metarl.envs.base import Environment, EnvSpec, batch_params
from metarl.envs.registry import ENV_NAMES, make

__all__ = ['EnvSpec', 'Environment', 'batch_params', 'ENV_NAMES', 'make']
