"""The manager: owns params and optimizer state, runs the training loop, writes the run.

Two layouts, one set of outputs:
  launch.num_workers == 0: training runs here, `updates_per_call` rollout+update iterations
    fused per jitted call (the fastest layout on few cores).
  launch.num_workers > 0: spawned workers send gradients computed on the newest params they
    hold; the manager applies each one as it arrives and publishes versioned params (A3C).
Evaluation runs in a spawned evaluator (launch.num_evaluators = 1) fed with params whenever
`eval.every_env_steps` have passed, or inline (0). Files in `run_dir`: config.json, log.txt,
train.csv, eval.csv, params.pickle, checkpoints/ and, with `log.tensorboard`, tensorboard/
(the numeric columns of train.csv and eval.csv as scalars train/<column> and eval/<column>
at their env step).

What a run survives: a child that dies, raises or stays silent too long is replaced from the
newest params (up to launch.max_restarts; then a final checkpoint and a clear error);
Ctrl-C / SIGTERM take effect between compiled calls or messages, then params and a final
checkpoint are written and every child is stopped; updates with a NaN or Inf are skipped,
and config.max_bad_updates of them in a row stop the run (`TrainingDiverged`).
"""

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any, Dict, Optional, Sequence

import jax
from absl import logging

from launch import evaluator as evaluator_lib
from launch import worker as worker_lib
from launch import validation
from launch.backends import ChildFailed, make_backend
from metarl import checkpoint as checkpoint_lib
from metarl import curriculum as curriculum_lib
from metarl import envs, io
from metarl.agents import a3c
from metarl.rollout import set_env_params

EVALUATOR = 'evaluator-0'


class TrainingDiverged(RuntimeError):
  """`config.max_bad_updates` updates in a row had a NaN or Inf in their loss or gradient."""


def diverged_message(run_dir: str, streak: int, env_steps: int,
                     good_checkpoint: Optional[str]) -> str:
  """The message a run stops with when its updates keep being skipped."""
  where = (f'the last checkpoint written before it is {good_checkpoint}' if good_checkpoint
           else 'no checkpoint was written before it')
  return (f'{streak} updates in a row had a NaN or Inf in their loss or gradient and were '
          f'skipped (config.max_bad_updates); the run stopped at {env_steps} env steps in '
          f'{run_dir}; {where}')


class _StopRequest:
  requested = False


@contextlib.contextmanager
def deferred_interrupts():
  """Within the block, SIGINT and SIGTERM only set `.requested` on the yielded object (the
  loop stops at its next boundary); outside the main thread nothing changes."""
  stop = _StopRequest()
  if threading.current_thread() is not threading.main_thread():
    yield stop
    return

  def request(signum, frame):
    del signum, frame
    stop.requested = True

  previous = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield stop
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)


def prepare_run_dir(config) -> str:
  """Creates the run directory (a fresh timestamped one when `config.run_dir` is empty)
  and writes config.json into it (a resumed run keeps its own)."""
  with config.unlocked():
    if not config.run_dir:
      config.run_dir = io.timestamped_dir('runs', config.name)
  os.makedirs(config.run_dir, exist_ok=True)
  path = os.path.join(config.run_dir, 'config.json')
  if not (config.get('resume', False) and os.path.exists(path)):  # a resume keeps the
    io.save_json(path, io.config_to_dict(config))  # config the run started with
  return config.run_dir


def add_log_file(path: str):
  """Copies absl logging into `path`; returns the handler (remove it when done)."""
  import logging as py_logging
  handler = py_logging.FileHandler(path)
  handler.setFormatter(logging.PythonFormatter())
  logging.get_absl_logger().addHandler(handler)
  logging.set_verbosity(logging.INFO)
  return handler


class Progress:
  """A one-line progress display (tqdm) with env-steps/s and the latest evaluation."""

  def __init__(self, total: int, unit: str = 'step', rate_label: str = 'env-steps/s'):
    from tqdm import tqdm
    self._bar = tqdm(total=total, unit=unit, unit_scale=True, dynamic_ncols=True,
                     mininterval=1.0, file=sys.stderr)
    self._rate_label = rate_label
    self._sps = 0.0
    self._eval = ''

  def update(self, env_steps: int, steps_per_sec: Optional[float] = None,
             eval_metrics: Optional[Dict[str, float]] = None) -> None:
    if steps_per_sec is not None:
      self._sps = steps_per_sec
    if eval_metrics:
      self._eval = ' '.join(f'{k}={v:.3g}' for k, v in eval_metrics.items())
    self._bar.set_postfix_str(f'{self._sps:,.1f} {self._rate_label} | eval: '
                              f'{self._eval or "-"}', refresh=False)
    self._bar.update(max(0, min(env_steps, self._bar.total) - self._bar.n))

  def close(self) -> None:
    self._bar.close()


