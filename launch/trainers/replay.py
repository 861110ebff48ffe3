"""The 'replay' trainer kind (SAC-style): acting into a sequence replay, learning from it.

  launch.num_workers == 0: acting, replay insertion and learning run here,
    `launch.updates_per_call` env-step iterations fused per jitted call.
  launch.num_workers > 0: each spawned worker steps `agent.num_envs` environments with the
    newest actor params it has and sends chunks of `agent.unroll_length` steps; the manager
    adds a chunk to the worker's replay rows, runs `replay_ratio` ticks per env step it
    holds (one jitted scan) and sends that worker the new actor params.

train.csv has the learner's losses, temperature, entropy, Q, the replay size, the mean return
of the episodes that ended and the updates skipped for a NaN or Inf. Checkpoints hold the
learner state, the key counter, the in-process actor state and the `Replay` (with
`checkpoint_replay`, its contents); a run resumed without them fills its replay again
through the warm-up phases before it learns. An agent of this kind gives
`metarl.agents.rsac.RSACAgent`'s members from `spec.make(config, env)`; its published params are {'actor': actor params}.
"""

import math
import time
from typing import Any

import jax
import jax.numpy as jnp
from absl import logging

from launch.backends.base import WORKER, ChildId, Work
from launch.checkpointing import Part
from launch.trainers.env_steps import EnvStepTrainer
from launch.trainers.parts import Counters, Tree
from launch.trainers.seed_devices import SEED, SHARED
from metarl import checkpoint as checkpoint_lib
from metarl import io
from metarl.agents.rsac import episode_stats
from metarl.agents.rsac.config import num_rows
from metarl.replay import sequence as replay_lib

TRAIN_COLUMNS = ('episode_return', 'critic_loss', 'actor_loss', 'alpha_loss', 'alpha',
                 'entropy', 'q_mean', 'target_mean', 'critic_updates', 'actor_updates',
                 'replay_size', 'skipped_updates')


class Replay:
  """The sequence replay's contents (`metarl.replay.sequence`), and the env steps it has not
  seen: a run resumed from a checkpoint without the contents (`checkpoint_replay=False`)
  fills it again from there, through the warm-ups (`refill`: the trainer sets the offset
  once it knows the position)."""

  def __init__(self, contents, keep: bool):
    self.contents, self.keep = contents, keep
    self.steps_offset = 0
    self.refill = False

  def save(self) -> dict[str, Any]:
    return dict(contents=checkpoint_lib.tree_leaves(self.contents) if self.keep else None,
                steps_offset=self.steps_offset)

  def restore(self, saved: dict[str, Any], path: str) -> None:
    if not isinstance(saved, dict) or set(saved) != {'contents', 'steps_offset'}:
      raise io.RunFileError(f'{path}: its replay is not one this metarl wrote')
    self.refill = saved['contents'] is None
    if not self.refill:
      self.contents = checkpoint_lib.restore_tree(self.contents, saved['contents'], 'replay',
                                                  path)
    self.steps_offset = int(saved['steps_offset'])


