"""Frozen-weight class-query analysis (seed 003) of saved params: success against the delay.

    python main.py --config=configs/class_query_eval.py \
        --config.params_path=runs/RUN/params.pickle [--config.delays=10,100,300]

Writes into a new `<time>_eval` folder beside the params (or `config.run_dir`):
success_by_delay.csv, success_by_delay.png and eval_data.pickle. The task is the trained one
unless an env field is set, e.g. --config.env.noise_scale=1.5.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'class_query_eval'
  c.mode = 'eval'
  c.seed = 12345  # draws the episodes and the agent's actions
  c.params_path = ''
  c.run_dir = ''
  c.num_episodes = 1000  # env copies per delay, each played for the longest delay's episode
  # length (a shorter delay answers more queries: success_by_delay.csv counts them)
  c.delays = ()  # () -> 0, 1, 2, 5, ... up to twice the trained delay
  c.log_dynamics = False  # also save the LSTM activity `hidden` [E, T, H]

  c.env = ml_collections.ConfigDict()
  c.env.name = config_dict.placeholder(str)
  c.env.cue_steps = config_dict.placeholder(int)
  c.env.delay = config_dict.placeholder(int)
  c.env.noise_scale = config_dict.placeholder(float)
  c.env.reward_correct = config_dict.placeholder(float)
  c.env.reward_wrong = config_dict.placeholder(float)
  return c
