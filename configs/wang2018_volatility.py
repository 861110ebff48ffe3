"""Wang, Kurth-Nelson et al. (2018), simulation 2: the learning rate adapts to volatility
(Behrens et al. 2007), on the two-armed task whose better arm flips often or rarely.

python main.py --config=configs/wang2018_volatility.py    # 8 networks side by side
python main.py --config=configs/eval.py --config.params_path=runs/<run>/params.pickle

The paper's settings (../shared/SCIENCE.md section D): an LSTM of 48 units whose inputs are
the previous action and reward and the two reward sizes, A2C with RMSProp, gamma 0.1, value
cost 0.05, 40,000 training episodes of 200 trials (8M steps), 8 networks; its learning
rate 5e-5 and entropy cost annealed from 1 to 0 are of rewards in points (100 x Beta(4,
4)) and of one episode per update. Here the env pays points / 100, so the entropy cost is
annealed from 0.01 (1 per 100 points), and 8 environments are stepped together per update
(10,000 updates of 800 steps), so the learning rate is 8 x 5e-5 = 4e-4 (the same step per
episode). Measured with the paper's numbers as they stand (8 seeds): 50.1% better-arm
choices after 2.4M of 8M steps, at chance; with these, 67% after 1.5M (2 seeds). Also
chosen here: unrolls of 100 steps, returns bootstrapped over the unroll, the core state
carried across unrolls, gradients clipped at norm 50 as the other A2C configs. The analysis
(configs/eval.py, metarl.analysis.volatility) plays the two test schedules.
"""

import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.run('wang2018_volatility')
  c.num_seeds = 8  # the paper's 8 networks, trained side by side
  common.budget(c, total_env_steps=8_000_000, log_every_env_steps=400_000)
  common.checkpoints(c, every=2_000_000)

  c.env = ml_collections.ConfigDict()
  c.env.name = 'volatile_bandit'
  c.env.schedule = 'train'  # train | stable_first | volatile_first (the tests)
  c.env.trials_per_episode = 200

  c.network = common.network()  # an LSTM of 48 units
  c.agent = common.wang2018_a2c(
      num_envs=8,  # 8 episodes of 200 trials per update (as long, in two unrolls)
      gamma=0.1,
      entropy_coef=0.01,  # the paper's 1 per 100 points (the env pays points / 100)
      entropy_coef_end=0.0, entropy_schedule='linear',
      learning_rate=4e-4,  # the paper's 5e-5 per episode x 8 episodes per update
      learning_rate_end=4e-4)

  c.eval = ml_collections.ConfigDict()
  c.eval.every_env_steps = 1_000_000
  c.eval.num_episodes = 100
  c.launch = common.launch(updates_per_call=50)
  c.log = common.log()
  return c
