"""Meta-RL on the two-step task (Daw 2011; Wang et al. 2018, Fig. 4;
BKHMSI/Meta-RL-TwoStep-Task): an LSTM trained by a model-free actor-critic comes to behave
model-based.

python main.py --config=configs/two_step_train.py [--config.env.common_prob=0.9 ...]
"""

import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.run('two_step_a3c')
  c.total_env_steps = 5_000_000  # 50,000 episodes of 100 trials
  c.log_every_env_steps = 250_000
  common.checkpoints(c, every=1_000_000)

  c.env = ml_collections.ConfigDict()
  c.env.name = 'two_step'
  # P(action 0 -> S1) = P(action 1 -> S2) (BKHMSI/Meta-RL-TwoStep-Task used 0.9)
  c.env.common_prob = 0.8
  c.env.reward_prob = 0.9  # the good state's reward probability (the other: 1 - this)
  c.env.swap_prob = 0.025  # the good state swaps with this probability every trial
  c.env.trials_per_episode = 100

  c.network = ml_collections.ConfigDict()
  c.network.core = 'lstm'  # lstm | gru | lru (linear recurrence, parallel scan)
  c.network.core_layers = 1  # stacked layers (lru only)
  c.network.hidden_size = 48
  c.network.torso_sizes = ()
  c.network.value_core = 'shared'  # shared (one core, two heads) | separate (own core)

  c.agent = ml_collections.ConfigDict()
  c.agent.name = 'a3c'
  c.agent.num_envs = 64  # environments stepped together per rollout
  c.agent.unroll_length = 10
  c.agent.n_step = 10
  c.agent.advantage = 'kstep'  # mc | baseline | kstep (K = n_step) | gae | immediate
  c.agent.gae_lambda = 0.95  # lambda of 'gae'
  c.agent.reset_each_unroll = False  # False: chunks continue episodes (truncated BPTT)
  c.agent.gamma = 0.9
  c.agent.value_coef = 0.05
  c.agent.entropy_coef = 0.05
  c.agent.entropy_coef_end = 0.05
  c.agent.entropy_schedule = 'constant'  # constant | linear
  # BKHMSI/Meta-RL-TwoStep-Task's optimizer: with Adam and the entropy annealed to 0 the
  # agent earns as much but infers less from rare transitions (rewarded-uncommon stay ~0.77
  # instead of ~0.73).
  c.agent.optimizer = 'rmsprop'  # adam | rmsprop
  c.agent.optimizer_eps = 1e-8
  c.agent.learning_rate = 7e-4
  c.agent.learning_rate_end = 7e-4
  c.agent.learning_rate_schedule = 'constant'  # constant | linear
  c.agent.max_grad_norm = 50.0

  c.launch = common.launch()

  c.eval = ml_collections.ConfigDict()
  c.eval.every_env_steps = 500_000
  c.eval.num_episodes = 500

  c.log = common.log()
  return c
