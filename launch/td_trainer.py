"""The manager's training loop for the `td` agent (value RNNs, seed 000).

All `config.num_seeds` networks train in this one process: each jitted call runs whole epochs
for every seed at once (vmapped), so there are no workers to feed. Between calls the manager
writes one train.csv row per seed, evaluates every `eval.every_epochs` (MSE of Vhat against
the true value on fresh trials, one eval.csv row per seed) and, at the end, saves
params.pickle ([seeds, ...] arrays) and the analysis (value_data.pickle, value.png,
hidden.png). With `log.tensorboard`, every row's numeric cells also go to run_dir/tensorboard
as scalars seed_<seed>/train/<column> and seed_<seed>/eval/<column> at its epoch.

Faults: a checkpoint (run_dir/checkpoints) is written after the first call at which the
env steps of the furthest seed reach the next `checkpoint_every`, at the end, and when
Ctrl-C or SIGTERM stops the run (they take effect between calls, after its rows and its
params are saved); `resume=True` continues from the newest one exactly, as if never stopped.
Updates with a NaN or Inf are skipped (train.csv counts them in `skipped_updates`); once a
seed has skipped `max_bad_updates` in a row the run stops with `TrainingDiverged`.
"""

import math
import os
import time
from typing import Dict

import jax
import numpy as np
from absl import logging

from launch.manager import Progress, TrainingDiverged, deferred_interrupts, diverged_message
from metarl import checkpoint as checkpoint_lib
from metarl import envs, io
from metarl.agents import td
from metarl.agents.freeze import count_trainable
from metarl.analysis import value as value_analysis

TRAIN_POSITION = ('epoch', 'updates', 'env_steps', 'wall_time', 'seed')
NOT_SCALARS = ('epoch', 'seed')  # a row's TensorBoard step and tag prefix


def load_init_params(config, template):
  """Params of `config.init_params_path`, checked against the network, [num_seeds, ...]."""
  payload = io.load_pickle(config.init_params_path, required_keys=('params', 'agent'))
  if payload['agent'] != 'td':
    raise io.RunFileError(f'{config.init_params_path}: params of the '
                          f'{payload["agent"]!r} agent cannot start a td run')
  try:
    return td.match_params(payload['params'], template, config.num_seeds,
                           config.init_params_path)
  except ValueError as e:
    raise io.RunFileError(str(e))


def evaluation_key(seed: int, epoch: int):
  return jax.random.fold_in(jax.random.PRNGKey(seed), 3000 + epoch)


