"""Frozen-weight analysis of an episodic or incremental agent on the episodic two-step task
(Ritter et al. 2018; seed 002) from its params.pickle.

    python main.py --config=configs/episodic_two_step_eval.py \
        --config.params_path=runs/RUN/params.pickle

Writes into a new `<time>_eval` folder beside the params (or `config.run_dir`):
eval_data.pickle, stay_probability.csv (uncued, cued and episodic analyses),
reward_per_trial.csv (cued vs uncued) and stay_probability.png.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'episodic_two_step_eval'
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
  c.env.context_size = config_dict.placeholder(int)
  return c
