"""The 'seeds' trainer kind (TD-style): every seed trains in the manager, vmapped.

All `config.num_seeds` networks train in this one process: each jitted call runs whole epochs
for every seed at once, so there are no workers to feed; the seeds are split over the CPU
cores (`launch.trainers.seed_devices`), each core training its share. Between calls the
trainer writes one train.csv row per seed, evaluates every `eval.every_epochs` (one eval.csv
row per seed) and, at the end, saves params.pickle ([seeds, ...] arrays) and, with
`eval.analyze_at_end`, the analysis configs/eval.py would write of its env (for value RNNs:
value_data.pickle, value.png, hidden.png). With
`log.tensorboard`, every row's numeric cells also go to run_dir/tensorboard as scalars
seed_<seed>/train/<column> and seed_<seed>/eval/<column> at its epoch.

Checkpoints are written after the first call at which the env steps of the furthest seed
reach the next `checkpoint_every`. Updates with a NaN or Inf are skipped (train.csv counts
them in `skipped_updates`); once a seed has skipped `max_bad_updates` in a row the run stops.

An agent of this kind gives, from `spec.make(config, env)`, an object with the members of
`metarl.agents.td.TDAgent`: `init(keys, params)`, `init_data(keys)`,
`train_epochs(state, data, n)`, `batches_per_epoch`, `template`, `trainable`, `networks`,
`params_to_keep(state)` (the params saved and analysed at the end) and
`make_evaluator(env, gamma, num_trials)`.
"""

import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from launch.checkpointing import Part
from launch.console import Progress
from launch.trainers.base import Trainer
from launch.trainers.parts import Counters, Tree
from launch.trainers.seed_devices import SEED, SeedDevices
from metarl import checkpoint as checkpoint_lib
from metarl import io
from metarl.agents.freeze import count_trainable
from metarl.evaluation import EVAL_SEED

TRAIN_POSITION = ('epoch', 'updates', 'env_steps', 'wall_time', 'seed')


def load_init_params(path: str, agent_name: str, agent, num_seeds: int):
  """Params of the params file `path` (init_params_path), checked against the network
  (`checkpoint.check_init_params`, as validation checks them), [num_seeds, ...]."""
  saved = checkpoint_lib.load_params(path)
  checkpoint_lib.check_init_params(saved, agent_name, lambda key: agent.template, num_seeds)
  return jax.tree_util.tree_map(
      lambda x: jnp.broadcast_to(jnp.asarray(x), (num_seeds,) + np.shape(x)[1:]),
      saved.params)


def evaluation_key(seed: int, epoch: int):
  return jax.random.fold_in(jax.random.PRNGKey(seed), 3000 + epoch)


