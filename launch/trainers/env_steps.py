"""What the two trainer kinds that count env steps share (gradients and replay): a budget of
`total_env_steps`, train.csv rows averaged over `log_every_env_steps`, evaluations every
`eval.every_env_steps` in the evaluator process (launch.num_evaluators = 1) or here (0), an
optional curriculum, and the loop that feeds workers (launch.num_workers > 0).

A worker runs `launch.worker.run_worker` (the agent's work for its kind: gradients, or
chunks of steps); the manager handles each message (`handle_work`) and sends that worker
the newest params.

`num_seeds` > 1 (single process only): seeds seed, seed + 1, ... train side by side in one
process, their states stacked on a leading seed axis split over the CPU cores
(`over_seeds`) and each seed's keys those of a run of its own; train.csv and eval.csv get
one row per seed (a `seed` column), evaluation runs here for each seed, and an update with
a NaN or Inf is skipped for its seed only.
"""

from typing import Any

import jax
import numpy as np
from absl import logging

from launch import evaluator as evaluator_lib
from launch import worker as worker_lib
from launch.backends.base import WORKER, ChildId, Evaluation, Params, Received, Work
from launch.checkpointing import Part
from launch.console import format_row
from launch.train_metrics import SeedsTrainMetrics, TrainMetrics
from launch.trainers.base import EVALUATOR, Trainer
from launch.trainers.seed_devices import SeedDevices
from metarl import curriculum as curriculum_lib
from metarl import io