class RunLogs:
  """train.csv and eval.csv of a run (and, with `config.log.tensorboard`, the same rows as
  TensorBoard scalars), and the periodic aggregation of training metrics."""

  def __init__(self, config, start_time: float, train_columns: Sequence[str] = (),
               latest: Sequence[str] = (), summed: Sequence[str] = ('skipped_updates',)):
    """`train_columns`: metrics that get a train.csv column from the first row on, even
    when they were not reported in it (e.g. episode_return before an episode ended);
    `latest`: metrics logged with their newest value instead of the period's mean;
    `summed`: counts, logged as their sum over the period."""
    self._latest = set(latest)
    self._summed = set(summed)
    self._run_dir = config.run_dir
    self._log_every = config.log_every_env_steps
    self._next_log = self._log_every
    self._start = start_time
    self._columns = list(train_columns)
    self._sums: Dict[str, float] = {}
    self._counts: Dict[str, int] = {}
    self._count = 0
    self._last_steps, self._last_time = 0, start_time
    self.train: Optional[io.CsvLog] = None
    self.eval: Optional[io.CsvLog] = None
    self._tensorboard_on = io.tensorboard_on(config)
    self._tensorboard: Optional[io.TensorBoardLog] = None  # opened with the first row
    self._purge_step: Optional[int] = None  # a resumed run's first step written again
    self.last_eval: Dict[str, float] = {}
    self.steps_per_sec = 0.0

  def elapsed(self) -> float:
    return time.time() - self._start

  def state_dict(self) -> Dict[str, Any]:
    """What a checkpoint needs to continue the logs: the period's partial sums."""
    return dict(sums=dict(self._sums), counts=dict(self._counts), count=self._count,
                next_log=self._next_log, last_steps=self._last_steps,
                elapsed=self.elapsed())

  def resume(self, state: Dict[str, Any], env_steps: int) -> None:
    """Continues from a checkpoint at `env_steps`: rows written after it are dropped (they
    will be written again), the period's sums and the wall clock go on."""
    self._sums, self._counts = dict(state['sums']), dict(state['counts'])
    self._count, self._next_log = state['count'], state['next_log']
    self._last_steps = state['last_steps']
    self._start = time.time() - state['elapsed']
    for name in ('train.csv', 'eval.csv'):
      io.truncate_csv(os.path.join(self._run_dir, name), env_steps)
    self._purge_step = env_steps + 1

  def add_train(self, metrics: Dict[str, float], env_steps: int, updates: int) -> None:
    """Adds one update's metrics; writes a train.csv row once a logging period is over.
    Each metric is averaged over the calls that reported it."""
    for k, v in metrics.items():
      keep = k in self._latest
      self._sums[k] = (0.0 if keep else self._sums.get(k, 0.0)) + float(v)
      self._counts[k] = 1 if keep else self._counts.get(k, 0) + 1
    self._count += 1
    if env_steps >= self._next_log:
      self.flush_train(env_steps, updates)

  def flush_train(self, env_steps: int, updates: int) -> None:
    """Writes the row of the metrics gathered since the last one, if any."""
    if not self._count:
      return
    now = time.time()
    self.steps_per_sec = (env_steps - self._last_steps) / max(now - self._last_time, 1e-9)
    row = dict(env_steps=env_steps, updates=updates, wall_time=now - self._start,
               env_steps_per_sec=self.steps_per_sec)
    row.update({k: float('nan') for k in self._columns})
    row.update({k: v if k in self._summed else v / self._counts[k]
                for k, v in sorted(self._sums.items())})
    if self.train is None:
      self.train = io.CsvLog(os.path.join(self._run_dir, 'train.csv'), list(row))
    self._to_tensorboard('train', self.train.write(row), env_steps)
    logging.info('train: %s', _fmt_row(row))
    self._sums, self._counts, self._count = {}, {}, 0
    self._last_steps, self._last_time = env_steps, now
    while self._next_log <= env_steps:
      self._next_log += self._log_every

  def add_eval(self, env_steps: int, updates: int, wall_time: float,
               metrics: Dict[str, float]) -> None:
    row = dict(env_steps=env_steps, updates=updates, wall_time=wall_time)
    row.update(sorted(metrics.items()))
    if self.eval is None:
      self.eval = io.CsvLog(os.path.join(self._run_dir, 'eval.csv'), list(row))
    self._to_tensorboard('eval', self.eval.write(row), env_steps)
    self.last_eval = dict(metrics)
    logging.info('eval: %s', _fmt_row(row))

  def _to_tensorboard(self, table: str, cells: Dict[str, float], env_steps: int) -> None:
    """The numeric cells of a row just written to `table`.csv, as scalars `table/column`
    at its env step (if TensorBoard logging is on)."""
    if not self._tensorboard_on:
      return
    if self._tensorboard is None:
      self._tensorboard = io.TensorBoardLog(self._run_dir, self._purge_step)
    self._tensorboard.write({f'{table}/{k}': v for k, v in cells.items() if k != 'env_steps'},
                            env_steps)

  def close(self) -> None:
    for log in (self.train, self.eval, self._tensorboard):
      if log is not None:
        log.close()