class SeedsTrainer(Trainer):
  """One run of a seeds-kind agent: every seed in one process."""

  position_column = 'epoch'
  not_scalars = ('epoch', 'seed')

  def __init__(self, config, spec, env):
    super().__init__(config, spec, env)
    self.agent = spec.make(config, env)
    self.seeds = [self.settings.seed + i for i in range(self.settings.num_seeds)]
    params_keys, data_keys = self.agent.seed_keys(self.settings.seed, self.settings.num_seeds)
    params = None
    if self.settings.init_params_path:
      params = load_init_params(self.settings.init_params_path, spec.name, self.agent,
                                self.settings.num_seeds)
      logging.info('starting from %s', self.settings.init_params_path)
    self.learner = Tree('training state', self.agent.init(params_keys, params))
    self.data = Tree('data state', self.agent.init_data(data_keys))
    self.devices = SeedDevices(self.settings.num_seeds)  # the seeds split over the CPU cores
    self.run_evaluator = self.agent.make_evaluator(env, config.agent.gamma,
                                                   self.settings.eval.num_episodes)
    self.epoch = 0
    self.env_steps_per_seed = np.zeros(self.settings.num_seeds, np.int64)
    self.skipped = np.zeros(self.settings.num_seeds, np.int64)  # per seed, since the last row
    self.next_log = self.settings.log_every_epochs
    # the last call's rows if not written yet, and its longest streak of skipped updates
    self._unlogged: dict[str, np.ndarray] | None = None
    self._max_streak = np.zeros(self.settings.num_seeds, np.int64)
    if self.settings.resume:
      self.resume()

  def make_progress(self) -> Progress:
    return Progress(self.config.agent.epochs, unit='epoch',
                                rate_label='epochs/s')

  def eval_every(self) -> int:
    return self.settings.eval.every_epochs

  def position(self) -> int:
    return self.epoch

  def describe(self) -> str:
    counts = count_trainable(self.agent.trainable, self.agent.template)
    return (f'{self.settings.num_seeds} seeds x {self.config.agent.epochs} epochs of '
            f'{self.agent.batches_per_epoch} updates ({counts["trainable"]} trainable, '
            f'{counts["frozen"]} frozen parameters per seed)')

  def done_message(self) -> str:
    return f'epoch {self.epoch} of {self.settings.num_seeds} seeds'

  def bad_streak(self) -> int:
    return int(np.max(np.asarray(self.learner.state.bad_streak)))

  def params_to_save(self) -> dict[str, Any]:
    return dict(params=self.agent.params_to_keep(self.learner.state), seeds=self.seeds,
                seed_axis=True,
                extra=dict(env_steps_per_seed=self.env_steps_per_seed.tolist(),
                           epochs=self.epoch))

  # Rows -------------------------------------------------------------------------------

  def _write(self, table: str, metrics: dict[str, np.ndarray]) -> None:
    updates = self.epoch * self.agent.batches_per_epoch
    for s, seed in enumerate(self.seeds):
      row = dict(epoch=self.epoch, updates=updates, env_steps=int(self.env_steps_per_seed[s]),
                 wall_time=self.schedule.elapsed(), seed=seed)
      row.update({k: float(v[s]) for k, v in sorted(metrics.items())})
      self.logs.write(table, row, self.epoch, tag_prefix=f'seed_{seed}/')
    summary = ' '.join(f'{k}={np.median(v):.4g}' for k, v in sorted(metrics.items()))
    logging.info('%s: epoch=%d median over %d seeds: %s', table, self.epoch, len(self.seeds),
                 summary)

  def write_train(self, metrics: dict[str, np.ndarray]) -> None:
    """One train.csv row per seed: the last call's metrics, and the updates skipped since
    the previous row."""
    self._write('train', dict(metrics, skipped_updates=self.skipped.astype(np.float64)))
    self.skipped[:] = 0
    while self.next_log <= self.epoch:
      self.next_log += self.settings.log_every_epochs

  def evaluate(self, final: bool) -> None:
    del final
    metrics, _, _ = self.run_evaluator(self.learner.state.params,
                                       evaluation_key(self.settings.seed, self.epoch))
    metrics = io.to_numpy(metrics)
    self._write('eval', metrics)
    self.evaluated_version = self.updates
    self.progress.note(f'eval at epoch {self.epoch}: mse median {np.median(metrics["mse"]):.3g}'
                       f', worst {np.max(metrics["mse"]):.3g} over {len(self.seeds)} seeds')
    self.progress.update(self.epoch, eval_metrics={
        'median mse': float(np.median(metrics['mse'])),
        'worst mse': float(np.max(metrics['mse']))})

  # Training ---------------------------------------------------------------------------

  def train(self) -> None:
    cfg = self.config
    # One chunk size that lands on every log and eval epoch: one compilation.
    chunk_size = math.gcd(cfg.log_every_epochs, cfg.eval.every_epochs)
    self.learner.state, self.data.state = self.devices.spread(
        (self.learner.state, self.data.state))
    while self.epoch < cfg.agent.epochs:
      chunk = min(chunk_size, cfg.agent.epochs - self.epoch)
      t0 = time.time()
      train = self.devices.over_seeds(
          lambda state, data, n=chunk: self.agent.train_epochs(state, data, n), (SEED, SEED))
      self.learner.state, self.data.state, metrics = train(self.learner.state,
                                                           self.data.state)
      metrics = io.to_numpy(metrics)
      self.epoch += chunk
      self.updates = self.epoch * self.agent.batches_per_epoch
      self.env_steps_per_seed += metrics.pop('env_steps').astype(np.int64)
      self.env_steps = int(self.env_steps_per_seed.max())
      self.skipped += metrics.pop('skipped_updates').astype(np.int64)
      max_streak = metrics.pop('max_bad_streak')
      self.progress.update(self.epoch, rate=chunk / max(time.time() - t0, 1e-9))
      logged = self.epoch >= self.next_log or self.epoch == cfg.agent.epochs
      if logged:
        self.write_train(metrics)
      self._unlogged = None if logged else metrics
      self._max_streak = max_streak
      self.check_divergence(int(np.max(max_streak)))
      self.maybe_evaluate()
      self.maybe_checkpoint()
      self.check_stop()

  def before_divergence(self) -> None:
    """Writes the diverging call's train.csv rows (if not written yet) and names the
    seeds."""
    if self._unlogged is not None:
      self.write_train(self._unlogged)
    worst = int(np.max(self._max_streak))
    seeds = [seed for seed, n in zip(self.seeds, self._max_streak, strict=True) if n == worst]
    logging.error('seed %s: %d updates in a row skipped (NaN or Inf)', seeds, worst)

  def after_run(self) -> None:
    """The analysis of the trained seeds that configs/eval.py on params.pickle writes, with
    its defaults (the analysis's episodes, its activity, the seed EVAL_SEED), so the two give
    the same tables (value RNNs: value_data.pickle and figures; Starkweather's tasks:
    beliefs.csv ...), without eval.csv."""
    if not self.settings.eval.analyze_at_end:
      return
    from metarl.analysis import registry as analyses  # matplotlib: at the end only
    analysis = analyses.analysis_for(self.config.env.name)
    saved = checkpoint_lib.SavedParams(
        agent=self.spec.name, config=self.config, env_steps=self.env_steps,
        updates=self.updates, seeds=self.seeds, seed_axis=True,
        params=io.to_numpy(self.agent.params_to_keep(self.learner.state)), extra={}, path='')
    policy = self.spec.eval_policy(self.config, self.env, analysis.log_dynamics)
    analysis.analyze(analyses.EvalRequest(
        env=self.env, policy=policy, params=policy.select(saved.params), saved=saved,
        num_episodes=analysis.num_episodes, log_dynamics=analysis.log_dynamics,
        key=jax.random.PRNGKey(EVAL_SEED), out_dir=self.settings.run_dir, offline=False))

  # Checkpoints ------------------------------------------------------------------------

  def parts(self) -> dict[str, Part]:
    """The schedule, each seed's training and data states, and the epoch counters (with
    train.csv's next row and the updates skipped since the last one)."""
    return dict(super().parts(), learner=self.learner, data=self.data,
                counters=Counters(self, ('epoch', 'next_log', 'env_steps_per_seed', 'skipped'),
                                  self._counters))

  def _counters(self, values: dict[str, Any]) -> dict[str, Any]:
    """Restored counters as this run holds them, if they are of its seeds."""
    env_steps = np.asarray(values['env_steps_per_seed'], np.int64)
    skipped = np.asarray(values['skipped'], np.int64)
    if env_steps.shape != self.env_steps_per_seed.shape or skipped.shape != self.skipped.shape:
      raise ValueError(f'{env_steps.size} seeds, num_seeds is {self.settings.num_seeds}')
    return dict(epoch=int(values['epoch']), next_log=int(values['next_log']),
                env_steps_per_seed=env_steps, skipped=skipped)
