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

  c.network = ml_collections.ConfigDict()
  c.network.core = 'lstm'  # lstm | gru | lru
  c.network.init = 'haiku'
  c.network.core_layers = 1
  c.network.hidden_size = 48
  c.network.torso_sizes = ()
  c.network.value_core = 'rpe'  # shared | separate | rpe (the actor reads the critic's RPE)
  c.network.memory_capacity = 50  # episodic_lstm only

  a = c.agent = ml_collections.ConfigDict()
  a.name = 'a3c'
  a.num_envs = 16  # environments stepped together per update
  a.unroll_length = 30  # a whole episode
  a.n_step = 30
  a.advantage = 'kstep'  # mc | baseline | kstep (K = n_step) | gae | immediate
  a.gae_lambda = 0.95  # lambda of 'gae'
  a.reset_each_unroll = False
  a.normalize_advantages = False
  a.reward_scale = 1.0  # the RPE the actor reads is in the task's units (1 and 4)
  a.gamma = 0.9
  a.value_coef = 0.05
  a.entropy_coef = 0.05
  a.entropy_coef_end = 0.05
  a.entropy_schedule = 'constant'  # constant | linear
  a.optimizer = 'rmsprop'  # adam | rmsprop
  a.optimizer_eps = 1e-8
  a.learning_rate = 7e-4
  a.learning_rate_end = 7e-4
  a.learning_rate_schedule = 'constant'  # constant | linear
  a.max_grad_norm = 50.0
  a.retrieval = True  # episodic_lstm only

  c.eval = ml_collections.ConfigDict()
  c.eval.every_env_steps = 500_000
  c.eval.num_episodes = 200
  c.launch = common.launch(updates_per_call=50)
  c.log = common.log()
  return c
