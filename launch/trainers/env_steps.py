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

import concurrent.futures
from typing import Any

import jax
import numpy as np
from absl import logging

from launch import evaluator as evaluator_lib
from launch import worker as worker_lib
from launch.backends.base import WORKER, ChildId, Evaluation, Params, Received, Work
from launch.run_support import SeedsTrainMetrics, TrainMetrics, format_row
from launch.trainers.base import EVALUATOR, Trainer
from metarl import curriculum as curriculum_lib
from metarl import io

SEED = jax.sharding.PartitionSpec('seed')  # a leading seed axis, split over the mesh
SHARED = jax.sharding.PartitionSpec()  # the same value for every seed


def seed_mesh(num_seeds: int) -> jax.sharding.Mesh | None:
  """A mesh over as many of this process's CPU devices as divide `num_seeds` (main.py
  exposes one per core: `metarl.compilation.expose_cpu_cores`), or None (one seed, one
  device, or not on CPU)."""
  if num_seeds < 2 or jax.default_backend() != 'cpu':
    return None
  devices = jax.local_devices()
  k = max(d for d in range(1, len(devices) + 1) if num_seeds % d == 0)
  if k < 2:
    return None
  logging.info('%d seeds spread over %d CPU devices', num_seeds, k)
  return jax.sharding.Mesh(np.array(devices[:k]), ('seed',))


def uneven_shares(num_seeds: int) -> list[tuple[Any, int, int]] | None:
  """(device, first seed, end) for each CPU device when no mesh divides the seeds evenly
  but several devices can share them (3 seeds on 2 cores: 2 + 1), else None."""
  if num_seeds < 2 or jax.default_backend() != 'cpu':
    return None
  devices = jax.local_devices()[:num_seeds]
  if len(devices) < 2 or seed_mesh(num_seeds) is not None:
    return None
  bounds = np.linspace(0, num_seeds, len(devices) + 1).round().astype(int)
  shares = [(d, int(a), int(b)) for d, a, b in zip(devices, bounds[:-1], bounds[1:],
                                                   strict=True)]
  logging.info('%d seeds spread over %d CPU devices (%s)', num_seeds, len(devices),
               ' + '.join(str(b - a) for _, a, b in shares))
  return shares