def _fmt_row(row: Dict[str, Any]) -> str:
  return ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                  for k, v in row.items())


class Trainer:
  """State and bookkeeping of one training run (one manager process)."""

  curriculum: Optional[curriculum_lib.Curriculum] = None  # the A3C config's, if on
  rollout_state = None  # single-process A3C training's rollout state

  def __init__(self, config):
    self.config = config
    self.env = envs.make(config.env)
    self.curriculum = curriculum_lib.make(config)
    self.agent = a3c.make_agent(config, self.env)
    params_key, rollout_key = jax.random.split(jax.random.PRNGKey(config.seed))
    self.state = self.agent.init(params_key)
    self.rollout_key = rollout_key
    columns = (self.curriculum.field,) if self.curriculum else ()
    self.start_run(train_columns=columns + ('skipped_updates',), latest=columns)
    if config.get('resume', False):
      self.resume()

  def start_run(self, **log_options) -> None:
    """Counters, logs, progress bar, backend and evaluation schedule of a new run
    (`log_options` go to `RunLogs`)."""
    self.env_steps = 0
    self.updates = 0
    self.start = time.time()
    self.logs = RunLogs(self.config, self.start, **log_options)
    self.progress = Progress(self.config.total_env_steps)
    self.backend = make_backend(self.config)
    self._next_eval = self.config.eval.every_env_steps
    self._next_checkpoint = self.config.get('checkpoint_every', 0) or None
    self._inline_eval = None
    self._last_eval_version = -1
    self._evaluated_version = -1
    self._eval_request: Optional[Dict[str, Any]] = None  # sent, not yet answered
    self._good_checkpoint: Optional[str] = None  # newest one written with no bad streak
    self._checkpointed_steps = -1
    self._restarts = 0
    self._deadlines: Dict[str, float] = {}  # child -> when its next message is overdue
    self._heard_from = set()  # children (this incarnation) that sent something

  # Evaluation -----------------------------------------------------------------------

  def published_params(self):
    """The params workers and evaluators receive (all of them for A3C)."""
    return self.state.params

  def env_overrides(self) -> Dict[str, Any]:
    """The env params children train and evaluate with now (the curriculum's value)."""
    return self.curriculum.overrides() if self.curriculum else {}

  def _params_message(self) -> Dict[str, Any]:
    return dict(params=io.to_numpy(self.published_params()), version=self.updates,
                env_steps=self.env_steps, wall_time=self.logs.elapsed(),
                env_overrides=self.env_overrides())

  def maybe_evaluate(self, final: bool = False) -> None:
    """Starts an evaluation if one is due (always when `final`)."""
    if final and self._last_eval_version == self.updates:
      return  # the newest params are already being (or have been) evaluated
    if not final and self.env_steps < self._next_eval:
      return
    while self._next_eval <= self.env_steps:
      self._next_eval += self.config.eval.every_env_steps
    self._last_eval_version = self.updates
    message = self._params_message()
    if self.config.launch.num_evaluators:
      self.backend.publish(EVALUATOR, message)
      if self._eval_request is None:
        self._expect(EVALUATOR)
      self._eval_request = message
      return
    if self._inline_eval is None:
      self._inline_eval = evaluator_lib.make_training_evaluator(self.config)
    key = jax.random.fold_in(evaluator_lib.evaluator_key(self.config.seed, 0),
                             message['version'])
    metrics = self._inline_eval(message['params'], key, message['env_overrides'])
    self.record_eval(dict(version=self.updates, env_steps=self.env_steps,
                          wall_time=message['wall_time'], metrics=metrics))

  def record_eval(self, message: Dict[str, Any]) -> None:
    if self._eval_request is not None and message['version'] >= self._eval_request['version']:
      self._eval_request = None
      self._deadlines.pop(EVALUATOR, None)
    elif self._eval_request is not None:
      self._expect(EVALUATOR)  # a newer request is still being evaluated
    self._evaluated_version = message['version']
    self.logs.add_eval(message['env_steps'], message['version'], message['wall_time'],
                       message['metrics'])
    self.progress.update(self.env_steps, eval_metrics=message['metrics'])
    if self.curriculum and self.curriculum.update(message['metrics']):
      self._follow_curriculum()

  def _follow_curriculum(self) -> None:
    """Single-process training resets its episodes with the curriculum's value from now on;
    workers get it with their next params (`_params_message`)."""
    if self.rollout_state is not None:
      self.rollout_state = set_env_params(self.rollout_state, self.curriculum.overrides())

  def handle(self, message: Optional[Dict[str, Any]]) -> None:
    """Acts on one message from a child (None: nothing arrived in time)."""
    if message is None:
      return
    if message['kind'] == 'eval':
      self.record_eval(message)
    elif message['kind'] == 'grads':
      self.state = self.agent.apply_gradients(self.state, message['grads'],
                                              message['metrics']['loss'])
      self.updates += 1
      self.env_steps += message['env_steps']
      self.after_update(dict(message['metrics'],
                             skipped_updates=float(self.state.bad_streak > 0)))

  def after_update(self, metrics: Dict[str, float]) -> None:
    metrics = dict(metrics, **self.env_overrides())
    self.logs.add_train(metrics, self.env_steps, self.updates)
    self.progress.update(self.env_steps, steps_per_sec=self.logs.steps_per_sec)
    self.check_bad_streak()
    self.maybe_evaluate()

  def check_bad_streak(self) -> None:
    """Stops the run once `config.max_bad_updates` updates in a row were skipped."""
    streak = int(self.state.bad_streak)
    if streak >= self.config.get('max_bad_updates', 100):
      self.logs.flush_train(self.env_steps, self.updates)
      raise TrainingDiverged(diverged_message(self.config.run_dir, streak, self.env_steps,
                                              self._good_checkpoint))

  # Children ---------------------------------------------------------------------------

  def start_child(self, name: str, target, child_id: int) -> None:
    self.backend.start(name, target, self.config, child_id)
    if name != EVALUATOR:  # the evaluator only owes answers to requests
      self._expect(name)

  def _expect(self, name: str) -> None:
    """A message from `name` is due: within launch.child_timeout_s, or within
    launch.startup_timeout_s while this incarnation has not sent anything yet."""
    launch = self.config.launch
    allowance = (launch.get('child_timeout_s', launch.startup_timeout_s)
                 if name in self._heard_from else launch.startup_timeout_s)
    self._deadlines[name] = time.monotonic() + allowance

  def receive(self, timeout: float) -> Optional[Dict[str, Any]]:
    """The next message from a child, or None; a child that died, raised or stayed silent
    past its deadline is replaced (`replace_child`) on the way."""
    try:
      message = self.backend.receive(timeout)
    except ChildFailed as failure:
      self.replace_child(failure)
      return None
    if message is not None and 'source' in message:
      self._heard_from.add(message['source'])
      if message['source'] != EVALUATOR:
        self._expect(message['source'])
    now = time.monotonic()
    for name, deadline in list(self._deadlines.items()):
      if now > deadline:
        self.replace_child(ChildFailed(
            f'{name} sent nothing in time (launch.child_timeout_s / startup_timeout_s): '
            'hung', name=name))
    return message

  def replace_child(self, failure: ChildFailed) -> None:
    """Replaces the failed child from the newest params, up to launch.max_restarts times
    in the run; past that (or for a failure of the run as a whole) raises `failure`."""
    limit = self.config.launch.get('max_restarts', 0)
    while True:
      if failure.name is None or self._restarts >= limit:
        raise ChildFailed(f'{failure}\nlaunch.max_restarts = {limit} restarts used up: the '
                          'run stops', name=failure.name)
      name = failure.name
      self._restarts += 1
      logging.error('%s\nreplacing %s from the newest params (restart %d of %d)', failure,
                    name, self._restarts, limit)
      try:
        self.backend.restart(name)
        break
      except ChildFailed as again:  # the replacement did not start: that used a restart too
        failure = again
    self._heard_from.discard(name)
    self._deadlines.pop(name, None)
    if name == EVALUATOR:
      if self._eval_request is not None:  # ask the new evaluator again
        self.backend.publish(EVALUATOR, self._eval_request)
        self._expect(EVALUATOR)
    else:
      self._expect(name)
      self.publish_to_workers([name])

  # Checkpoints ------------------------------------------------------------------------

  def checkpoint_arrays(self) -> Dict[str, Any]:
    """The array state a checkpoint stores (numpy leaves; see `metarl.checkpoint`)."""
    arrays = dict(state=checkpoint_lib.tree_leaves(self.state))
    if self.rollout_state is not None:
      arrays['rollout_state'] = checkpoint_lib.tree_leaves(self.rollout_state)
    return arrays

  def restore_arrays(self, arrays: Dict[str, Any], path: str) -> None:
    self.state = checkpoint_lib.restore_tree(self.state, arrays['state'], 'training state',
                                             path)
    if 'rollout_state' in arrays and not self.config.launch.num_workers:
      template = self.agent.rollout.init(self.rollout_key)
      self.rollout_state = checkpoint_lib.restore_tree(template, arrays['rollout_state'],
                                                       'rollout state', path)

  def checkpoint_counters(self) -> Dict[str, int]:
    """Counters beyond env steps and updates that a resume needs (subclasses)."""
    return {}

  def restore_counters(self, counters: Dict[str, int], arrays: Dict[str, Any]) -> None:
    del counters, arrays

  def save_checkpoint(self) -> str:
    payload = dict(env_steps=self.env_steps, updates=self.updates,
                   counters=self.checkpoint_counters(),
                   next_eval=self._next_eval, next_checkpoint=self._next_checkpoint,
                   logs=self.logs.state_dict(), arrays=self.checkpoint_arrays(),
                   curriculum=None if self.curriculum is None else self.curriculum.state_dict(),
                   config=io.config_to_dict(self.config), agent=self.config.agent.name)
    start = time.time()
    path = checkpoint_lib.save(self.config.run_dir, payload,
                               self.config.get('keep_checkpoints', 3))
    self._checkpointed_steps = self.env_steps
    if int(self.state.bad_streak) == 0:
      self._good_checkpoint = path
    logging.info('checkpoint at %d env steps: %s (%.3fs)', self.env_steps, path,
                 time.time() - start)
    return path

  def maybe_checkpoint(self) -> None:
    if self._next_checkpoint is not None and self.env_steps >= self._next_checkpoint:
      while self._next_checkpoint <= self.env_steps:
        self._next_checkpoint += self.config.checkpoint_every
      self.save_checkpoint()

  def resume(self) -> None:
    """Continues the run in `config.run_dir` from its newest checkpoint."""
    path, payload = checkpoint_lib.load_for_resume(self.config.run_dir, self.config.agent.name)
    self.restore_arrays(payload['arrays'], path)
    self.env_steps, self.updates = payload['env_steps'], payload['updates']
    self.restore_counters(payload.get('counters', {}), payload['arrays'])
    self._next_eval, self._next_checkpoint = payload['next_eval'], payload['next_checkpoint']
    self._last_eval_version = self._evaluated_version = self.updates
    if self.curriculum is not None and payload.get('curriculum'):
      self.curriculum.load_state_dict(payload['curriculum'])
      self._follow_curriculum()
    self._good_checkpoint = path
    self.logs.resume(payload['logs'], self.env_steps)
    self.progress.update(self.env_steps)
    logging.info('resumed from %s at %d env steps', path, self.env_steps)

  # Training loops ---------------------------------------------------------------------

  def train_in_process(self) -> None:
    if self.rollout_state is None:
      self.rollout_state = self.agent.rollout.init(self.rollout_key)
    steps_per_call = self.agent.steps_per_update * self.config.launch.updates_per_call
    # Ctrl-C / SIGTERM take effect between iterations, so the state, counters and logs a
    # final checkpoint saves always belong together.
    with deferred_interrupts() as stop:
      while self.updates < self.agent.total_updates:
        self.state, self.rollout_state, metrics = self.agent.train_many(self.state,
                                                                         self.rollout_state)
        self.updates += self.config.launch.updates_per_call
        self.env_steps += steps_per_call
        self.after_update(io.to_floats(metrics))
        self._poll_evaluator()
        self.maybe_checkpoint()
        if stop.requested:
          raise KeyboardInterrupt

  def _poll_evaluator(self) -> None:
    if self.config.launch.num_evaluators:
      self.handle_nonblocking()

  def handle_nonblocking(self) -> None:
    while True:
      message = self.receive(timeout=0.0001)
      if message is None:
        return
      self.handle(message)

  # What workers run and send (A3C: gradients); subclasses change these.
  WORK_KIND = 'grads'

  def worker_target(self):
    return worker_lib.run_worker

  def finished(self) -> bool:
    return self.updates >= self.agent.total_updates

  def train_distributed(self) -> None:
    names = [f'worker-{i}' for i in range(self.config.launch.num_workers)]
    for i, name in enumerate(names):
      self.start_child(name, self.worker_target(), i)
    self.publish_to_workers(names)
    # Ctrl-C / SIGTERM take effect between messages, so a final checkpoint is consistent.
    with deferred_interrupts() as stop:
      while not self.finished():
        message = self.receive(self.config.launch.queue_timeout_s)
        self.handle(message)
        if message is not None and message['kind'] == self.WORK_KIND:
          self.publish_to_workers([message['source']])
        self.maybe_checkpoint()
        if stop.requested:
          raise KeyboardInterrupt

  def publish_to_workers(self, names) -> None:
    message = self._params_message()
    for name in names:
      self.backend.publish(name, message)

  def wait_final_eval(self) -> None:
    """Waits for the evaluation of the final params (a hung or dead evaluator is replaced,
    see `receive`, so this ends)."""
    if not self.config.launch.num_evaluators:
      return
    while self._evaluated_version != self.updates:
      message = self.receive(self.config.launch.queue_timeout_s)
      if message is not None and message['kind'] == 'eval':
        self.record_eval(message)

  def save_params(self) -> str:
    path = os.path.join(self.config.run_dir, 'params.pickle')
    io.save_pickle(path, dict(params=io.to_numpy(self.state.params),
                              config=io.config_to_dict(self.config),
                              env_steps=self.env_steps, updates=self.updates,
                              agent=self.config.agent.name,
                              env_overrides=self.env_overrides()))
    return path

  def describe(self) -> str:
    return (f'{self.agent.total_updates} updates of {self.agent.steps_per_update} steps, '
            f'{self.config.launch.num_workers} workers')

  def run(self) -> str:
    logging.info('training %s in %s: %d env steps, %s', self.config.name,
                 self.config.run_dir, self.config.total_env_steps, self.describe())
    try:
      if self.config.launch.num_evaluators:
        self.start_child(EVALUATOR, evaluator_lib.run_evaluator, 0)
      if self.config.launch.num_workers:
        self.train_distributed()
      else:
        self.train_in_process()
      self.logs.flush_train(self.env_steps, self.updates)
      path = self.save_params()
      self.maybe_evaluate(final=True)
      self.wait_final_eval()
      if self._next_checkpoint is not None and self._checkpointed_steps != self.env_steps:
        self.save_checkpoint()
      logging.info('done: %d env steps in %.1fs; params in %s', self.env_steps,
                   self.logs.elapsed(), path)
    except KeyboardInterrupt:
      path = self.save_params()
      if self._next_checkpoint is not None:
        self.save_checkpoint()
      logging.warning('interrupted at %d env steps; params saved to %s', self.env_steps,
                      path)
      raise
    except ChildFailed:
      path = self.save_params()
      final = self.save_checkpoint() if self._next_checkpoint is not None else 'none'
      logging.error('a child process failed at %d env steps; params saved to %s, final '
                    'checkpoint %s', self.env_steps, path, final)
      raise
    except TrainingDiverged:
      path = self.save_params()  # skipped updates left the params at their last good value
      logging.error('stopped at %d env steps: updates kept failing; params saved to %s',
                    self.env_steps, path)
      raise
    finally:
      self.backend.shutdown()
      self.progress.close()
      self.logs.close()
    return self.config.run_dir


def train(config) -> str:
  """Trains as `config` says (validated); returns the run directory."""
  validation.complete(config)  # every default in the config (main.load_config did it already)
  prepare_run_dir(config)
  handler = add_log_file(os.path.join(config.run_dir, 'log.txt'))
  try:
    if config.agent.name == 'td':
      from launch.td_trainer import TDTrainer
      return TDTrainer(config).run()
    if config.agent.name == 'rsac':
      from launch.sac_trainer import SACTrainer
      return SACTrainer(config).run()
    return Trainer(config).run()
  finally:
    logging.get_absl_logger().removeHandler(handler)
    handler.close()

