"""Transports between the manager and its children: one interface, two implementations.

  'mp':  spawned processes on this machine (`launch.backends.mp`).
  'ray': Ray actors on a local Ray instance or an existing cluster
         (`launch.backends.ray_backend`; needs requirements-ray.txt).
"""

from launch.backends.mp import ChildContext, ChildFailed, MPBackend

__all__ = ['ChildContext', 'ChildFailed', 'MPBackend', 'make_backend']


def make_backend(config):
  """The backend named by `config.launch.backend`."""
  if config.launch.backend == 'mp':
    return MPBackend(config)
  if config.launch.backend == 'ray':
    from launch.backends.ray_backend import RayBackend
    return RayBackend(config)
  raise ValueError(f"config.launch.backend must be 'mp' or 'ray', got "
                   f'{config.launch.backend!r}')