class ReplayTrainer(EnvStepTrainer):
  """One run of a replay-kind agent."""

  def __init__(self, config, spec, env):
    super().__init__(config, spec, env, train_columns=TRAIN_COLUMNS,
                     latest=('alpha', 'replay_size'))
    self.agent = spec.make(config, env)
    learner_key, self.act_key, self.train_key = self.seed_keys(3)
    self.learner = Tree('learner state', self.seeded(self.agent.learner.init)(learner_key))
    rows = num_rows(config)
    contents = replay_lib.init(rows, config.replay.capacity // rows,
                               env.spec.observation_shape, env.spec.action_dim)
    if self.seed_axis:  # a replay per seed
      contents = jax.tree_util.tree_map(
          lambda x: jnp.broadcast_to(x, (len(self.seeds),) + x.shape), contents)
    self.replay = Replay(contents, keep=self.settings.checkpoint_replay)
    self._add = jax.jit(replay_lib.add)
    self._calls = 0
    # single-process acting state, made when training starts
    self.actor = Tree('actor state', template=lambda: self.seeded(self._make_actor().init)(
        self._act_key()), wanted=not self.settings.launch.num_workers)
    if self.settings.resume:
      self.resume()

  def describe(self) -> str:
    return (f'recurrent SAC, {num_rows(self.config)} env copies, replay ratio '
            f'{self.config.agent.replay_ratio}, {self.settings.launch.num_workers} workers')

  def published_params(self):
    return dict(actor=self.learner.state.params.actor)  # workers and evaluators only act

  def params_to_save(self) -> dict[str, Any]:
    params = self.learner.state.params
    return dict(params=dict(actor=params.actor, critic=params.critic,
                            target_critic=params.target_critic, log_alpha=params.log_alpha),
                seeds=self.seeds, seed_axis=self.seed_axis)

  def _make_actor(self):
    return self.agent.make_actor(self.config.agent.num_envs)

  def _act_key(self):
    """The acting key; a refill after a resume without replay acts on a new stream."""
    offset = self.replay.steps_offset
    return self._fold_in(self.act_key, offset) if offset else self.act_key

  def _learning_steps(self):
    """The env-step count the warm-ups compare with: the steps the replay has seen."""
    return jnp.int32(self.env_steps - self.replay.steps_offset)

  # Checkpoints ------------------------------------------------------------------------

  def kind_parts(self) -> dict[str, Part]:
    return dict(learner=self.learner, replay=self.replay, actor=self.actor,
                keys=Counters(self, ('_calls',)))

  def resume(self) -> None:
    super().resume()
    if self.replay.refill:  # an empty replay: the warm-ups start again
      self.replay.steps_offset = self.env_steps
      self.actor.state = None
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
      size = float(jax.vmap(replay_lib.size)(self.replay.contents)[0])  # counts only, no copies
    else:
      found = [io.to_floats(metrics)]
      size = float(replay_lib.size(self.replay.contents))
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
    if self.actor.state is None:
      self.actor.state = self.actor.template()
    self.learner.state, self.actor.state, self.replay.contents, self.train_key = self.spread(
        (self.learner.state, self.actor.state, self.replay.contents, self.train_key))
    ticks = self.agent.ticks_per_chunk
    total_iterations = math.ceil(cfg.total_env_steps / num_envs)
    per_call = min(cfg.launch.updates_per_call, total_iterations)
    runs = {}
    done = self.env_steps // num_envs
    while done < total_iterations:
      n = min(per_call, total_iterations - done)
      args = (self.learner.state, self.actor.state, self.replay.contents,
              self._learning_steps(), self._next_key())
      if n not in runs:
        t = time.monotonic()
        run = self.agent.make_in_process_train(actor, num_envs, ticks, n)
        if self.seed_axis:  # a call per seed (see over_seeds); the env-step count is shared
          runs[n] = self.over_seeds(run, (SEED, SEED, SEED, SHARED, SEED), vmapped=False)
        else:
          runs[n] = run.lower(*args).compile()
          logging.info('compiled the training call (%d env-step iterations) in %.2fs', n,
                       time.monotonic() - t)
      self.learner.state, self.actor.state, self.replay.contents, metrics = runs[n](*args)
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
    self.replay.contents = self._add(self.replay.contents, self._worker_rows(worker),
                                     payload['steps'])
    self.env_steps += work.env_steps
    self.learner.state, metrics = self.agent.learner.train(self.learner.state,
                                                           self.replay.contents,
                                                   self._learning_steps(), self._next_key())
    self._record(dict(metrics, **payload['stats']), self.agent.ticks_per_chunk)

  def after_replace(self, child: ChildId) -> None:
    """A replaced worker's replay rows end their episodes first (the new worker starts new
    ones)."""
    if child.role == WORKER:
      self.replay.contents = replay_lib.end_episodes(self.replay.contents,
                                                     self._worker_rows(child.index))
    super().after_replace(child)
