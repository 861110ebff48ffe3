"""Episodic meta-RL on the episodic two-step task (Ritter et al. 2018;
BKHMSI/Meta-RL-TwoStep-Task): an LSTM with a DND that reinstates the cell states of
earlier trials with the same context.

python main.py --config=configs/episodic_two_step_train.py
python main.py --config=configs/episodic_two_step_train.py --config.agent.retrieval=False
    (the incremental agent: the same network without memory)

Every other field is that of configs/two_step_train.py (BKHMSI/Meta-RL-TwoStep-Task's A2C
settings; `:ppo` gives its ppo settings).
"""

import ml_collections

from configs import two_step_train


def get_config(agent: str = 'a3c') -> ml_collections.ConfigDict:
  c = two_step_train.get_config(agent)
  c.name = f'episodic_two_step_{agent}'
  c.total_env_steps = 10_000_000  # 100,000 episodes of 100 trials
  c.env.name = 'episodic_two_step'  # trials_per_episode: 50 uncued, then 50 cued
  c.env.context_size = 10  # bits of a trial's context
  c.network.core = 'episodic_lstm'  # LSTM + reinstatement gate + DND
  c.network.memory_capacity = 50  # DND slots (one per uncued trial), cleared every episode
  c.agent.retrieval = True  # False: the incremental agent (no memory retrieval)
  c.eval.every_env_steps = 1_000_000
  return c
