"""Milliseconds per learner tick, per in-process env step and per acting step of recurrent
SAC on configs/memory_sac.py, in the steady state (critic every tick, actor every second).

python benchmarks/sac_step_costs.py [ROOT] [--tick_only] [--config=FILE] [--config.FIELD=VALUE ...]

ROOT: the metarl checkout to measure (default: this one); benchmarks/sac.py runs this file
in a checkout of an older commit too, to time the code before and after a change on the
same machine in the same run. The config (default: ROOT's configs/memory_sac.py) and its
overrides are given as to main.py. --tick_only times the learner tick alone. Prints one JSON
line.
"""

import json
import os
import statistics
import sys
import time

TICK_ONLY = '--tick_only' in sys.argv[1:]
ARGS = [a for a in sys.argv[1:] if a.startswith('--') and a != '--tick_only']
PLACES = [a for a in sys.argv[1:] if not a.startswith('--')]
ROOT = (os.path.abspath(PLACES[0]) if PLACES else
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import main as main_module  # noqa: E402
from metarl.agents import rsac  # noqa: E402
from metarl.envs import registry as envs  # noqa: E402
from metarl.replay import sequence as replay_lib  # noqa: E402

STEADY = 20_000  # env steps: past both warm-ups
REPEATS = 5


def timed(fn, *args, per=1):
  """Median milliseconds of `fn(*args)` per `per` units over REPEATS calls after one
  (compiling) call."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(REPEATS):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append((time.perf_counter() - start) * 1000 / per)
  return statistics.median(times)


def main():
  if not any(a.startswith('--config=') for a in ARGS):
    ARGS.insert(0, f'--config={os.path.join(ROOT, "configs", "memory_sac.py")}')
  config = main_module.load_config(['x'] + ARGS)
  env = envs.make(config.env)
  agent = rsac.make_agent(config, env)
  actor = agent.make_actor(1)
  spec = env.spec
  replay = replay_lib.init(1, config.replay.capacity, spec.observation_shape,
                           spec.action_dim)
  fill_steps = min(config.replay.capacity, STEADY)
  learner_state = agent.learner.init(jax.random.PRNGKey(0))
  act_state = actor.init(jax.random.PRNGKey(1))

  @jax.jit
  def fill(learner_state, act_state, replay):  # a full replay (up to STEADY steps)
    def body(carry, _):
      act_state, replay = carry
      act_state, steps, _ = actor.step(learner_state.params.actor, act_state, jnp.int32(0))
      replay = replay_lib.add_to_all_rows(replay, jax.tree_util.tree_map(
          lambda x: x[None], steps))
      return (act_state, replay), None
    return jax.lax.scan(body, (act_state, replay), None, length=fill_steps)[0]

  act_state, replay = fill(learner_state, act_state, replay)
  ticks = 200
  learner = rsac.make_learner(agent.networks, rsac.learner_config(config, env), ticks)
  tick_ms = timed(learner.train, learner_state, replay, jnp.int32(STEADY),
                  jax.random.PRNGKey(2), per=ticks)
  if TICK_ONLY:
    print(json.dumps({'root': ROOT, 'ms_per_tick': round(tick_ms, 4)}))
    return

  @jax.jit
  def act(params, act_state):  # acting only (the policy, not the warm-up's random actions)
    def body(s, _):
      s, steps, _ = actor.step(params, s, jnp.int32(STEADY))
      return s, steps.action
    return jax.lax.scan(body, act_state, None, length=1000)
  act_ms = timed(act, learner_state.params.actor, act_state, per=1000)

  iterations = 1000
  run = agent.make_in_process_train(actor, 1, 1, iterations)
  step_ms = timed(run, learner_state, act_state, replay, jnp.int32(STEADY),
                  jax.random.PRNGKey(3), per=iterations)
  print(json.dumps({'root': ROOT, 'ms_per_tick': round(tick_ms, 4),
                    'ms_per_act': round(act_ms, 5), 'ms_per_env_step': round(step_ms, 4)}))


if __name__ == '__main__':
  main()
