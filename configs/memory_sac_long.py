"""Recurrent SAC on RLtools' long memory task: horizon 100, sequences of 500, hidden 64.

python main.py --config=configs/memory_sac_long.py [--config.network.core=gru ...]

RLtools keeps this variant of its memory example beside the short one and does
not report solving it. Its settings are the short task's (configs/memory_sac.py: gamma 0,
batch 4 sequences, critic every step, actor every 2nd, 200k steps) except: ones are counted
over the last 100 bits (P(bit = 1) = 2/H = 0.02, RLtools' rule), sequences of 500 steps
for training and for the accuracy, and 64 units in the dense layer and in each recurrent
layer. The default core here is the LRU, about twice as fast per update as the GRU at
this size on a CPU (benchmarks/memory_cores.py).
"""

import ml_collections

from configs import memory_sac


def get_config() -> ml_collections.ConfigDict:
  c = memory_sac.get_config()
  c.env.horizon = 100
  c.env.input_probability = 2 / c.env.horizon
  c.network.core = 'lru'
  c.network.torso_sizes = (64,)
  c.network.hidden_sizes = (64, 64)
  c.replay.sequence_length = 500
  c.eval.sequence_length = 500
  c.agent.unroll_length = 500
  return c
