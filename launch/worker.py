"""Worker process: act with the newest params it has, send gradients (A3C).

Each worker owns `config.agent.num_envs` environments and its own random stream (the run
seed folded with the worker id: seed 001 gave every worker the same seed). In a loop it takes
the newest params the manager published, runs the jitted rollout + loss gradient, and sends
the gradient with the params version it was computed on.
"""

import jax

from metarl import envs
from metarl.agents import a3c
from metarl.io import to_floats, to_numpy
from metarl.rollout import set_env_params


def worker_key(seed: int, worker_id: int):
  return jax.random.fold_in(jax.random.PRNGKey(seed), 1000 + worker_id)


def run_worker(ctx, config, worker_id: int) -> None:
  """The worker loop (runs in a child process; see `launch.backends.mp`)."""
  env = envs.make(config.env)
  agent = a3c.make_agent(config, env)
  rollout_state = agent.rollout.init(worker_key(config.seed, worker_id))
  message = ctx.first_params(config.launch.queue_timeout_s)
  if message is None:
    return
  while not ctx.should_stop():
    params, version = message['params'], message['version']
    rollout_state = set_env_params(rollout_state, message.get('env_overrides'))
    grads, rollout_state, metrics = agent.compute_gradients(params, rollout_state, version)
    sent = ctx.send({'kind': 'grads', 'version': version, 'grads': to_numpy(grads),
                     'metrics': to_floats(metrics),
                     'env_steps': agent.steps_per_update})
    if not sent:
      return
    message = ctx.poll_params() or message
