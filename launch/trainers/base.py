"""The run skeleton, written once for every trainer kind.

A `Trainer` owns one training run in the manager process: its counters, logs, progress line,
checkpoints, evaluation schedule, children (workers and an evaluator, through a backend) and
the try / except / finally that ends every run the same way:

  finished      train.csv flushed, params.pickle, the final evaluation, a final checkpoint
  Ctrl-C, kill  (signals take effect between compiled calls or messages) params.pickle and
                a final checkpoint, children stopped, KeyboardInterrupt
  a child fails past launch.max_restarts: params.pickle, a final checkpoint, `ChildFailed`
  diverged      max_bad_updates skipped updates in a row: params.pickle (the last
                good params), `TrainingDiverged` naming the last clean checkpoint

A trainer kind (`launch/trainers/gradients.py`, `replay.py`, `seeds.py`) fills in how it
trains (in this process, or with workers), what it evaluates and the parts of its state a
checkpoint holds (`parts()`: each part saves and restores itself, `launch.checkpointing`).
"""

import os
import time
from typing import Any

from absl import logging

from launch.backends import ChildFailed, make_backend
from launch.backends.base import EVALUATOR as EVALUATOR_ROLE
from launch.backends.base import ChildId, Received
from launch.checkpointing import Part, RunCheckpointer
from launch.console import Progress
from launch.run_logs import RunLogs
from launch.settings import run_settings
from launch.stopping import StopRequest, TrainingDiverged, deferred_interrupts, diverged_message
from launch.trainers.parts import Schedule
from metarl import checkpoint as checkpoint_lib
from metarl import io

EVALUATOR = ChildId(EVALUATOR_ROLE, 0)  # a run has at most one


