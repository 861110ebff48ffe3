"""Functional JAX environments and the registry that builds them from a config.

Every module of this package is imported here, and each ends by registering its task
(`metarl.envs.registry.register`): a new task is one module dropped into this folder.
"""

import importlib
import pkgutil

from metarl.envs.base import Environment, EnvSpec, batch_params
from metarl.envs.registry import ENVS, make, register

_NOT_TASKS = ('base', 'registry', 'words')
for _module in pkgutil.iter_modules(__path__):
  if _module.name not in _NOT_TASKS:
    importlib.import_module(f'{__name__}.{_module.name}')

__all__ = ['ENVS', 'EnvSpec', 'Environment', 'batch_params', 'make', 'register']
