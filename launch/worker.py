"""The worker process: one loop for every agent.

It takes the newest params the manager published, does its agent's work on them (by the
agent's trainer kind, `launch.work.WORK`: gradients of a rollout, or a chunk of steps) and
sends the result with the params version it used, until the run stops.
"""

from launch.work import WORK
from metarl import envs
from metarl.agents import registry as agent_registry


def run_worker(ctx, config, worker_id: int) -> None:
  """The worker loop (runs in a child process; see `launch.backends`)."""
  env = envs.make(config.env)
  spec = agent_registry.spec(config.agent.name)
  work = WORK[spec.kind](config, env, spec, worker_id)
  message = ctx.first_params(config.launch.queue_timeout_s)
  if message is None:
    return
  while not ctx.should_stop():
    if not ctx.send(work(message)):
      return
    message = ctx.poll_params() or message
