"""Wang, Kurth-Nelson et al. (2018), simulation 1: action and reward history in the units
(after Tsutsui et al. 2016 and Lau & Glimcher 2005), on the baited two-armed bandit.

python main.py --config=configs/wang2018_history.py      # 8 networks side by side
python main.py --config=configs/eval.py --config.params_path=runs/<run>/params.pickle

The paper's settings (../shared/SCIENCE.md section D): an LSTM of 48 units whose inputs are
the previous action and reward, A2C with RMSProp at 7e-4, gamma 0.75, value cost 0.05,
entropy cost 0.05, unrolls of 100 steps, 3e6 steps, p0(right) in [0, .1] U [.2, .3] U [.4,
.5], episodes of 50-100 trials, 8 networks. Not given there, chosen here: 16 environments
stepped together per update (1,875 updates of 1,600 steps), returns bootstrapped over the
whole unroll (the A2C estimate), the core state carried across unrolls (episodes of up to
100 trials span two), gradients clipped at norm 50 as the other A2C configs. The analysis
(configs/eval.py, metarl.analysis.action_history) tests on the held-out ranges too.
"""

import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.run('wang2018_history')
  c.num_seeds = 8  # the paper's 8 networks, trained side by side
  common.budget(c, total_env_steps=3_000_000, log_every_env_steps=200_000)
  common.checkpoints(c, every=1_000_000)

  c.env = ml_collections.ConfigDict()
  c.env.name = 'baited_bandit'
  c.env.p0_set = 'train'  # train | held_out | all (the ranges p0(right) is drawn from)
  c.env.min_trials = 50
  c.env.max_trials = 100

  c.network = common.network()  # an LSTM of 48 units
  c.agent = common.wang2018_a2c(gamma=0.75)  # the paper's own for this simulation

  c.eval = ml_collections.ConfigDict()
  c.eval.every_env_steps = 500_000
  c.eval.num_episodes = 200
  c.launch = common.launch(updates_per_call=25)
  c.log = common.log()
  return c
