"""The 'replay' trainer kind (SAC-style): acting into a sequence replay, learning from it.

  launch.num_workers == 0: acting, replay insertion and learning run here,
    `launch.updates_per_call` env-step iterations fused per jitted call.
  launch.num_workers > 0: each spawned worker steps `agent.num_envs` environments with the
    newest actor params it has and sends chunks of `agent.unroll_length` steps; the manager
    adds a chunk to the worker's replay rows, runs `replay_ratio` ticks per env step it
    holds (one jitted scan) and sends that worker the new actor params.

train.csv has the learner's losses, temperature, entropy, Q, the replay size, the mean return
of the episodes that ended and the updates skipped for a NaN or Inf. Checkpoints hold the
learner state, the counters, the in-process actor state and, with `checkpoint_replay`, the
replay contents; a run resumed without them fills its replay again through the warm-up
phases before it learns. An agent of this kind gives `metarl.agents.rsac.RSACAgent`'s
members from `spec.make(config, env)`; its published params are {'actor': actor params}.
"""

import math
import time
from typing import Any

import jax
import jax.numpy as jnp
from absl import logging

from launch.backends.base import WORKER, ChildId, Work
from launch.trainers.env_steps import EnvStepTrainer
from launch.trainers.seed_devices import SEED, SHARED
from metarl import checkpoint as checkpoint_lib
from metarl import io
from metarl.agents.rsac import episode_stats
from metarl.agents.rsac.config import num_rows
from metarl.replay import sequence as replay_lib

TRAIN_COLUMNS = ('episode_return', 'critic_loss', 'actor_loss', 'alpha_loss', 'alpha',
                 'entropy', 'q_mean', 'target_mean', 'critic_updates', 'actor_updates',
                 'replay_size', 'skipped_updates')


