"""The periodic aggregation of training metrics into train.csv rows (the env-step kinds):
one period's sums, which a checkpoint saves and a resume restores."""

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import logging

from launch.console import format_row
from launch.run_logs import RunLogs
from metarl import io


class TrainMetrics:
  """The periodic aggregation of training metrics into train.csv rows (env-step kinds).

  `columns`: metrics that get a column from the first row on, even when not reported in it
  (e.g. episode_return before an episode ended); `latest`: logged with their newest value
  instead of the period's mean; `summed`: counts, logged as their sum over the period.
  """

  def __init__(self, logs: RunLogs, log_every: int, start_time: float,
               columns: Sequence[str] = (), latest: Sequence[str] = (),
               summed: Sequence[str] = ('skipped_updates',), seed: int | None = None):
    self._logs = logs
    self._seed = seed  # a run of several seeds: the rows' seed column and TensorBoard group
    self._latest, self._summed = set(latest), set(summed)
    self._log_every = log_every
    self.next_log = log_every
    self._start = start_time
    self._columns = list(columns)
    self._sums: dict[str, float] = {}
    self._counts: dict[str, int] = {}
    self._count = 0
    self._last_steps, self._last_time = 0, start_time
    self.steps_per_sec = 0.0

  def elapsed(self) -> float:
    return time.time() - self._start

  def save(self) -> dict[str, Any]:
    """What a checkpoint needs to continue: the period's partial sums."""
    return dict(sums=dict(self._sums), counts=dict(self._counts), count=self._count,
                next_log=self.next_log, last_steps=self._last_steps, elapsed=self.elapsed())

  def restore(self, saved: dict[str, Any], path: str) -> None:
    try:
      sums, counts = dict(saved['sums']), dict(saved['counts'])
      count, next_log = int(saved['count']), int(saved['next_log'])
      last_steps, elapsed = int(saved['last_steps']), float(saved['elapsed'])
    except (KeyError, TypeError, ValueError) as e:
      raise io.RunFileError(f'{path}: its train.csv state is not one this metarl wrote '
                            f'({type(e).__name__}: {e})') from e
    self._sums, self._counts, self._count, self.next_log = sums, counts, count, next_log
    self._last_steps = last_steps
    self._start = time.time() - elapsed

  def add(self, metrics: dict[str, float], env_steps: int, updates: int) -> None:
    """Adds one call's metrics; writes a train.csv row once a logging period is over.
    Each metric is averaged over the calls that reported it."""
    for k, v in metrics.items():
      keep = k in self._latest
      self._sums[k] = (0.0 if keep else self._sums.get(k, 0.0)) + float(v)
      self._counts[k] = 1 if keep else self._counts.get(k, 0) + 1
    self._count += 1
    if env_steps >= self.next_log:
      self.flush(env_steps, updates)

  def flush(self, env_steps: int, updates: int) -> None:
    """Writes the row of the metrics gathered since the last one, if any."""
    if not self._count:
      return
    now = time.time()
    self.steps_per_sec = (env_steps - self._last_steps) / max(now - self._last_time, 1e-9)
    row = dict(env_steps=env_steps, updates=updates, wall_time=now - self._start)
    if self._seed is not None:
      row['seed'] = self._seed
    row['env_steps_per_sec'] = self.steps_per_sec
    row.update({k: float('nan') for k in self._columns})
    row.update({k: v if k in self._summed else v / self._counts[k]
                for k, v in sorted(self._sums.items())})
    self._logs.write('train', row, env_steps,
                     tag_prefix='' if self._seed is None else f'seed_{self._seed}/')
    logging.info('train: %s', format_row(row))
    self._sums, self._counts, self._count = {}, {}, 0
    self._last_steps, self._last_time = env_steps, now
    while self.next_log <= env_steps:
      self.next_log += self._log_every


class SeedsTrainMetrics:
  """`TrainMetrics` of the seeds of a vmapped run: `add` takes metrics with a leading seed
  axis (scalars count for every seed) and each seed writes its own train.csv rows."""

  def __init__(self, seeds: Sequence[int], *args, **kwargs):
    self.per_seed = [TrainMetrics(*args, seed=seed, **kwargs) for seed in seeds]

  @property
  def next_log(self) -> int:
    return self.per_seed[0].next_log

  @property
  def steps_per_sec(self) -> float:
    """Env steps per second of all seeds together (the progress line's rate)."""
    return sum(m.steps_per_sec for m in self.per_seed)

  def elapsed(self) -> float:
    return self.per_seed[0].elapsed()

  def save(self) -> dict[str, Any]:
    return dict(seeds=[m.save() for m in self.per_seed])

  def restore(self, saved: dict[str, Any], path: str) -> None:
    states = saved.get('seeds') if isinstance(saved, dict) else None
    if not isinstance(states, list) or len(states) != len(self.per_seed):
      raise io.RunFileError(f'{path}: its train.csv state is not one of '
                            f'{len(self.per_seed)} seeds')
    for m, s in zip(self.per_seed, states, strict=True):
      m.restore(s, path)

  def add(self, metrics, env_steps: int, updates: int) -> None:
    """`metrics`: {name: [seeds] array or a scalar for all}, or a list of each seed's."""
    for i, m in enumerate(self.per_seed):
      mine = (metrics[i] if isinstance(metrics, list) else
              {k: v if np.ndim(v) == 0 else v[i] for k, v in metrics.items()})
      m.add(mine, env_steps, updates)

  def flush(self, env_steps: int, updates: int) -> None:
    for m in self.per_seed:
      m.flush(env_steps, updates)
