"""A run's checkpoints, in one payload whatever the trainer kind:

  agent, config, schema, env_steps, updates    what and how far
  parts    {name: what that part's `save()` gave}: the trainer's parts (its schedule, its
           logs, a curriculum, a learner's state, a replay ...) each save and restore
           themselves (`Part`)

A checkpoint of another layout (an older metarl's) is refused in one line.
"""

import time
from typing import Any, Protocol

from absl import logging

from launch import run_folder
from metarl import checkpoint as checkpoint_lib
from metarl import io


class Part(Protocol):
  """A piece of a trainer's state that a checkpoint holds."""

  def save(self) -> Any:
    """Plain Python values and numpy arrays (no classes of JAX, Haiku or metarl)."""

  def restore(self, saved: Any, path: str) -> None:
    """Goes on from `save()`'s value, or raises `io.RunFileError` naming `path`."""


class RunCheckpointer:
  """Writes and reads a run's checkpoints (`metarl.checkpoint`) with the payload above."""

  def __init__(self, config, settings):
    """`config`: the run's (a checkpoint stores it; a resume compares it); `settings`: its
    run fields (`launch.settings`: run_dir, checkpoint_every, keep_checkpoints)."""
    self._config, self._settings = config, settings
    self.every = settings.checkpoint_every or None  # None: no checkpoints
    self.good: str | None = None  # the newest one written while nothing was skipped

  def save(self, env_steps: int, updates: int, parts: dict[str, Part], clean: bool) -> str:
    """Writes the newest checkpoint: the position and each part's `save()`; `clean`: no update
    was being skipped (a run that diverges names the last clean one)."""
    payload = dict(agent=self._config.agent.name, schema=checkpoint_lib.CHECKPOINT_SCHEMA,
                   config=io.config_to_dict(self._config), env_steps=env_steps,
                   updates=updates, parts={name: part.save() for name, part in parts.items()})
    start = time.time()
    path = checkpoint_lib.save(self._settings.run_dir, payload,
                               self._settings.keep_checkpoints)
    if clean:
      self.good = path
    logging.info('checkpoint at %d env steps: %s (%.3fs)', env_steps, path,
                 time.time() - start)
    return path

  def load_newest(self, parts: dict[str, Part]) -> tuple[str, dict[str, Any]]:
    """Restores `parts` from the newest checkpoint of this run; returns its path and payload.
    `io.RunFileError`, one line, if there is none, it is unreadable, another agent's, of
    another layout or other parts, or of a config that differs in more than
    `run_folder.MAY_CHANGE_ON_RESUME`."""
    path, payload = checkpoint_lib.load_for_resume(self._settings.run_dir,
                                                   self._config.agent.name)
    if not isinstance(payload['config'], dict):
      raise io.RunFileError(f'{path}: not a metarl checkpoint (its config is not a dict)')
    run_folder.check_same_run(payload['config'], self._config.agent.name, self._config, path)
    if set(payload['parts']) != set(parts):
      raise io.RunFileError(f'{path}: holds the parts {sorted(payload["parts"])}, a '
                            f'{self._config.agent.name} run of this config has {sorted(parts)}')
    for name, part in parts.items():
      part.restore(payload['parts'][name], path)
    return path, payload
