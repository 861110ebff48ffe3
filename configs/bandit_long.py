"""The bandit default (configs/bandit_train.py: recurrent PPO over whole episodes) trained
six times longer, nearer the Bayes-optimal player (3 seeds together: about 25 minutes on
2 cores; docs/tasks/bandit.md, benchmarks/meta_rl.py part b).

python main.py --config=configs/bandit_long.py --config.num_seeds=3
"""

import ml_collections

from configs import bandit_train


def get_config(agent: str = 'ppo') -> ml_collections.ConfigDict:
  c = bandit_train.get_config(agent)
  c.name = f'bandit_long_{agent}'
  c.total_env_steps = 144_000_000
  c.log_every_env_steps = 8_192_000
  c.checkpoint_every = 24_000_000
  c.eval.every_env_steps = 12_000_000
  return c
