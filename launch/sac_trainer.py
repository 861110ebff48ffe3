"""The recurrent SAC manager (the learner) and its worker loop.

  launch.num_workers == 0: acting, replay insertion and learning run here,
    `launch.updates_per_call` env-step iterations fused per jitted call.
  launch.num_workers > 0: each spawned worker steps `agent.num_envs` environments with the
    newest actor params it has and sends chunks of `agent.unroll_length` steps; the manager
    adds a chunk to the worker's replay rows, runs `replay_ratio` ticks per env step it
    holds (one jitted scan) and sends that worker the new actor params.
Evaluation (inline or in the evaluator process) runs the deterministic policy; on the
memory task it also measures seed 004's accuracy. Files: as the other agents, with
train.csv columns for the critic, actor and temperature losses, alpha, entropy, Q, the
replay size, the mean return of the episodes that ended and the updates skipped for a NaN
or Inf. Checkpoints hold the learner state, the counters, the in-process actor state and,
with `checkpoint_replay`, the replay contents; a run resumed without them fills its replay
again through the warm-up phases before it learns.
"""

import math
import os
import time
from typing import Any, Dict

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from launch import manager
from launch import worker as worker_lib
from metarl import checkpoint as checkpoint_lib
from metarl import envs, io
from metarl.agents import rsac
from metarl.replay import sequence as replay_lib

TRAIN_COLUMNS = ('episode_return', 'critic_loss', 'actor_loss', 'alpha_loss', 'alpha',
                 'entropy', 'q_mean', 'target_mean', 'critic_updates', 'actor_updates',
                 'replay_size', 'skipped_updates')


def num_rows(config) -> int:
  """Replay rows: one per environment copy of the run."""
  return config.agent.num_envs * max(1, config.launch.num_workers)


def ticks_per_chunk(config) -> int:
  steps = config.agent.num_envs * (config.agent.unroll_length if config.launch.num_workers
                                   else 1)
  return int(round(config.agent.replay_ratio * steps))


