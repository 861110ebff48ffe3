"""Analyses of trained agents and of people's play, registered by env name
(`metarl.analysis.registry`); every module of this package is imported here."""

import importlib
import pkgutil

_NOT_ANALYSES = ('registry', 'figures', 'bandit_baselines')
for _module in pkgutil.iter_modules(__path__):
  if _module.name not in _NOT_ANALYSES:
    importlib.import_module(f'{__name__}.{_module.name}')
