"""Play a task yourself in the terminal, as the agent plays it.

    python main.py --config=configs/play.py --config.env.name=two_step

Shows each observation and reward in words, reads your action (an integer for a
discrete-action task, a number for a continuous one; Enter repeats the last action; q stops),
and when you stop writes into `run_dir` (default: a new runs/<time>_play_<env> folder) the
same eval_data.pickle and analysis files as the agent's evaluation of that task (e.g. the
bandit's eval_summary.csv with your regret next to Thompson sampling's on the same arms, or
the two-step stay probabilities), plus play_log.csv (every step, written as you play).

Env fields left unset (None) take the values of the task's default training config
(configs/bandit_train.py for the bandit, ...), so you play the task the agents learn; set
one to change it, e.g. --config.env.trials_per_episode=20.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'play'
  c.mode = 'play'
  c.seed = 0  # draws the episodes (arm probabilities, transitions, noise ...)
  c.run_dir = ''  # '' -> runs/<time>_play_<env>
  c.num_episodes = 1  # episodes to play; stop early with q (whole episodes are analysed)

  c.env = ml_collections.ConfigDict()
  c.env.name = 'bandit'  # any env with actions: bandit, two_step, episodic_two_step,
  # class_query, memory, pendulum
  # bandit
  c.env.num_arms = config_dict.placeholder(int)
  c.env.reward_structure = config_dict.placeholder(str)
  c.env.trials_per_episode = config_dict.placeholder(int)  # also two-step tasks
  c.env.fixed_probs = config_dict.placeholder(tuple)
  # two_step, episodic_two_step
  c.env.common_prob = config_dict.placeholder(float)
  c.env.reward_prob = config_dict.placeholder(float)
  c.env.swap_prob = config_dict.placeholder(float)
  c.env.context_size = config_dict.placeholder(int)
  # cue_reward (no actions: it cannot be played, its fields are here for completeness)
  c.env.cue_delays = config_dict.placeholder(tuple)
  c.env.cue_probs = config_dict.placeholder(tuple)
  c.env.iti_distribution = config_dict.placeholder(str)
  c.env.iti_p = config_dict.placeholder(float)
  c.env.iti_min = config_dict.placeholder(int)
  c.env.iti_max = config_dict.placeholder(int)
  c.env.delay_jitter = config_dict.placeholder(int)
  c.env.omission_prob = config_dict.placeholder(float)
  c.env.reward_in_observation = config_dict.placeholder(bool)
  # memory, pendulum
  c.env.horizon = config_dict.placeholder(int)
  c.env.input_probability = config_dict.placeholder(float)
  c.env.episode_step_limit = config_dict.placeholder(int)  # e.g. 50 for a short episode
  c.env.observe_velocity = config_dict.placeholder(bool)
  # class_query
  c.env.cue_steps = config_dict.placeholder(int)
  c.env.delay = config_dict.placeholder(int)  # e.g. 10 instead of the trained 100
  c.env.noise_scale = config_dict.placeholder(float)
  c.env.reward_correct = config_dict.placeholder(float)
  c.env.reward_wrong = config_dict.placeholder(float)
  return c