class Trainer:
  """One training run (one manager process); subclassed once per trainer kind."""

  # The column a resume truncates the CSVs by, and the columns that are no scalars.
  position_column = 'env_steps'
  not_scalars = ('env_steps',)

  def __init__(self, config, spec, env):
    """`config`: validated and completed, its run_dir made. A kind builds its state after
    this, then calls `resume()` if `settings.resume`."""
    self.config, self.spec, self.env = config, spec, env
    # the run's own fields, read once (`launch.settings`); the components read their sections
    self.settings = run_settings(config, spec.kind)
    self.env_steps = 0  # the furthest seed's, for a run of several
    self.updates = 0
    self.logs = RunLogs(self.settings, self.position_column, self.not_scalars,
                        record=io.config_to_dict(config))
    self.checkpoints = RunCheckpointer(config, self.settings)
    self.schedule = Schedule(self.eval_every(), self.checkpoints.every)
    self._checkpointed_steps = -1
    self.evaluated_version = -1  # the params version (updates) of the newest one recorded
    self.stop: StopRequest | None = None
    self.backend = None
    self.progress = self.make_progress()
    # Children (kinds with workers or an evaluator).
    self._restarts = 0
    self._deadlines: dict[ChildId, float] = {}  # child -> when its next message is overdue
    self._heard_from = set()  # children (this incarnation) that sent something

  # What a kind says about itself ------------------------------------------------------

  def make_progress(self) -> Progress:
    return Progress(self.settings.total_env_steps)

  def eval_every(self) -> int:
    """The evaluation cadence, in `position()` units."""
    return self.settings.eval.every_env_steps

  def position(self) -> int:
    """Where the run is in its evaluation schedule (env steps; epochs for td)."""
    return self.env_steps

  def describe(self) -> str:
    raise NotImplementedError

  def bad_streak(self) -> int:
    """Updates skipped in a row now (the worst seed's, for a run of several)."""
    raise NotImplementedError

  def params_to_save(self) -> dict[str, Any]:
    """params.pickle's fields beyond the common ones: params (numpy), seeds, extra."""
    raise NotImplementedError

  def parts(self) -> dict[str, Part]:
    """What a checkpoint holds besides the position (env steps, updates), by name: the
    schedule, and the kind's own (a learner's state, its logs ...), restored in this order."""
    return dict(schedule=self.schedule)

  def train(self) -> None:
    """Trains to the end of the budget; checks `self.stop` at every boundary."""
    raise NotImplementedError

  def evaluate(self, final: bool) -> None:
    """Starts (or runs) an evaluation of the current params."""
    raise NotImplementedError

  def wait_final_eval(self) -> None:
    """Waits for the evaluation of the final params, if it runs elsewhere."""

  def flush_logs(self) -> None:
    """Writes the rows of an unfinished logging period."""

  def after_run(self) -> None:
    """What a finished run does last, outside the deferred signals (td: the analysis)."""

  # Evaluation schedule ----------------------------------------------------------------

  def maybe_evaluate(self, final: bool = False) -> None:
    """Starts an evaluation when one is due (always when `final`, unless the newest
    params are already being or have been evaluated)."""
    if self.schedule.evaluation_due(self.position(), self.updates, final):
      self.evaluate(final)

  # Divergence -------------------------------------------------------------------------

  def check_divergence(self, streak: int) -> None:
    """Stops the run once `max_bad_updates` updates in a row were skipped."""
    if streak >= self.settings.max_bad_updates:
      self.before_divergence()
      raise TrainingDiverged(diverged_message(self.settings.run_dir, streak, self.env_steps,
                                              self.checkpoints.good))

  def before_divergence(self) -> None:
    """Writes what the run logged but has not written yet."""
    self.flush_logs()

  # Checkpoints ------------------------------------------------------------------------

  def checkpoints_on(self) -> bool:
    return self.schedule.next_checkpoint is not None

  def save_checkpoint(self) -> str:
    path = self.checkpoints.save(self.env_steps, self.updates, self.parts(),
                                 clean=self.bad_streak() == 0)
    self._checkpointed_steps = self.env_steps
    return path

  def maybe_checkpoint(self) -> None:
    if self.schedule.checkpoint_due(self.env_steps):
      self.save_checkpoint()

  def resume(self) -> None:
    """Continues the run in `config.run_dir` from its newest checkpoint: each part restores
    itself into the freshly built run (a checkpoint of another config is refused in one
    line), rows written after it are dropped (they come again), schedules and clocks go on."""
    try:
      path, payload = self.checkpoints.load_newest(self.parts())
    except io.RunFileError:
      self.progress.discard()  # the console shows the one-line refusal alone
      raise
    self.env_steps, self.updates = payload['env_steps'], payload['updates']
    self.evaluated_version = self.schedule.last_eval_version
    self._checkpointed_steps = self.env_steps
    if self.bad_streak() == 0:
      self.checkpoints.good = path
    self.logs.resume(self.position())
    io.save_json(os.path.join(self.settings.run_dir, 'config.json'),  # what it goes on with
                 io.config_to_dict(self.config))
    self.progress.update(self.position())
    logging.info('resumed from %s at %d env steps', path, self.env_steps)

  # Final params -----------------------------------------------------------------------

  def save_params(self) -> str:
    path = os.path.join(self.settings.run_dir, 'params.pickle')
    checkpoint_lib.save_params(path, agent=self.spec.name, config=self.config,
                               env_steps=self.env_steps, updates=self.updates,
                               **self.params_to_save())
    return path

  # Children ---------------------------------------------------------------------------

  def start_child(self, child: ChildId, target) -> None:
    if self.backend is None:
      self.backend = make_backend(self.settings.launch)
    self.backend.start(child, target, self.config)
    if child != EVALUATOR:  # the evaluator only owes answers to requests
      self.expect(child)

  def expect(self, child: ChildId) -> None:
    """A message from `child` is due: within launch.child_timeout_s, or within
    launch.startup_timeout_s while this incarnation has not sent anything yet."""
    launch = self.settings.launch
    allowance = (launch.child_timeout_s if child in self._heard_from
                 else launch.startup_timeout_s)
    self._deadlines[child] = time.monotonic() + allowance

  def receive(self, timeout: float) -> Received | None:
    """The next message from a child, or None; a child that died, raised or stayed silent
    past its deadline is replaced (`replace_child`) on the way."""
    try:
      received = self.backend.receive(timeout)
    except ChildFailed as failure:
      self.replace_child(failure)
      return None
    if received is not None:
      if received.child not in self._heard_from:
        logging.info('first message from %s', received.child)
      self._heard_from.add(received.child)
      if received.child != EVALUATOR:
        self.expect(received.child)
    now = time.monotonic()
    for child, deadline in list(self._deadlines.items()):
      if now > deadline:
        self.replace_child(ChildFailed(
            f'{child} sent nothing in time (launch.child_timeout_s / startup_timeout_s): '
            'hung', child=child))
    return received

  def replace_child(self, failure: ChildFailed) -> None:
    """Replaces the failed child from the newest params, up to launch.max_restarts times
    in the run; past that (or for a failure of the run as a whole) raises `failure`."""
    limit = self.settings.launch.max_restarts
    while True:
      if failure.child is None or self._restarts >= limit:
        raise ChildFailed(f'{failure}\nlaunch.max_restarts = {limit} restarts used up: the '
                          'run stops', child=failure.child)
      child = failure.child
      self._restarts += 1
      logging.error('%s\nreplacing %s from the newest params (restart %d of %d)', failure,
                    child, self._restarts, limit)
      try:
        self.backend.restart(child)
        break
      except ChildFailed as again:  # the replacement did not start: that used a restart too
        failure = again
    self._heard_from.discard(child)
    self._deadlines.pop(child, None)
    self.after_replace(child)

  def after_replace(self, child: ChildId) -> None:
    """Gives a replaced child what it needs to go on (kinds with children)."""
    del child

  # The run ----------------------------------------------------------------------------

  def done_message(self) -> str:
    return f'{self.env_steps} env steps'

  def run(self) -> str:
    logging.info('training %s in %s: %s', self.settings.name, self.settings.run_dir,
                 self.describe())
    self.progress.note(f'training {self.settings.name} into {self.settings.run_dir} '
                       '(rows and messages in its log.txt)')
    try:
      # Ctrl-C / SIGTERM take effect between compiled calls or messages, so the state,
      # counters and rows a final checkpoint saves always belong together.
      with deferred_interrupts() as self.stop:
        self.train()
        self.flush_logs()
        path = self.save_params()
        self.maybe_evaluate(final=True)
        self.wait_final_eval()
        if self.checkpoints_on() and self._checkpointed_steps != self.env_steps:
          self.save_checkpoint()
        if self.stop.requested:  # during the final evaluation: training is done
          raise KeyboardInterrupt
      self.after_run()
      logging.info('done: %s in %.1fs; params in %s', self.done_message(),
                   self.schedule.elapsed(), path)
    except KeyboardInterrupt:
      with deferred_interrupts():  # a second Ctrl-C (or SIGTERM) waits for the saves
        path = self.save_params()
        if self.checkpoints_on() and self._checkpointed_steps != self.env_steps:
          self.save_checkpoint()
      logging.warning('interrupted at %s; params saved to %s', self.done_message(), path)
      raise
    except ChildFailed:
      path = self.save_params()
      final = self.save_checkpoint() if self.checkpoints_on() else 'none'
      logging.error('a child process failed at %s; params saved to %s, final '
                    'checkpoint %s', self.done_message(), path, final)
      raise
    except TrainingDiverged:
      path = self.save_params()  # skipped updates left the params at their last good value
      logging.error('stopped at %s: updates kept failing; params saved to %s',
                    self.done_message(), path)
      raise
    finally:
      if self.backend is not None:
        self.backend.shutdown()
      self.progress.close()
      self.logs.close()
    return self.settings.run_dir

  def check_stop(self) -> None:
    """Raises KeyboardInterrupt at a loop boundary once Ctrl-C or SIGTERM came."""
    if self.stop is not None and self.stop.requested:
      raise KeyboardInterrupt