class TDTrainer:
  """One td training run: every seed in one process."""

  def __init__(self, config):
    self.config = config
    self.env = envs.make(config.env)
    self.agent = td.make_agent(config, self.env)
    self.seeds = [config.seed + i for i in range(config.num_seeds)]
    params_keys, data_keys = td.seed_keys(config.seed, config.num_seeds)
    params = None
    if config.init_params_path:
      params = load_init_params(config, self.agent.template)
      logging.info('starting from %s', config.init_params_path)
    self.state = self.agent.init(params_keys, params)
    self.data = self.agent.init_data(data_keys)
    self.evaluate = td.make_value_evaluator(self.env, self.agent.networks,
                                            config.agent.gamma, config.eval.num_episodes)
    self.epoch = 0
    self.env_steps = np.zeros(config.num_seeds, np.int64)
    self.skipped = np.zeros(config.num_seeds, np.int64)  # per seed, since the last row
    self.next_log = config.log_every_epochs
    self.next_eval = config.eval.every_epochs
    self.next_checkpoint = config.get('checkpoint_every', 0) or None  # None: no checkpoints
    self.last_eval_epoch = -1
    self.good_checkpoint = None  # the newest checkpoint written while no seed skipped
    self._checkpointed_epoch = -1
    self.start = time.time()
    self.logs = {}  # 'train' / 'eval' -> CsvLog, opened with the first row
    self._tensorboard_on = io.tensorboard_on(config)
    self.tensorboard = None  # io.TensorBoardLog with config.log.tensorboard, opened likewise
    self._purge_step = None  # a resumed run's first epoch written again
    self.progress = Progress(config.agent.epochs, unit='epoch', rate_label='epochs/s')
    if config.get('resume', False):
      self.resume()

  def _rows(self, metrics: Dict[str, np.ndarray]):
    updates = self.epoch * self.agent.batches_per_epoch
    for s, seed in enumerate(self.seeds):
      row = dict(epoch=self.epoch, updates=updates, env_steps=int(self.env_steps[s]),
                 wall_time=time.time() - self.start, seed=seed)
      row.update({k: float(v[s]) for k, v in sorted(metrics.items())})
      yield row

  def _write(self, name: str, metrics) -> None:
    rows = list(self._rows(metrics))
    if name not in self.logs:
      self.logs[name] = io.CsvLog(os.path.join(self.config.run_dir, f'{name}.csv'),
                                  list(rows[0]))
    log = self.logs[name]
    for row in rows:
      cells = log.write(row)
      if self._tensorboard_on:
        if self.tensorboard is None:
          self.tensorboard = io.TensorBoardLog(self.config.run_dir, self._purge_step)
        self.tensorboard.write({f'seed_{row["seed"]}/{name}/{k}': v for k, v in cells.items()
                                if k not in NOT_SCALARS}, self.epoch)
    summary = ' '.join(f'{k}={np.median(v):.4g}' for k, v in sorted(metrics.items()))
    logging.info('%s: epoch=%d median over %d seeds: %s', name, self.epoch, len(self.seeds),
                 summary)

  def write_train(self, metrics: Dict[str, np.ndarray]) -> None:
    """One train.csv row per seed: the last call's metrics, and the updates skipped since
    the previous row."""
    self._write('train', dict(metrics, skipped_updates=self.skipped.astype(np.float64)))
    self.skipped[:] = 0
    while self.next_log <= self.epoch:
      self.next_log += self.config.log_every_epochs

  def run_evaluation(self) -> Dict[str, np.ndarray]:
    metrics, _, _ = self.evaluate(self.state.params,
                                  evaluation_key(self.config.seed, self.epoch))
    metrics = io.to_numpy(metrics)
    self._write('eval', metrics)
    self.last_eval_epoch = self.epoch
    self.progress.update(self.epoch, eval_metrics={
        'median mse': float(np.median(metrics['mse'])),
        'worst mse': float(np.max(metrics['mse']))})
    return metrics

  def train(self, stop=None) -> None:
    """Trains to `agent.epochs`; raises KeyboardInterrupt after the call during which
    `stop.requested` was set (see `launch.manager.deferred_interrupts`)."""
    cfg = self.config
    # One chunk size that lands on every log and eval epoch: one compilation.
    chunk_size = math.gcd(cfg.log_every_epochs, cfg.eval.every_epochs)
    while self.epoch < cfg.agent.epochs:
      chunk = min(chunk_size, cfg.agent.epochs - self.epoch)
      t0 = time.time()
      self.state, self.data, metrics = self.agent.train_epochs(self.state, self.data, chunk)
      metrics = io.to_numpy(metrics)
      self.epoch += chunk
      self.env_steps += metrics.pop('env_steps').astype(np.int64)
      self.skipped += metrics.pop('skipped_updates').astype(np.int64)
      max_streak = metrics.pop('max_bad_streak')
      self.progress.update(self.epoch, steps_per_sec=chunk / max(time.time() - t0, 1e-9))
      logged = self.epoch >= self.next_log or self.epoch == cfg.agent.epochs
      if logged:
        self.write_train(metrics)
      self.check_bad_streak(max_streak, None if logged else metrics)
      if self.epoch >= self.next_eval:
        self.run_evaluation()
        while self.next_eval <= self.epoch:
          self.next_eval += cfg.eval.every_epochs
      self.maybe_checkpoint()
      if stop is not None and stop.requested:
        raise KeyboardInterrupt

  def check_bad_streak(self, max_streak: np.ndarray, unlogged_metrics=None) -> None:
    """Stops the run once a seed skipped `config.max_bad_updates` updates in a row during
    the last call; its train.csv row (`unlogged_metrics`, if not written yet) first."""
    worst = int(np.max(max_streak))
    if worst < self.config.get('max_bad_updates', 100):
      return
    if unlogged_metrics is not None:
      self.write_train(unlogged_metrics)
    seeds = [seed for seed, n in zip(self.seeds, max_streak) if n == worst]
    logging.error('seed %s: %d updates in a row skipped (NaN or Inf)', seeds, worst)
    raise TrainingDiverged(diverged_message(self.config.run_dir, worst,
                                            int(self.env_steps.max()), self.good_checkpoint))

  # Checkpoints ------------------------------------------------------------------------

  def save_checkpoint(self) -> str:
    """Writes everything a resume needs (numpy leaves of the training and data states,
    counters, schedules, elapsed time) as the newest checkpoint."""
    cfg = self.config
    payload = dict(
        env_steps=int(self.env_steps.max()), env_steps_per_seed=self.env_steps.tolist(),
        updates=self.epoch * self.agent.batches_per_epoch, epoch=self.epoch,
        next_log=self.next_log, next_eval=self.next_eval,
        next_checkpoint=self.next_checkpoint, last_eval_epoch=self.last_eval_epoch,
        skipped=self.skipped.tolist(), elapsed=time.time() - self.start,
        arrays=dict(state=checkpoint_lib.tree_leaves(self.state),
                    data=checkpoint_lib.tree_leaves(self.data)),
        seeds=self.seeds, config=io.config_to_dict(cfg), agent='td')
    t0 = time.time()
    path = checkpoint_lib.save(cfg.run_dir, payload, cfg.get('keep_checkpoints', 3))
    self._checkpointed_epoch = self.epoch
    if not np.any(np.asarray(self.state.bad_streak)):
      self.good_checkpoint = path
    logging.info('checkpoint at epoch %d (%d env steps): %s (%.3fs)', self.epoch,
                 payload['env_steps'], path, time.time() - t0)
    return path

  def maybe_checkpoint(self) -> None:
    steps = int(self.env_steps.max())
    if self.next_checkpoint is not None and steps >= self.next_checkpoint:
      while self.next_checkpoint <= steps:
        self.next_checkpoint += self.config.checkpoint_every
      self.save_checkpoint()

  def resume(self) -> None:
    """Continues the run in `config.run_dir` from its newest checkpoint: the states are put
    back into freshly built ones (a checkpoint of another config is refused with one
    `io.RunFileError` line) and CSV rows written after it are dropped (they come again)."""
    cfg = self.config
    path, payload = checkpoint_lib.load_for_resume(cfg.run_dir, 'td')
    arrays = payload['arrays']
    for name, what in (('state', 'training state'), ('data', 'data state')):
      if not isinstance(arrays.get(name), list):
        raise io.RunFileError(f'{path}: not a td checkpoint (no {what})')
    self.state = checkpoint_lib.restore_tree(self.state, arrays['state'], 'training state',
                                             path)
    self.data = checkpoint_lib.restore_tree(self.data, arrays['data'], 'data state', path)
    try:
      env_steps = np.asarray(payload['env_steps_per_seed'], np.int64)
      skipped = np.asarray(payload['skipped'], np.int64)
      if env_steps.shape != self.env_steps.shape or skipped.shape != self.skipped.shape:
        raise ValueError(f'{env_steps.size} seeds, config.num_seeds is {cfg.num_seeds}')
      self.epoch = int(payload['epoch'])
      self.next_log, self.next_eval = int(payload['next_log']), int(payload['next_eval'])
      if self.next_checkpoint is not None:  # checkpoint_every = 0 turns them off
        self.next_checkpoint = int(payload['next_checkpoint'] or cfg.checkpoint_every)
      self.last_eval_epoch = int(payload['last_eval_epoch'])
      elapsed = float(payload['elapsed'])
    except (KeyError, TypeError, ValueError) as e:
      raise io.RunFileError(f'{path}: not a td checkpoint of this config '
                            f'({type(e).__name__}: {e})')
    self.env_steps, self.skipped = env_steps, skipped
    self.start = time.time() - elapsed
    self._checkpointed_epoch = self.epoch
    if not np.any(np.asarray(self.state.bad_streak)):
      self.good_checkpoint = path
    for name in ('train.csv', 'eval.csv'):
      io.truncate_csv(os.path.join(cfg.run_dir, name), self.epoch, column='epoch')
    self._purge_step = self.epoch + 1
    self.progress.update(self.epoch)
    logging.info('resumed from %s at epoch %d (%d env steps)', path, self.epoch,
                 int(self.env_steps.max()))

  # The run ----------------------------------------------------------------------------

  def save_params(self) -> str:
    path = os.path.join(self.config.run_dir, 'params.pickle')
    io.save_pickle(path, dict(params=io.to_numpy(self.state.params),
                              config=io.config_to_dict(self.config),
                              env_steps=int(self.env_steps.max()),
                              env_steps_per_seed=self.env_steps.tolist(),
                              updates=self.epoch * self.agent.batches_per_epoch,
                              epochs=self.epoch, seeds=self.seeds, agent='td'))
    return path

  def close(self) -> None:
    self.progress.close()
    for log in self.logs.values():
      log.close()
    if self.tensorboard is not None:
      self.tensorboard.close()

  def run(self) -> str:
    cfg = self.config
    counts = count_trainable(self.agent.trainable, self.agent.template)
    logging.info('training %s in %s: %d seeds x %d epochs of %d updates (%d trainable, '
                 '%d frozen parameters per seed)', cfg.name, cfg.run_dir, cfg.num_seeds,
                 cfg.agent.epochs, self.agent.batches_per_epoch, counts['trainable'],
                 counts['frozen'])
    try:
      # Ctrl-C / SIGTERM take effect between calls, so the state, counters and rows a
      # checkpoint saves always belong together.
      with deferred_interrupts() as stop:
        self.train(stop)
        path = self.save_params()
        if self.last_eval_epoch != self.epoch:  # the last epoch was not evaluated yet
          self.run_evaluation()
        if self.next_checkpoint is not None:
          self.save_checkpoint()
      if stop.requested:  # during the final evaluation: training is done, the analysis not
        raise KeyboardInterrupt
      if cfg.eval.analyze_at_end:
        value_analysis.analyze(self.env, self.agent.networks, self.state.params,
                               cfg.run_dir, cfg.agent.gamma, cfg.eval.num_episodes,
                               evaluation_key(cfg.seed, -1), self.seeds,
                               write_eval_csv=False, evaluate=self.evaluate)
      logging.info('done: %d epochs x %d seeds in %.1fs; params in %s', self.epoch,
                   cfg.num_seeds, time.time() - self.start, path)
    except KeyboardInterrupt:
      path = self.save_params()
      if self.next_checkpoint is not None and self._checkpointed_epoch != self.epoch:
        self.save_checkpoint()
      logging.warning('interrupted at epoch %d; params saved to %s', self.epoch, path)
      raise
    except TrainingDiverged:
      path = self.save_params()  # skipped updates left every seed's params finite
      logging.error('stopped at epoch %d: updates kept failing; params saved to %s',
                    self.epoch, path)
      raise
    finally:
      self.close()
    return cfg.run_dir