class SACTrainer(manager.Trainer):
  """State and bookkeeping of one recurrent SAC run."""

  def __init__(self, config):  # pylint: disable=super-init-not-called
    self.config = config
    self.env = envs.make(config.env)
    self.networks = rsac.make_networks(config, self.env)
    self.learner = rsac.make_learner(self.networks, rsac.learner_config(config, self.env),
                                     ticks_per_chunk(config))
    learner_key, act_key, self.train_key = jax.random.split(jax.random.PRNGKey(config.seed),
                                                            3)
    self.state = self.learner.init(learner_key)
    self.act_key = act_key
    rows = num_rows(config)
    self.replay = replay_lib.init(rows, config.replay.capacity // rows,
                                  self.env.spec.observation_shape, self.env.spec.action_dim)
    self._add = jax.jit(replay_lib.add)
    self._calls = 0
    self._steps_offset = 0  # env steps not in the replay (a resume without its contents)
    self.act_state = None  # single-process acting state
    self.start_run(train_columns=TRAIN_COLUMNS, latest=('alpha', 'replay_size'))
    if config.get('resume', False):
      self.resume()

  def _make_actor(self):
    cfg = self.config
    return rsac.make_actor(self.env, self.networks, cfg.agent.num_envs, cfg.agent.warmup_steps)

  def _learning_steps(self):
    """The env-step count the warm-ups compare with: the steps the replay has seen."""
    return jnp.int32(self.env_steps - self._steps_offset)

  # Checkpoints -------------------------------------------------------------------------

  def checkpoint_arrays(self) -> Dict[str, Any]:
    arrays = dict(state=checkpoint_lib.tree_leaves(self.state))
    if self.config.get('checkpoint_replay', True):
      arrays['replay'] = checkpoint_lib.tree_leaves(self.replay)
    if self.act_state is not None:
      arrays['act_state'] = checkpoint_lib.tree_leaves(self.act_state)
    return arrays

  def checkpoint_counters(self) -> Dict[str, int]:
    return dict(calls=self._calls, steps_offset=self._steps_offset)

  def restore_arrays(self, arrays: Dict[str, Any], path: str) -> None:
    self.state = checkpoint_lib.restore_tree(self.state, arrays['state'], 'learner state',
                                             path)
    if 'replay' in arrays:
      self.replay = checkpoint_lib.restore_tree(self.replay, arrays['replay'], 'replay', path)
    if 'act_state' in arrays and not self.config.launch.num_workers:
      template = self._make_actor().init(self.act_key)
      self.act_state = checkpoint_lib.restore_tree(template, arrays['act_state'],
                                                   'actor state', path)

  def restore_counters(self, counters: Dict[str, int], arrays: Dict[str, Any]) -> None:
    self._calls = counters['calls']
    self._steps_offset = counters['steps_offset']
    if 'replay' not in arrays:  # an empty replay: the warm-ups start again from here
      self._steps_offset = self.env_steps
      self.act_state = None
      logging.info('the checkpoint holds no replay contents: refilling it from %d env steps '
                   '(warm-ups again)', self.env_steps)

  def describe(self) -> str:
    return (f'recurrent SAC, {num_rows(self.config)} env copies, replay ratio '
            f'{self.config.agent.replay_ratio}, {self.config.launch.num_workers} workers')

  def published_params(self):
    return self.state.params.actor  # workers and evaluators only act

  def _next_key(self):
    self._calls += 1
    return jax.random.fold_in(self.train_key, self._calls)

  def _record(self, metrics: Dict[str, Any], ticks: int) -> None:
    metrics = io.to_floats(metrics)
    metrics.update(rsac.episode_stats(metrics))
    for name in ('critic_updates', 'actor_updates'):  # per tick, not averaged over calls
      metrics[name] = metrics[name] / max(ticks, 1)
    metrics['replay_size'] = float(replay_lib.size(self.replay))
    self.updates += ticks
    self.after_update(metrics)

  # Single process ----------------------------------------------------------------------

  def train_in_process(self) -> None:
    cfg = self.config
    num_envs = cfg.agent.num_envs
    actor = self._make_actor()
    if self.act_state is None:
      key = self.act_key  # a refill after a resume without replay acts on a new stream
      if self._steps_offset:
        key = jax.random.fold_in(key, self._steps_offset)
      self.act_state = actor.init(key)
    ticks = ticks_per_chunk(cfg)
    total_iterations = math.ceil(cfg.total_env_steps / num_envs)
    per_call = min(cfg.launch.updates_per_call, total_iterations)
    runs = {}
    done = self.env_steps // num_envs
    with manager.deferred_interrupts() as stop:  # as in manager.Trainer.train_in_process
      while done < total_iterations:
        n = min(per_call, total_iterations - done)
        args = (self.state, self.act_state, self.replay, self._learning_steps(),
                self._next_key())
        if n not in runs:
          t = time.monotonic()
          runs[n] = rsac.make_in_process_train(actor, self.learner, num_envs, ticks,
                                               n).lower(*args).compile()
          logging.info('compiled the training call (%d env-step iterations) in %.2fs', n,
                       time.monotonic() - t)
        self.state, self.act_state, self.replay, metrics = runs[n](*args)
        done += n
        self.env_steps += n * num_envs
        self._record(metrics, n * ticks)
        self._poll_evaluator()
        self.maybe_checkpoint()
        if stop.requested:
          raise KeyboardInterrupt

  # Workers -----------------------------------------------------------------------------

  def handle(self, message) -> None:
    if message is None:
      return
    if message['kind'] == 'eval':
      self.record_eval(message)
      return
    if message['kind'] != 'chunk':
      return
    worker = message['worker']
    b = self.config.agent.num_envs
    rows = jnp.arange(worker * b, (worker + 1) * b)
    self.replay = self._add(self.replay, rows, message['steps'])
    self.env_steps += message['env_steps']
    self.state, metrics = self.learner.train(self.state, self.replay,
                                             self._learning_steps(), self._next_key())
    metrics = dict(metrics, **message['stats'])
    self._record(metrics, ticks_per_chunk(self.config))

  def replace_child(self, failure) -> None:
    """As the base class; a replaced worker's replay rows end their episodes first (the new
    worker starts new ones)."""
    super().replace_child(failure)
    if failure.name and failure.name.startswith('worker-'):
      b = self.config.agent.num_envs
      worker = int(failure.name.split('-')[1])
      self.replay = replay_lib.end_episodes(self.replay,
                                            jnp.arange(worker * b, (worker + 1) * b))

  WORK_KIND = 'chunk'

  def worker_target(self):
    return run_worker

  def finished(self) -> bool:
    return self.env_steps >= self.config.total_env_steps

  def save_params(self) -> str:
    path = os.path.join(self.config.run_dir, 'params.pickle')
    params = self.state.params
    io.save_pickle(path, dict(
        params=io.to_numpy(dict(actor=params.actor, critic=params.critic,
                                target_critic=params.target_critic,
                                log_alpha=params.log_alpha)),
        config=io.config_to_dict(self.config), env_steps=self.env_steps,
        updates=self.updates, agent='rsac'))
    return path


def run_worker(ctx, config, worker_id: int) -> None:
  """A worker loop (runs in a child process; see `launch.backends.mp`): act with the newest
  actor params, send each chunk of steps with the episode returns that ended in it."""
  env = envs.make(config.env)
  networks = rsac.make_networks(config, env)
  b, t = config.agent.num_envs, config.agent.unroll_length
  actor = rsac.make_actor(env, networks, b, config.agent.warmup_steps, unroll_length=t)
  unroll = jax.jit(actor.unroll)
  state = actor.init(worker_lib.worker_key(config.seed, worker_id))
  message = ctx.first_params(config.launch.queue_timeout_s)
  if message is None:
    return
  local_steps = 0  # env steps of this worker since the params' env_steps
  version = message['version']
  while not ctx.should_stop():
    if message['version'] != version:
      version, local_steps = message['version'], 0
    env_steps = message['env_steps'] + local_steps * config.launch.num_workers
    state, steps, stats = unroll(message['params'], state, jnp.int32(env_steps))
    local_steps += b * t
    sent = ctx.send({'kind': 'chunk', 'worker': worker_id, 'version': version,
                     'steps': jax.tree_util.tree_map(np.asarray, steps),
                     'stats': io.to_floats(stats),
                     'env_steps': b * t})
    if not sent:
      return
    message = ctx.poll_params() or message
