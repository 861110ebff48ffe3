"""Frozen-weight evaluation of a trained bandit agent (the analysis of seed 001).

python main.py --config=configs/bandit_eval.py --config.params_path=RUN/params.pickle
Writes eval_data.pickle, eval_summary.csv, bandit_actions.png and regret.png into
`run_dir` (default: a new <time>_eval folder beside the params file).
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'bandit_eval'
  c.mode = 'eval'
  c.seed = 12345  # draws the episodes' arm probabilities and the agent's actions
  c.params_path = ''
  c.run_dir = ''
  c.num_episodes = 2000
  c.log_dynamics = True  # also save the LSTM activity `hidden` [E, T, H]

  # Unset env fields (None) are taken from the trained run's config; set one to evaluate
  # on another task, e.g. --config.env.reward_structure=correlated.
  c.env = ml_collections.ConfigDict()
  c.env.name = config_dict.placeholder(str)
  c.env.num_arms = config_dict.placeholder(int)
  c.env.reward_structure = config_dict.placeholder(str)
  c.env.trials_per_episode = config_dict.placeholder(int)
  c.env.fixed_probs = config_dict.placeholder(tuple)
  return c
