"""Parts of a run that a checkpoint holds, each saving and restoring itself
(`launch.checkpointing.Part`): the run's `Schedule`, and `Tree`, an array state a trainer owns
(a learner's, a rollout's, a replay's contents). The logs' part is
`launch.train_metrics.TrainMetrics`, a curriculum's `metarl.curriculum.Curriculum`.
"""

import time
from collections.abc import Callable
from typing import Any

from metarl import checkpoint as checkpoint_lib
from metarl import io


class Schedule:
  """When a run evaluates and checkpoints next, and how long it has run.

  Evaluations are due every `eval_every` units of the run's position (env steps; epochs for
  td), checkpoints every `checkpoint_every` env steps (None: never).
  """

  def __init__(self, eval_every: int, checkpoint_every: int | None):
    self.eval_every, self.checkpoint_every = eval_every, checkpoint_every
    self.next_eval = eval_every
    self.next_checkpoint = checkpoint_every
    self.last_eval_version = -1  # the params version (updates) of the newest evaluation
    self.start_time = time.time()

  def elapsed(self) -> float:
    return time.time() - self.start_time

  def evaluation_due(self, position: int, version: int, final: bool) -> bool:
    """Whether to evaluate the params `version` now (then the schedule moves on): when the
    position reached the next evaluation, or when `final`, unless that version was already
    evaluated."""
    if final and self.last_eval_version == version:
      return False
    if not final and position < self.next_eval:
      return False
    while self.next_eval <= position:
      self.next_eval += self.eval_every
    self.last_eval_version = version
    return True

  def checkpoint_due(self, env_steps: int) -> bool:
    """Whether a checkpoint is due at `env_steps` (then the schedule moves on)."""
    if self.next_checkpoint is None or env_steps < self.next_checkpoint:
      return False
    while self.next_checkpoint <= env_steps:
      self.next_checkpoint += self.checkpoint_every
    return True

  def save(self) -> dict[str, Any]:
    return dict(next_eval=self.next_eval, next_checkpoint=self.next_checkpoint,
                last_eval_version=self.last_eval_version, elapsed=self.elapsed())

  def restore(self, saved: dict[str, Any], path: str) -> None:
    """Goes on where the run stood; a checkpoint cadence the resume changed (or turned on)
    starts from the next multiple after the checkpoint."""
    try:
      next_eval, version = int(saved['next_eval']), int(saved['last_eval_version'])
      elapsed, next_checkpoint = float(saved['elapsed']), saved['next_checkpoint']
    except (KeyError, TypeError, ValueError) as e:
      raise io.RunFileError(f'{path}: its schedule is not one this metarl wrote '
                            f'({type(e).__name__}: {e})') from e
    self.next_eval, self.last_eval_version = next_eval, version
    if self.next_checkpoint is not None:  # checkpoint_every = 0 turns them off
      self.next_checkpoint = next_checkpoint or self.checkpoint_every
    self.start_time = time.time() - elapsed


class Tree:
  """An array state (a pytree) a trainer owns, in `.state`: saved as its numpy leaves, restored
  into the structure of the state it holds then, or of a fresh one from `template()` where it
  holds none. `None` (not made yet, or not kept) is saved as None; a run that does not want
  one (`wanted=False`, e.g. acting in worker processes) keeps None on restore."""

  def __init__(self, what: str, state: Any = None, template: Callable[[], Any] | None = None,
               wanted: bool = True):
    self.what, self.state, self.template, self.wanted = what, state, template, wanted

  def save(self) -> list | None:
    return None if self.state is None else checkpoint_lib.tree_leaves(self.state)

  def restore(self, saved: list | None, path: str) -> None:
    if saved is None:
      if self.template is None:  # a state every checkpoint of the run holds
        raise io.RunFileError(f'{path}: holds no {self.what}')
      self.state = None
      return
    if not isinstance(saved, list):
      raise io.RunFileError(f'{path}: its {self.what} is not a list of arrays')
    if not self.wanted:
      self.state = None
      return
    template = self.state if self.state is not None else self.template()
    self.state = checkpoint_lib.restore_tree(template, saved, self.what, path)


class Counters:
  """Counters a trainer keeps as attributes (`names`: ints, or numpy arrays of them), saved as
  they are; `convert(values)` turns restored values back into what the trainer holds, and
  refuses (ValueError) those that do not fit its run."""

  def __init__(self, owner: Any, names: tuple[str, ...],
               convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None):
    self._owner, self._names = owner, names
    self._convert = convert or (lambda values: {k: int(v) for k, v in values.items()})

  def save(self) -> dict[str, Any]:
    return {name: getattr(self._owner, name) for name in self._names}

  def restore(self, saved: dict[str, Any], path: str) -> None:
    try:
      values = self._convert({name: saved[name] for name in self._names})
    except (KeyError, TypeError, ValueError) as e:
      raise io.RunFileError(f'{path}: its counters do not fit this run '
                            f'({type(e).__name__}: {e})') from e
    for name, value in values.items():
      setattr(self._owner, name, value)