class ReplayTrainer(EnvStepTrainer):
  """One run of a replay-kind agent."""

  def __init__(self, config, spec, env):
    super().__init__(config, spec, env, train_columns=TRAIN_COLUMNS,
                     latest=('alpha', 'replay_size'))
    self.agent = spec.make(config, env)
    learner_key, self.act_key, self.train_key = self.seed_keys(3)
    self.state = self.seeded(self.agent.learner.init)(learner_key)
    rows = num_rows(config)
    self.replay = replay_lib.init(rows, config.replay.capacity // rows,
                                  env.spec.observation_shape, env.spec.action_dim)
    if self.seed_axis:  # a replay per seed
      self.replay = jax.tree_util.tree_map(
          lambda x: jnp.broadcast_to(x, (len(self.seeds),) + x.shape), self.replay)
    self._add = jax.jit(replay_lib.add)
    self._calls = 0
    self._steps_offset = 0  # env steps not in the replay (a resume without its contents)
    self.act_state = None  # single-process acting state
    if config.get('resume', False):
      self.resume()

  def describe(self) -> str:
    return (f'recurrent SAC, {num_rows(self.config)} env copies, replay ratio '
            f'{self.config.agent.replay_ratio}, {self.config.launch.num_workers} workers')

  def published_params(self):
    return dict(actor=self.state.params.actor)  # workers and evaluators only act

  def params_to_save(self) -> dict[str, Any]:
    params = self.state.params
    return dict(params=dict(actor=params.actor, critic=params.critic,
                            target_critic=params.target_critic, log_alpha=params.log_alpha),
                seeds=self.seeds, seed_axis=self.seed_axis)

  def _make_actor(self):
    return self.agent.make_actor(self.config.agent.num_envs)

  def _learning_steps(self):
    """The env-step count the warm-ups compare with: the steps the replay has seen."""
    return jnp.int32(self.env_steps - self._steps_offset)

  # Checkpoints ------------------------------------------------------------------------

  def checkpoint_arrays(self) -> dict[str, Any]:
    arrays = dict(state=checkpoint_lib.tree_leaves(self.state))
    if self.config.get('checkpoint_replay', True):
      arrays['replay'] = checkpoint_lib.tree_leaves(self.replay)
    if self.act_state is not None:
      arrays['act_state'] = checkpoint_lib.tree_leaves(self.act_state)
    return arrays

  def counters(self) -> dict[str, int]:
    return dict(calls=self._calls, steps_offset=self._steps_offset)

  def restore_arrays(self, arrays: dict[str, Any], path: str) -> None:
    self.state = checkpoint_lib.restore_tree(self.state, arrays['state'], 'learner state',
                                             path)
    if 'replay' in arrays:
      self.replay = checkpoint_lib.restore_tree(self.replay, arrays['replay'], 'replay', path)
    if 'act_state' in arrays and not self.config.launch.num_workers:
      template = self.seeded(self._make_actor().init)(self.act_key)
      self.act_state = checkpoint_lib.restore_tree(template, arrays['act_state'],
                                                   'actor state', path)

  def restore_counters(self, counters: dict[str, Any], payload: dict[str, Any],
                       path: str) -> None:
    self._calls = counters['calls']
    self._steps_offset = counters['steps_offset']
    if 'replay' not in payload['arrays']:  # an empty replay: the warm-ups start again
      self._steps_offset = self.env_steps
      self.act_state = None
      logging.info('the checkpoint holds no replay contents: refilling it from %d env steps '
                   '(warm-ups again)', self.env_steps)

  # Learning ---------------------------------------------------------------------------

  def _fold_in(self, key, data: int):
    """`jax.random.fold_in` of one key, or of each seed's."""
    if self.seed_axis:
      return jax.vmap(jax.random.fold_in, in_axes=(0, None))(key, data)
    return jax.random.fold_in(key, data)

  def _next_key(self):
    self._calls += 1
    return self._fold_in(self.train_key, self._calls)

  def _record(self, metrics: dict[str, Any], ticks: int) -> None:
    if self.seed_axis:  # a dict of metrics per seed
      metrics = io.to_numpy(metrics)
      found = [{k: float(v[i]) for k, v in metrics.items()} for i in range(len(self.seeds))]
      size = float(jax.vmap(replay_lib.size)(self.replay)[0])  # counts only, no copies
    else:
      found = [io.to_floats(metrics)]
      size = float(replay_lib.size(self.replay))
    for m in found:
      m.update(episode_stats(m))
      for name in ('critic_updates', 'actor_updates'):  # per tick, not averaged over calls
        m[name] = m[name] / max(ticks, 1)
      m['replay_size'] = size  # every seed's replay holds as many steps
    self.updates += ticks
    self.after_update(found if self.seed_axis else found[0])

  def train_in_process(self) -> None:
    cfg = self.config
    num_envs = cfg.agent.num_envs
    actor = self._make_actor()
    if self.act_state is None:
      key = self.act_key  # a refill after a resume without replay acts on a new stream
      if self._steps_offset:
        key = self._fold_in(key, self._steps_offset)
      self.act_state = self.seeded(actor.init)(key)
    self.state, self.act_state, self.replay, self.train_key = self.spread(
        (self.state, self.act_state, self.replay, self.train_key))
    ticks = self.agent.ticks_per_chunk
    total_iterations = math.ceil(cfg.total_env_steps / num_envs)
    per_call = min(cfg.launch.updates_per_call, total_iterations)
    runs = {}
    done = self.env_steps // num_envs
    while done < total_iterations:
      n = min(per_call, total_iterations - done)
      args = (self.state, self.act_state, self.replay, self._learning_steps(),
              self._next_key())
      if n not in runs:
        t = time.monotonic()
        run = self.agent.make_in_process_train(actor, num_envs, ticks, n)
        if self.seed_axis:  # a call per seed (see over_seeds); the env-step count is shared
          runs[n] = self.over_seeds(run, (SEED, SEED, SEED, SHARED, SEED), vmapped=False)
        else:
          runs[n] = run.lower(*args).compile()
          logging.info('compiled the training call (%d env-step iterations) in %.2fs', n,
                       time.monotonic() - t)
      self.state, self.act_state, self.replay, metrics = runs[n](*args)
      done += n
      self.env_steps += n * num_envs
      self._record(metrics, n * ticks)
      self.poll_evaluator()
      self.maybe_checkpoint()
      self.check_stop()

  def _worker_rows(self, worker: int):
    b = self.config.agent.num_envs
    return jnp.arange(worker * b, (worker + 1) * b)

  def handle_work(self, worker: int, work: Work) -> None:
    payload = work.payload
    self.replay = self._add(self.replay, self._worker_rows(worker), payload['steps'])
    self.env_steps += work.env_steps
    self.state, metrics = self.agent.learner.train(self.state, self.replay,
                                                   self._learning_steps(), self._next_key())
    self._record(dict(metrics, **payload['stats']), self.agent.ticks_per_chunk)

  def after_replace(self, child: ChildId) -> None:
    """A replaced worker's replay rows end their episodes first (the new worker starts new
    ones)."""
    if child.role == WORKER:
      self.replay = replay_lib.end_episodes(self.replay, self._worker_rows(child.index))
    super().after_replace(child)
