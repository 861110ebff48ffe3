"""The manager's training loop for the `td` agent (value RNNs, seed 000).

All `config.num_seeds` networks train in this one process: each jitted call runs whole epochs
for every seed at once (vmapped), so there are no workers to feed. Between calls the manager
writes one train.csv row per seed, evaluates every `eval.every_epochs` (MSE of Vhat against
the true value on fresh trials, one eval.csv row per seed) and, at the end, saves
params.pickle ([seeds, ...] arrays) and the analysis (value_data.pickle, value.png,
hidden.png). Ctrl-C saves params before stopping.
"""

import math
import os
import time
from typing import Dict

import jax
import numpy as np
from absl import logging

from launch.manager import Progress
from metarl import envs, io
from metarl.agents import td
from metarl.agents.freeze import count_trainable
from metarl.analysis import value as value_analysis

TRAIN_POSITION = ('epoch', 'updates', 'env_steps', 'wall_time', 'seed')


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
    self.start = time.time()
    self.logs = {}  # 'train' / 'eval' -> CsvLog, opened with the first row
    self.progress = Progress(config.agent.epochs, unit='epoch', rate_label='epochs/s')

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
      log.write(row)
    summary = ' '.join(f'{k}={np.median(v):.4g}' for k, v in sorted(metrics.items()))
    logging.info('%s: epoch=%d median over %d seeds: %s', name, self.epoch, len(self.seeds),
                 summary)

  def run_evaluation(self) -> Dict[str, np.ndarray]:
    metrics, _, _ = self.evaluate(self.state.params,
                                  evaluation_key(self.config.seed, self.epoch))
    metrics = io.to_numpy(metrics)
    self._write('eval', metrics)
    self.progress.update(self.epoch, eval_metrics={
        'median mse': float(np.median(metrics['mse'])),
        'worst mse': float(np.max(metrics['mse']))})
    return metrics

  def train(self) -> None:
    cfg = self.config
    next_log, next_eval = cfg.log_every_epochs, cfg.eval.every_epochs
    # One chunk size that lands on every log and eval epoch: one compilation.
    chunk_size = math.gcd(cfg.log_every_epochs, cfg.eval.every_epochs)
    while self.epoch < cfg.agent.epochs:
      chunk = min(chunk_size, cfg.agent.epochs - self.epoch)
      t0 = time.time()
      self.state, self.data, metrics = self.agent.train_epochs(self.state, self.data, chunk)
      metrics = io.to_numpy(metrics)
      self.epoch += chunk
      self.env_steps += metrics.pop('env_steps').astype(np.int64)
      self.progress.update(self.epoch, steps_per_sec=chunk / max(time.time() - t0, 1e-9))
      if self.epoch >= next_log or self.epoch == cfg.agent.epochs:
        self._write('train', metrics)
        next_log += cfg.log_every_epochs
      if self.epoch >= next_eval:
        self.run_evaluation()
        next_eval += cfg.eval.every_epochs

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

  def run(self) -> str:
    cfg = self.config
    counts = count_trainable(self.agent.trainable, self.agent.template)
    logging.info('training %s in %s: %d seeds x %d epochs of %d updates (%d trainable, '
                 '%d frozen parameters per seed)', cfg.name, cfg.run_dir, cfg.num_seeds,
                 cfg.agent.epochs, self.agent.batches_per_epoch, counts['trainable'],
                 counts['frozen'])
    try:
      self.train()
      path = self.save_params()
      if self.epoch % cfg.eval.every_epochs:  # the last epoch was not evaluated yet
        self.run_evaluation()
      if cfg.eval.analyze_at_end:
        value_analysis.analyze(self.env, self.agent.networks, self.state.params,
                               cfg.run_dir, cfg.agent.gamma, cfg.eval.num_episodes,
                               evaluation_key(cfg.seed, -1), self.seeds,
                               write_eval_csv=False, evaluate=self.evaluate)
      logging.info('done: %d epochs x %d seeds in %.1fs; params in %s', self.epoch,
                   cfg.num_seeds, time.time() - self.start, path)
    except KeyboardInterrupt:
      path = self.save_params()
      logging.warning('interrupted at epoch %d; params saved to %s', self.epoch, path)
      raise
    finally:
      self.close()
    return cfg.run_dir
