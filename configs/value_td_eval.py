"""Frozen-weight analysis of a trained value RNN (seed 000's figures) from its params.pickle.

    python main.py --config=configs/value_td_eval.py --config.params_path=runs/RUN/params.pickle

Writes into a new `<time>_eval` folder beside the params (or `config.run_dir`):
value_data.pickle, value.png, hidden.png and eval.csv (MSE of Vhat against the true value,
per seed). The trials are the trained task's unless an env field is set, e.g.
--config.env.omission_prob=0.2 to probe the trained network on omitted rewards.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'value_td_eval'
  c.mode = 'eval'
  c.seed = 12345  # draws the evaluation trials
  c.params_path = ''
  c.run_dir = ''
  c.num_episodes = 500  # evaluation trials (the same for every seed of the run)
  c.log_dynamics = True  # h(t) is always saved for value RNNs

  c.env = ml_collections.ConfigDict()
  c.env.name = config_dict.placeholder(str)
  c.env.cue_delays = config_dict.placeholder(tuple)
  c.env.cue_probs = config_dict.placeholder(tuple)
  c.env.iti_distribution = config_dict.placeholder(str)
  c.env.iti_p = config_dict.placeholder(float)
  c.env.iti_min = config_dict.placeholder(int)
  c.env.iti_max = config_dict.placeholder(int)
  c.env.delay_jitter = config_dict.placeholder(int)
  c.env.omission_prob = config_dict.placeholder(float)
  c.env.reward_in_observation = config_dict.placeholder(bool)
  return c