class EnvStepTrainer(Trainer):
  """A run whose budget is env steps, with optional workers and evaluator."""

  curriculum: curriculum_lib.Curriculum | None = None
  not_scalars = ('env_steps', 'seed')

  def __init__(self, config, spec, env, train_columns=(), latest=()):
    super().__init__(config, spec, env)
    self.seeds: list[int] = [self.settings.seed + i for i in range(self.settings.num_seeds)]
    self.seed_axis = len(self.seeds) > 1  # several seeds: states carry a leading seed axis
    self.curriculum = curriculum_lib.make(config)
    columns = (self.curriculum.field,) if self.curriculum else ()
    metrics_args = (self.logs, self.settings.log_every_env_steps, self.schedule.start_time)
    metrics_kwargs = dict(columns=columns + tuple(train_columns),
                          latest=columns + tuple(latest))
    self.metrics = (SeedsTrainMetrics(self.seeds, *metrics_args, **metrics_kwargs)
                    if self.seed_axis else TrainMetrics(*metrics_args, **metrics_kwargs))
    self._inline_eval = None
    self._eval_request: Params | None = None  # sent, not yet answered
    self.devices = SeedDevices(len(self.seeds))
    # an evaluator process evaluates the params of one seed; several are evaluated here
    self.evaluator = bool(self.settings.launch.num_evaluators) and not self.seed_axis
    if self.seed_axis and self.settings.launch.num_evaluators:
      logging.info('%d seeds: each evaluated in this process (launch.num_evaluators is for '
                   'runs of one seed)', len(self.seeds))

  def spread(self, tree):
    """`tree` (leading seed axis) split over the seeds' devices (`SeedDevices.spread`)."""
    return self.devices.spread(tree)

  def over_seeds(self, fn, in_specs, vmapped: bool = True):
    """A call of `fn` on every seed, each device computing its share
    (`SeedDevices.over_seeds`)."""
    return self.devices.over_seeds(fn, in_specs, vmapped)

  def seeded(self, fn):
    """`fn` of one seed's key (an init), vmapped over the seeds' keys in a run of several."""
    return jax.vmap(fn) if self.seed_axis else fn

  def seed_keys(self, parts: int):
    """Per seed, `jax.random.split(PRNGKey(seed), parts)` (a run of one seed's keys):
    `parts` keys, each [seeds, 2] in a vmapped run, else [2]."""
    keys = [jax.random.split(jax.random.PRNGKey(seed), parts) for seed in self.seeds]
    if not self.seed_axis:
      return tuple(keys[0])
    return tuple(jax.numpy.stack([k[i] for k in keys]) for i in range(parts))

  def bad_streak(self) -> int:
    return int(np.max(np.asarray(self.learner.state.bad_streak)))

  def before_divergence(self) -> None:
    super().before_divergence()
    if self.seed_axis:
      streaks = np.asarray(self.learner.state.bad_streak)
      logging.error('seed %s: %d updates in a row skipped (NaN or Inf)',
                    [s for s, n in zip(self.seeds, streaks, strict=True) if n == streaks.max()],
                    int(streaks.max()))

  # What workers and evaluators receive ------------------------------------------------

  def published_params(self):
    """The params workers and evaluators receive."""
    raise NotImplementedError

  def env_overrides(self) -> dict[str, Any]:
    """The env params children train and evaluate with now (the curriculum's value)."""
    return self.curriculum.overrides() if self.curriculum else {}

  def params_message(self, params=None) -> Params:
    """The newest `published_params()` (or `params`, numpy) with their version, the run's
    position and the children's env overrides."""
    params = io.to_numpy(self.published_params()) if params is None else params
    return Params(params=params, version=self.updates,
                  env_steps=self.env_steps, wall_time=self.metrics.elapsed(),
                  env_overrides=self.env_overrides())

  def publish_to_workers(self, children) -> None:
    message = self.params_message()
    for child in children:
      self.backend.publish(child, message)

  # Logs -------------------------------------------------------------------------------

  def after_update(self, metrics) -> None:
    """Logs one call's metrics: floats, or for several seeds arrays over them or a list of
    each seed's dict."""
    if not isinstance(metrics, list):
      metrics = dict(metrics, **self.env_overrides())
    self.metrics.add(metrics, self.env_steps, self.updates)
    # no rate until the first training row has measured one (it is 0.0 until then)
    self.progress.update(self.env_steps, rate=self.metrics.steps_per_sec or None)
    self.check_divergence(self.bad_streak())
    self.maybe_evaluate()

  def flush_logs(self) -> None:
    self.metrics.flush(self.env_steps, self.updates)

  def parts(self) -> dict[str, Part]:
    """The schedule, the kind's own parts (`kind_parts`), the period's train.csv sums and
    where a curriculum stands."""
    parts = dict(super().parts(), **self.kind_parts(), logs=self.metrics)
    if self.curriculum is not None:
      parts['curriculum'] = self.curriculum
    return parts

  def kind_parts(self) -> dict[str, Part]:
    """The learner's state and what else the kind keeps."""
    raise NotImplementedError

  def resume(self) -> None:
    super().resume()
    if self.curriculum is not None:
      self.follow_curriculum()

  # Evaluation -------------------------------------------------------------------------

  def evaluate(self, final: bool) -> None:
    if self.seed_axis:
      self.evaluate_seeds()
      return
    message = self.params_message()
    if self.evaluator:
      self.backend.publish(EVALUATOR, message)
      if self._eval_request is None:
        self.expect(EVALUATOR)
      self._eval_request = message
      return
    if self._inline_eval is None:
      self._inline_eval = evaluator_lib.make_training_evaluator(self.config)
    key = jax.random.fold_in(evaluator_lib.evaluator_key(self.settings.seed, 0),
                             message.version)
    metrics = self._inline_eval(message.params, key, message.env_overrides)
    self.record_eval(Evaluation(version=self.updates, env_steps=self.env_steps,
                                wall_time=message.wall_time, metrics=metrics))

  def evaluate_seeds(self) -> None:
    """One eval.csv row per seed, each seed evaluated as a run of its own would be."""
    if self._inline_eval is None:
      self._inline_eval = evaluator_lib.make_training_evaluator(self.config)
    params = io.to_numpy(self.published_params())
    wall_time = self.metrics.elapsed()
    found = []
    for i, seed in enumerate(self.seeds):
      key = jax.random.fold_in(evaluator_lib.evaluator_key(seed, 0), self.updates)
      metrics = self._inline_eval(jax.tree_util.tree_map(lambda x, i=i: x[i], params), key,
                                   {})
      self.write_eval_row(dict(env_steps=self.env_steps, updates=self.updates,
                               wall_time=wall_time, seed=seed), metrics,
                          tag_prefix=f'seed_{seed}/')
      found.append(metrics)
    self.evaluated_version = self.updates
    median = {k: float(np.median([m[k] for m in found])) for k in found[0]}
    self.progress.note(f'eval at {self.env_steps:,} env steps, median of {len(found)} '
                       'seeds: ' + ', '.join(f'{k} {v:.3g}'
                                             for k, v in list(median.items())[:4]))
    self.progress.update(self.env_steps, eval_metrics=median)

  def write_eval_row(self, head: dict[str, Any], metrics: dict[str, float],
                     tag_prefix: str = '') -> None:
    """One eval.csv row: `head` (position, time, seed) then the metrics by name."""
    row = dict(head, **dict(sorted(metrics.items())))
    self.logs.write('eval', row, row['env_steps'], tag_prefix=tag_prefix)
    logging.info('eval: %s', format_row(row))

  def record_eval(self, evaluation: Evaluation) -> None:
    if self._eval_request is not None and evaluation.version >= self._eval_request.version:
      self._eval_request = None
      self._deadlines.pop(EVALUATOR, None)
    elif self._eval_request is not None:
      self.expect(EVALUATOR)  # a newer request is still being evaluated
    self.evaluated_version = evaluation.version
    self.write_eval_row(dict(env_steps=evaluation.env_steps, updates=evaluation.version,
                             wall_time=evaluation.wall_time), evaluation.metrics)
    self.progress.note(f'eval at {evaluation.env_steps:,} env steps: ' + ', '.join(
        f'{k} {v:.3g}' for k, v in list(evaluation.metrics.items())[:4]))
    self.progress.update(self.env_steps, eval_metrics=evaluation.metrics)
    if self.curriculum and self.curriculum.update(evaluation.metrics):
      self.follow_curriculum()

  def follow_curriculum(self) -> None:
    """Single-process training resets its episodes with the curriculum's value from now
    on (kinds that have such state); workers get it with their next params."""

  def wait_final_eval(self) -> None:
    """Waits for the evaluator's evaluation of the final params (a hung or dead evaluator
    is replaced, see `receive`, so this ends)."""
    if not self.evaluator:
      return
    while self.evaluated_version != self.updates:
      self.check_stop()
      received = self.receive(self.settings.launch.queue_timeout_s)
      if received is not None and isinstance(received.message, Evaluation):
        self.record_eval(received.message)

  # Children ---------------------------------------------------------------------------

  def after_replace(self, child: ChildId) -> None:
    if child == EVALUATOR:
      if self._eval_request is not None:  # ask the new evaluator again
        self.backend.publish(EVALUATOR, self._eval_request)
        self.expect(EVALUATOR)
    else:
      self.expect(child)
      self.publish_to_workers([child])

  def poll_evaluator(self) -> None:
    """Records the evaluations that came in (between single-process training calls)."""
    if not self.evaluator:
      return
    while True:
      received = self.receive(timeout=0.0001)
      if received is None:
        return
      self.handle(received)

  def handle(self, received: Received | None) -> None:
    """Acts on one message from a child (None: nothing arrived in time)."""
    if received is None:
      return
    if isinstance(received.message, Evaluation):
      self.record_eval(received.message)
    elif isinstance(received.message, Work):
      self.handle_work(received.child.index, received.message)

  def handle_work(self, worker: int, work: Work) -> None:
    """Learns from worker `worker`'s result (gradients, or a chunk of steps)."""
    raise NotImplementedError

  # Training ---------------------------------------------------------------------------

  def worker_target(self):
    return worker_lib.run_worker

  def finished(self) -> bool:
    return self.env_steps >= self.settings.total_env_steps

  def train(self) -> None:
    if self.evaluator:
      self.start_child(EVALUATOR, evaluator_lib.run_evaluator)
    if self.settings.launch.num_workers:
      self.train_distributed()
    else:
      self.train_in_process()

  def train_in_process(self) -> None:
    raise NotImplementedError

  def train_distributed(self) -> None:
    workers = [ChildId(WORKER, i) for i in range(self.settings.launch.num_workers)]
    for child in workers:
      self.start_child(child, self.worker_target())
    self.publish_to_workers(workers)
    while not self.finished():
      received = self.receive(self.settings.launch.queue_timeout_s)
      self.handle(received)
      if received is not None and isinstance(received.message, Work):
        self.publish_to_workers([received.child])
      self.maybe_checkpoint()
      self.check_stop()
