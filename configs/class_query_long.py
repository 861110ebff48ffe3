"""The class-query task at delay 1,000: ten times the delay of configs/class_query.py.

A class in {-1, +1} is shown with noise for 5 steps, then 1,000 steps of pure noise, then
the query. The curriculum grows the delay from 1 to 1,000 (x1.5 per stage once two
evaluations in a row reach 95% success); each chunk holds one whole episode at the target
delay, so the gradient reaches the cue through the whole delay.

python main.py --config=configs/class_query_long.py [--config.network.core=gru ...]

The LSTM of configs/class_query.py (the LRU, a linear recurrence without gates, keeps
integrating the noise and stalls at short delays: benchmarks/memory_cores.py).
"""

import ml_collections

from configs import class_query, common


def get_config() -> ml_collections.ConfigDict:
  c = class_query.get_config()
  common.budget(c, total_env_steps=150_000_000, log_every_env_steps=2_000_000)
  common.checkpoints(c, every=10_000_000)
  c.env.delay = 1000
  c.agent.unroll_length = c.env.cue_steps + c.env.delay + 1  # one whole episode
  c.agent.n_step = c.agent.unroll_length
  c.eval.every_env_steps = 1_000_000
  c.eval.num_episodes = 200
  return c
