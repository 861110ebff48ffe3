"""Transports between the manager and its children, one interface per backend."""

from launch.backends.mp import ChildContext, ChildFailed, MPBackend

__all__ = ['ChildContext', 'ChildFailed', 'MPBackend', 'make_backend']


def make_backend(config):
  """The backend named by `config.launch.backend`."""
  if config.launch.backend == 'mp':
    return MPBackend(config)
  raise ValueError(f"config.launch.backend must be 'mp', got {config.launch.backend!r}")
