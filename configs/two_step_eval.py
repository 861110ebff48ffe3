"""Frozen-weight two-step analysis (Wang et al. 2018 Fig. 4; seed 002) of saved params.

    python main.py --config=configs/two_step_eval.py --config.params_path=runs/RUN/params.pickle

Writes into a new `<time>_eval` folder beside the params (or `config.run_dir`):
eval_data.pickle (per trial: stage-1 action, stage-2 state, common/uncommon, reward, good
state), stay_probability.csv and stay_probability.png. The task is the trained one unless an
env field is set, e.g. --config.env.common_prob=0.9.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'two_step_eval'
  c.mode = 'eval'
  c.seed = 12345  # draws the episodes and the agent's actions
  c.params_path = ''
  c.run_dir = ''
  c.num_episodes = 1000
  c.log_dynamics = True  # also save the LSTM activity `hidden` [E, T, H]

  c.env = ml_collections.ConfigDict()
  c.env.name = config_dict.placeholder(str)
  c.env.common_prob = config_dict.placeholder(float)
  c.env.reward_prob = config_dict.placeholder(float)
  c.env.swap_prob = config_dict.placeholder(float)
  c.env.trials_per_episode = config_dict.placeholder(int)
  return c
