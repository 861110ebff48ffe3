"""Transports between the manager and its children: one protocol (`launch.backends.base`),
one line per implementation in `BACKENDS`.

  'mp':  spawned processes on this machine (`launch.backends.mp`).
  'ray': Ray actors on a local Ray instance or an existing cluster
         (`launch.backends.ray_backend`; needs requirements-ray.txt).
"""

import importlib
from typing import NamedTuple

from launch.backends.base import Backend, ChildContext, ChildFailed
from launch.backends.mp import MPBackend


class BackendEntry(NamedTuple):
  module: str  # the module that implements it
  cls: str  # its Backend class
  sweep: str  # 'module:executor' that runs a sweep's whole runs (launch/sweep.py)
  requires: str | None = None  # a package it needs, checked before a run starts
  install: str = ''  # how to get that package
  # 'module:function' that checks config.launch before anything starts (raises ConfigError)
  check: str = ''


# The backends' table: `config.launch.backend` names one of these.
BACKENDS = {
    'mp': BackendEntry('launch.backends.mp', 'MPBackend', sweep='launch.sweep:LOCAL'),
    'ray': BackendEntry('launch.backends.ray_backend', 'RayBackend', sweep='launch.sweep_ray:RAY',
                        requires='ray', install='pip install -r requirements-ray.txt',
                        check='launch.backends.ray_instance:check_launch'),
}

__all__ = ['BACKENDS', 'Backend', 'ChildContext', 'ChildFailed', 'MPBackend', 'check_launch',
           'make_backend']


def check_launch(launch) -> None:
  """The named backend's own check of a launch section (every field, checked), if it has
  one."""
  entry = BACKENDS[launch.backend]
  if entry.check:
    module, function = entry.check.split(':')
    getattr(importlib.import_module(module), function)(launch)


def make_backend(launch):
  """The backend named by `launch.backend` (a run's launch settings, validated: one of
  `BACKENDS`), built with them."""
  entry = BACKENDS[launch.backend]
  return getattr(importlib.import_module(entry.module), entry.cls)(launch)
