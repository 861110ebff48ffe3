"""Meta-RL on two-armed bandits with independent arms (Wang et al. 2018; nathanwispinski/meta-rl).

python main.py --config=configs/bandit_train.py [--config.env.num_arms=5 ...]
"""

import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.run('bandit_a3c')
  # 20M env steps: past them the regret stays ~3 (30M: no better; benchmarks/seeds.py (e))
  common.budget(c, total_env_steps=20_000_000, log_every_env_steps=1_000_000)
  common.checkpoints(c, every=5_000_000)

  c.env = ml_collections.ConfigDict()
  c.env.name = 'bandit'
  c.env.num_arms = 2
  c.env.reward_structure = 'independent'  # independent | correlated | normalized | fixed
  c.env.trials_per_episode = 100
  c.env.fixed_probs = ()  # only for reward_structure='fixed'; one per arm

  c.network = ml_collections.ConfigDict()
  c.network.core = 'lstm'  # lstm | gru | lru (linear recurrence, parallel scan)
  c.network.core_layers = 1  # stacked layers (lru only; the bandit needs 2 with lru)
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
  c.agent.entropy_coef_end = 0.0
  c.agent.entropy_schedule = 'linear'  # constant | linear
  c.agent.optimizer = 'adam'  # adam | rmsprop
  c.agent.optimizer_eps = 1e-8
  # nathanwispinski/meta-rl: 3e-4 (regret ~3.5 instead of ~3.0 at 15M steps)
  c.agent.learning_rate = 1e-3
  c.agent.learning_rate_end = 0.0
  c.agent.learning_rate_schedule = 'linear'  # constant | linear
  c.agent.max_grad_norm = 50.0

  c.launch = common.launch()

  c.eval = ml_collections.ConfigDict()
  c.eval.every_env_steps = 2_500_000
  c.eval.num_episodes = 500

  c.log = common.log()
  return c
