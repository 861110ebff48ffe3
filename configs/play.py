"""Play a task yourself in the terminal, as the agent plays it.

    python main.py --config=configs/play.py --config.env.name=two_step

Shows each observation and reward in words, reads your action (an integer for a
discrete-action task, a number for a continuous one; Enter repeats the last action; q stops),
and when you stop writes into `run_dir` (default: a new runs/<time>_play_<env> folder) the
same eval_data.pickle and analysis files as the agent's evaluation of that task (e.g. the
bandit's eval_summary.csv with your regret next to Thompson sampling's on the same arms, or
the two-step stay probabilities), plus play_log.csv (every step, written as you play).

Env fields left unset (None) take the env's registered defaults (the values its training
config uses too), so you play the task the agents learn; set one to change it, e.g.
--config.env.trials_per_episode=20.
"""

import ml_collections

from metarl.envs import registry as env_registry


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'play'
  c.mode = 'play'
  c.seed = 0  # draws the episodes (arm probabilities, transitions, noise ...)
  c.run_dir = ''  # '' -> runs/<time>_play_<env>
  c.num_episodes = 1  # episodes to play; stop early with q (whole episodes are analysed)

  # Every field of every registered env, unset (None): a field left unset takes the env's
  # registered default (metarl/envs/<env>.py, FIELDS); any env with actions can be played.
  c.env = env_registry.placeholders(name='bandit')
  return c
