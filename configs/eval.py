"""Frozen-weight evaluation of any trained run: its agent, its task and the task's analysis.

    python main.py --config=configs/eval.py --config.params_path=runs/RUN/params.pickle

The params file names the agent and the env it was trained on, and the analysis registered
for that env writes its files (the bandit: regret against Thompson sampling, UCB1 and random
on the same arms; the two-step tasks: stay probabilities; class query: success against the
delay; value RNNs: Vhat against the true value; any other env: its episode metrics) into
`run_dir` (default: a new <time>_eval folder beside the params file). No parameter is
updated.

Unset env fields (None) are taken from the trained run's config; set one to evaluate on a
variant of the task, e.g. --config.env.reward_structure=correlated. Another task
altogether (--config.env.name=...) also needs --config.transfer=True, since params rarely
mean anything there.
"""

import ml_collections
from ml_collections import config_dict

from metarl.envs import registry as env_registry
from metarl.evaluation import EVAL_SEED


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'eval'
  c.mode = 'eval'
  c.seed = EVAL_SEED  # draws the episodes (and arm probabilities, trials ...) and the actions
  c.params_path = ''
  c.run_dir = ''
  # None: the analysis's default (bandit 2000 episodes, two-step 1000, value RNNs 500 trials)
  c.num_episodes = config_dict.placeholder(int)
  # also save the network's activity `hidden` [E, T, H] (None: the analysis's default)
  c.log_dynamics = config_dict.placeholder(bool)
  c.delays = ()  # class_query: the delays to evaluate at (() -> 0, 1, 2, 5, ... 2x trained)
  c.transfer = False  # True: allow an env.name other than the trained one
  # a run of several seeds (num_seeds): the seed to evaluate; None: each seed into its own
  # seed_<n>/ folder, and the analysis's tables of all of them (a seed column) beside them
  c.params_seed = config_dict.placeholder(int)
  c.env = env_registry.placeholders()
  return c