class EnvStepTrainer(Trainer):
  """A run whose budget is env steps, with optional workers and evaluator."""

  curriculum: curriculum_lib.Curriculum | None = None
  not_scalars = ('env_steps', 'seed')

  def __init__(self, config, spec, env, train_columns=(), latest=()):
    super().__init__(config, spec, env)
    self.seeds: list[int] = [config.seed + i for i in range(config.get('num_seeds', 1))]
    self.seed_axis = len(self.seeds) > 1  # several seeds: states carry a leading seed axis
    self.curriculum = curriculum_lib.make(config)
    columns = (self.curriculum.field,) if self.curriculum else ()
    metrics_args = (self.logs, config.log_every_env_steps, self.start_time)
    metrics_kwargs = dict(columns=columns + tuple(train_columns),
                          latest=columns + tuple(latest))
    self.metrics = (SeedsTrainMetrics(self.seeds, *metrics_args, **metrics_kwargs)
                    if self.seed_axis else TrainMetrics(*metrics_args, **metrics_kwargs))
    self._inline_eval = None
    self._eval_request: Params | None = None  # sent, not yet answered
    self._seed_mesh = seed_mesh(len(self.seeds))
    self._seed_split = (None if self._seed_mesh is None else  # the seed axis over the mesh
                        jax.sharding.NamedSharding(self._seed_mesh, SEED))
    # seeds no mesh divides: each device's share sliced off and gathered back per call
    self._uneven = uneven_shares(len(self.seeds)) if self._seed_mesh is None else None
    self._threads = None  # the calls of `over_seeds`, one thread per device
    # an evaluator process evaluates the params of one seed; several are evaluated here
    self.evaluator = bool(config.launch.num_evaluators) and not self.seed_axis
    if self.seed_axis and config.launch.num_evaluators:
      logging.info('%d seeds: each evaluated in this process (launch.num_evaluators is for '
                   'runs of one seed)', len(self.seeds))

  def spread(self, tree):
    """`tree` (leading seed axis) split over the devices of the seed mesh, where the calls
    of `over_seeds` expect it. Unchanged without a mesh."""
    return tree if self._seed_split is None else jax.device_put(tree, self._seed_split)

  def over_seeds(self, fn, in_specs, vmapped: bool = True):
    """A call of `fn` on every seed, each device of the seed mesh computing its share of the
    seeds in a thread of its own (one SPMD program over the mesh kept the recurrent SAC
    call on about one core); the outputs are split over the devices as `spread` splits.
    Seeds that no mesh divides (3 on 2 cores) are shared out unevenly (`uneven_shares`):
    each call slices each device's share off, and gathers the outputs back on the first
    device.

    Args:
      fn: jitted; `vmapped`: a function of the whole seed axis (vmapped), called once per
        device on its share; else a function of one seed, called once per seed (vmapping
        turns a `lax.cond` whose predicate differs per seed into computing both branches:
        recurrent SAC's interval and warm-up conds would double its work).
      in_specs: SEED or SHARED per argument.
    """
    split, uneven = self._seed_split, self._uneven
    if split is None and uneven is None and vmapped:
      return fn
    if split is not None:
      devices = list(self._seed_mesh.devices.flat)
    elif uneven is not None:
      devices = [device for device, _, _ in uneven]
    else:
      devices = [jax.local_devices()[0]]
    if self._threads is None:
      self._threads = concurrent.futures.ThreadPoolExecutor(len(devices),
                                                            thread_name_prefix='seeds')

    def shares(tree, spec):  # [the tree on each device]
      if spec is SHARED:
        return [jax.device_put(tree, device) for device in devices]
      if uneven is not None:  # the seeds [a, b) of each device, copied onto it
        return [jax.device_put(jax.tree_util.tree_map(lambda x, a=a, b=b: x[a:b], tree),
                               device) for device, a, b in uneven]
      if split is None:
        return [tree]
      leaves, treedef = jax.tree_util.tree_flatten(tree)
      found = [{s.device: s.data for s in jax.device_put(x, split).addressable_shards}
               for x in leaves]
      return [treedef.unflatten([f[device] for f in found]) for device in devices]

    def one_by_one(*args):  # one device's seeds, a call each
      count = jax.tree_util.tree_leaves(
          [a for a, spec in zip(args, in_specs, strict=True) if spec is SEED])[0].shape[0]
      outs = [fn(*[a if spec is SHARED else jax.tree_util.tree_map(lambda x, i=i: x[i], a)
                   for a, spec in zip(args, in_specs, strict=True)]) for i in range(count)]
      return jax.tree_util.tree_map(lambda *xs: jax.numpy.stack(xs), *outs)

    run = fn if vmapped else one_by_one

    def call(*args):
      # every share taken before any call runs: a call may donate (delete) its inputs
      per_device = list(zip(*[shares(a, spec) for a, spec in zip(args, in_specs, strict=True)],
                            strict=True))
      parts = list(self._threads.map(lambda a: jax.block_until_ready(run(*a)), per_device))
      if uneven is not None:  # gathered on the first device, as an unsplit run holds them
        return jax.tree_util.tree_map(
            lambda *xs: jax.numpy.concatenate([jax.device_put(x, devices[0]) for x in xs]),
            *parts)
      if split is None:
        return parts[0]
      return jax.tree_util.tree_map(
          lambda *xs: jax.make_array_from_single_device_arrays(
              (sum(x.shape[0] for x in xs),) + xs[0].shape[1:], split, list(xs)), *parts)
    return call

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
    return int(np.max(np.asarray(self.state.bad_streak)))

  def before_divergence(self) -> None:
    super().before_divergence()
    if self.seed_axis:
      streaks = np.asarray(self.state.bad_streak)
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

  def log_state(self) -> dict[str, Any]:
    return self.metrics.state_dict()

  def restore_log_state(self, state: dict[str, Any] | None) -> None:
    self.metrics.load_state_dict(state)

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
    key = jax.random.fold_in(evaluator_lib.evaluator_key(self.config.seed, 0),
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

  def curriculum_state(self) -> dict[str, Any] | None:
    return None if self.curriculum is None else self.curriculum.state_dict()

  def restore_curriculum(self, state: dict[str, Any] | None) -> None:
    if self.curriculum is not None and state:
      self.curriculum.load_state_dict(state)
      self.follow_curriculum()

  def wait_final_eval(self) -> None:
    """Waits for the evaluator's evaluation of the final params (a hung or dead evaluator
    is replaced, see `receive`, so this ends)."""
    if not self.evaluator:
      return
    while self.evaluated_version != self.updates:
      self.check_stop()
      received = self.receive(self.config.launch.queue_timeout_s)
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
    return self.env_steps >= self.config.total_env_steps

  def train(self) -> None:
    if self.evaluator:
      self.start_child(EVALUATOR, evaluator_lib.run_evaluator)
    if self.config.launch.num_workers:
      self.train_distributed()
    else:
      self.train_in_process()

  def train_in_process(self) -> None:
    raise NotImplementedError

  def train_distributed(self) -> None:
    workers = [ChildId(WORKER, i) for i in range(self.config.launch.num_workers)]
    for child in workers:
      self.start_child(child, self.worker_target())
    self.publish_to_workers(workers)
    while not self.finished():
      received = self.receive(self.config.launch.queue_timeout_s)
      self.handle(received)
      if received is not None and isinstance(received.message, Work):
        self.publish_to_workers([received.child])
      self.maybe_checkpoint()
      self.check_stop()
