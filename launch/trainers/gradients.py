"""The 'gradients' trainer kind (A3C-style): on-policy rollouts and gradient updates.

  launch.num_workers == 0: training runs here, `launch.updates_per_call` rollout+update
    iterations fused per jitted call (the fastest layout on few cores).
  launch.num_workers > 0: spawned workers send gradients computed on the newest params they
    hold; the manager applies each one as it arrives and publishes versioned params (A3C).
    With `launch.unrolls_per_message` = K > 1 workers get the whole training state (params
    and optimizer state) and send the gradients of K unrolls in a row, each computed after
    applying the ones before it to their copy of the state; the manager applies them in
    order to its own in one call: the same number of optimizer updates (so the same
    schedules), K times fewer messages; between messages, a worker does not see the other
    workers' updates (up to K of each).

An agent of this kind gives, from `spec.make(config, env)`, an object with the members of
`metarl.agents.a3c.A3CAgent`: `init(key)` (a training state with `params` and
`bad_streak`), `rollout`, `steps_per_update`, `total_updates`, `train_many` (single
process), `compute_gradients` and `apply_gradients` (workers).
"""

from typing import Any

from launch.backends.base import Work
from launch.checkpointing import Part
from launch.trainers.env_steps import EnvStepTrainer
from launch.trainers.parts import Tree
from launch.trainers.seed_devices import SEED
from metarl import io
from metarl.rollout import set_env_params


class GradientsTrainer(EnvStepTrainer):
  """One run of a gradients-kind agent."""

  def __init__(self, config, spec, env):
    super().__init__(config, spec, env, train_columns=('skipped_updates',))
    self.agent = spec.make(config, env)
    params_key, rollout_key = self.seed_keys(2)
    self.learner = Tree('training state', self.seeded(self.agent.init)(params_key))
    # single-process training's rollout state, made when training starts
    self.rollout = Tree('rollout state',
                        template=lambda: self.seeded(self.agent.rollout.init)(rollout_key),
                        wanted=not self.settings.launch.num_workers)
    if self.settings.resume:
      self.resume()

  def describe(self) -> str:
    return (f'{self.settings.total_env_steps} env steps, {self.agent.total_updates} updates '
            f'of {self.agent.steps_per_update} steps, {self.settings.launch.num_workers} '
            'workers')

  def published_params(self):
    return self.learner.state.params

  def publish_to_workers(self, children) -> None:
    if self.settings.launch.unrolls_per_message == 1:
      super().publish_to_workers(children)
      return
    # the whole training state
    message = self.params_message(io.to_numpy(self.learner.state))
    for child in children:
      self.backend.publish(child, message)

  def finished(self) -> bool:
    return self.updates >= self.agent.total_updates

  def params_to_save(self) -> dict[str, Any]:
    return dict(params=self.learner.state.params, seeds=self.seeds, seed_axis=self.seed_axis,
                extra=dict(env_overrides=self.env_overrides()))

  def follow_curriculum(self) -> None:
    if self.rollout.state is not None:
      self.rollout.state = set_env_params(self.rollout.state, self.curriculum.overrides())

  # Checkpoints ------------------------------------------------------------------------

  def kind_parts(self) -> dict[str, Part]:
    return dict(learner=self.learner, rollout=self.rollout)

  # Training ---------------------------------------------------------------------------

  def train_in_process(self) -> None:
    if self.rollout.state is None:
      self.rollout.state = self.rollout.template()
    self.learner.state, self.rollout.state = self.spread(
        (self.learner.state, self.rollout.state))
    per_call = self.settings.launch.updates_per_call
    steps_per_call = self.agent.steps_per_update * per_call
    train = (self.over_seeds(self.agent.train_many_seeds, (SEED, SEED)) if self.seed_axis
             else self.agent.train_many)
    while self.updates < self.agent.total_updates:
      self.learner.state, self.rollout.state, metrics = train(self.learner.state,
                                                              self.rollout.state)
      self.updates += per_call
      self.env_steps += steps_per_call  # each seed's
      self.after_update(io.to_numpy(metrics) if self.seed_axis else io.to_floats(metrics))
      self.poll_evaluator()
      self.maybe_checkpoint()
      self.check_stop()

  def handle_work(self, worker: int, work: Work) -> None:
    del worker  # every worker's gradient is applied alike
    payload = work.payload
    if 'losses' not in payload:  # one unroll
      self.learner.state = self.agent.apply_gradients(
          self.learner.state, payload['grads'], payload['metrics']['loss'])
      count, skipped = 1, float(self.bad_streak() > 0)
    else:  # several, applied in order; only as many as the budget has left
      count = min(len(payload['losses']), self.agent.total_updates - self.updates)
      self.learner.state, skipped = self.agent.apply_gradients_many(
          self.learner.state, payload['grads'], payload['losses'], count)
      skipped = float(skipped)
    self.updates += count
    self.env_steps += count * self.agent.steps_per_update
    self.after_update(dict(payload['metrics'], skipped_updates=skipped))
