"""What a worker process computes for each params message it takes, by trainer kind.

  'gradients'  a rollout of the newest params and its gradient (A3C), or with
               `launch.unrolls_per_message` = K > 1, from the newest training state (params
               and optimizer state), K iterations of rollout, gradient and update of its
               own copy, the K gradients stacked (the manager applies them in order to its
               state: one message per K updates)
  'replay'     a chunk of `agent.unroll_length` steps of every env copy, acted with the
               newest actor params, and the returns of the episodes that ended in it

`WORK[kind](config, env, spec, worker_id)` builds the worker's part; calling it with a
`Params` message returns the `Work` message to send.
"""


import jax
import jax.numpy as jnp
import numpy as np

from launch.backends.base import Params, Work
from metarl import io
from metarl.rollout import set_env_params


def worker_key(seed: int, worker_id: int):
  """A worker's own random stream: the run seed folded with the worker id
  (nathanwispinski/meta-rl gave every worker the same seed)."""
  return jax.random.fold_in(jax.random.PRNGKey(seed), 1000 + worker_id)


class GradientsWork:
  """A rollout and its gradient on the newest params (or `launch.unrolls_per_message` of
  them, stacked); each worker owns `config.agent.num_envs` environments."""

  def __init__(self, config, env, spec, worker_id: int):
    self.agent = spec.make(config, env)
    self.unrolls = config.launch.unrolls_per_message
    self.rollout_state = self.agent.rollout.init(worker_key(config.seed, worker_id))

  def __call__(self, message: Params) -> Work:
    self.rollout_state = set_env_params(self.rollout_state, message.env_overrides)
    if self.unrolls == 1:
      grads, self.rollout_state, metrics = self.agent.compute_gradients(
          message.params, self.rollout_state, message.version)
      payload = dict(grads=io.to_numpy(grads), metrics=io.to_floats(metrics))
    else:  # message.params is the whole training state (GradientsTrainer)
      grads, losses, self.rollout_state, metrics = self.agent.compute_gradients_many(
          message.params, self.rollout_state, self.unrolls)
      payload = dict(grads=io.to_numpy(grads), losses=np.asarray(losses),
                     metrics=io.to_floats(metrics))
    return Work(version=message.version, env_steps=self.unrolls * self.agent.steps_per_update,
                payload=payload)


class ReplayWork:
  """A chunk of steps acted with the newest actor params (uniform random actions during
  the run's first `agent.warmup_steps` env steps)."""

  def __init__(self, config, env, spec, worker_id: int):
    agent = spec.make(config, env)
    self.num_envs, self.length = config.agent.num_envs, config.agent.unroll_length
    self.num_workers = config.launch.num_workers
    actor = agent.make_actor(self.num_envs, unroll_length=self.length)
    self.unroll = jax.jit(actor.unroll)
    self.state = actor.init(worker_key(config.seed, worker_id))
    self.version, self.local_steps = None, 0  # env steps of this worker since `version`

  def __call__(self, message: Params) -> Work:
    if message.version != self.version:
      self.version, self.local_steps = message.version, 0
    env_steps = message.env_steps + self.local_steps * self.num_workers
    self.state, steps, stats = self.unroll(message.params['actor'], self.state,
                                           jnp.int32(env_steps))
    self.local_steps += self.num_envs * self.length
    return Work(version=message.version, env_steps=self.num_envs * self.length,
                payload=dict(steps=jax.tree_util.tree_map(np.asarray, steps),
                             stats=io.to_floats(stats)))


WORK = {'gradients': GradientsWork, 'replay': ReplayWork}
