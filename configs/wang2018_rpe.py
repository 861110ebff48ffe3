"""Wang, Kurth-Nelson et al. (2018), simulation 6: the RPE as the actor's input, and risky
choice moved by perturbing it (Stopper et al. 2014), on the safe / risky task.

python main.py --config=configs/wang2018_rpe.py           # 8 networks side by side
python main.py --config=configs/eval.py --config.params_path=runs/<run>/params.pickle

The paper's settings (../shared/SCIENCE.md section D): separate actor and critic LSTMs of 48
units, the actor receiving the critic's RPE instead of the reward (network.value_core
'rpe'), A2C with RMSProp at 7e-4, gamma 0.9, value cost 0.05, entropy cost 0.05, 4M steps
(~6.7e4 episodes of 30 trials: 5 forced pulls of each arm, then 20 free choices), 8
networks. Not given there, chosen here: 16 environments per update, unrolls of a whole
episode (30 steps, 8,333 updates), returns bootstrapped over the unroll, gradients clipped
at norm 50 as the other A2C configs. The analysis (configs/eval.py,
metarl.analysis.risky_choice) plays 1,333 episodes per condition.
"""

import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.run('wang2018_rpe')
  c.num_seeds = 8  # the paper's 8 networks, trained side by side
  common.budget(c, total_env_steps=4_000_000, log_every_env_steps=200_000)
  common.checkpoints(c, every=1_000_000)

  c.env = ml_collections.ConfigDict()
  c.env.name = 'risky_bandit'
  c.env.risky_prob = 'both'  # both (0.125 or 0.5 per episode) | 0.125 | 0.5
  c.env.forced_trials = 5  # of each arm
  c.env.free_trials = 20

  # separate actor and critic LSTMs of 48 units, the actor reading the critic's RPE
  c.network = common.network(value_core='rpe')
  # 16 episodes of 30 trials per update, each a whole unroll; the RPE the actor reads is in
  # the task's units (1 and 4: reward_scale 1)
  c.agent = common.wang2018_a2c(unroll_length=30, n_step=30)

  c.eval = ml_collections.ConfigDict()
  c.eval.every_env_steps = 500_000
  c.eval.num_episodes = 200
  c.launch = common.launch(updates_per_call=50)
  c.log = common.log()
  return c
