"""Agents: one folder each, registered by name (`metarl.agents.registry`).

Every sub-package here is imported on first use of the registry, and each ends by
registering its `AgentSpec`: a new agent is one folder dropped into this one.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
  if _module.ispkg:
    importlib.import_module(f'{__name__}.{_module.name}')
