"""Meta-RL on two-armed bandits with independent arms (Wang et al. 2016, 2018;
nathanwispinski/meta-rl), with the settings of each agent:

python main.py --config=configs/bandit_train.py           # ppo: near the Bayes-optimal player
python main.py --config=configs/bandit_train.py:a3c       # nathanwispinski/meta-rl's A3C
python main.py --config=configs/bandit_train.py --config.agent.name=a3c   # the same
python main.py --config=configs/bandit_train.py [--config.env.num_arms=5 ...]

docs/tasks/bandit.md says what each reaches and how the ppo settings were found
(benchmarks/meta_rl.py).
"""

import ml_collections

from configs import common

SETTINGS = common.AgentSettings()


@SETTINGS.agent
def ppo(c: ml_collections.ConfigDict) -> None:
  """Recurrent PPO over whole episodes at gamma 1, the regret's own horizon, with the
  trial in the observation (how much of the episode is left to exploit what exploring
  finds); two passes over each rollout of 256 episodes in minibatches of 64, the most
  reliable learning per second of those measured (benchmarks/meta_rl.py,
  docs/tasks/bandit.md)."""
  common.budget(c, total_env_steps=24_000_000, log_every_env_steps=2_048_000)
  c.eval.every_env_steps = 4_000_000
  c.env.observe_trial = True
  a = c.agent
  a.num_envs = 256  # environments stepped together per rollout
  a.unroll_length = 100  # a whole episode per rollout
  a.gamma = 1.0
  a.gae_lambda = 0.9
  a.epochs = 2  # passes over each rollout
  a.minibatches = 4  # per epoch, over environments (whole sequences of 64 envs each)
  a.normalize_advantages = True
  a.task_group_size = 1  # > 1: groups of envs on one task, advantages within the group
  a.reward_scale = 0.05  # the value learns returns of order 1 (an episode pays up to 100)
  a.clip_eps = 0.2
  a.value_clip_eps = 0.0  # 0: the value loss is not clipped
  a.value_coef = 0.5
  a.entropy_coef = 0.03
  a.entropy_coef_end = 0.0
  a.entropy_schedule = 'linear'  # constant | linear
  a.optimizer = 'adam'  # adam | rmsprop
  a.optimizer_eps = 1e-8
  a.learning_rate = 1e-2
  a.learning_rate_end = 0.0
  a.learning_rate_schedule = 'linear'  # constant | linear
  a.max_grad_norm = 0.5
  a.retrieval = True  # episodic_lstm only
  c.launch = common.launch(num_evaluators=1, updates_per_call=5)  # 5 rollouts of 25,600 steps per call


@SETTINGS.agent
def a3c(c: ml_collections.ConfigDict) -> None:
  """nathanwispinski/meta-rl's A3C (Wang et al. 2018's settings: LSTM(48), gamma 0.9,
  value coefficient 0.05), with 10-step unrolls over 64 environments and an entropy bonus
  annealed from 0.05 to 0, which make training short."""
  # 20M env steps: past them the regret stays ~3 (30M: no better; benchmarks/seeds.py (e))
  common.budget(c, total_env_steps=20_000_000, log_every_env_steps=1_000_000)
  a = c.agent
  a.num_envs = 64  # environments stepped together per rollout
  a.unroll_length = 10
  a.n_step = 10
  a.advantage = 'kstep'  # mc | baseline | kstep (K = n_step) | gae | immediate
  a.gae_lambda = 0.95  # lambda of 'gae'
  a.reset_each_unroll = False  # False: chunks continue episodes (truncated BPTT)
  a.normalize_advantages = False  # True: Psi standardised over each unroll's batch
  a.reward_scale = 1.0  # rewards x this for learning (the value predicts scaled returns)
  a.gamma = 0.9
  a.value_coef = 0.05
  a.entropy_coef = 0.05
  a.entropy_coef_end = 0.0
  a.entropy_schedule = 'linear'  # constant | linear
  a.optimizer = 'adam'  # adam | rmsprop
  a.optimizer_eps = 1e-8
  # nathanwispinski/meta-rl: 3e-4 (regret ~3.5 instead of ~3.0 at 15M steps)
  a.learning_rate = 1e-3
  a.learning_rate_end = 0.0
  a.learning_rate_schedule = 'linear'  # constant | linear
  a.max_grad_norm = 50.0
  a.retrieval = True  # episodic_lstm only
  c.launch = common.launch(num_evaluators=1)


def get_config(agent: str = 'ppo') -> ml_collections.ConfigDict:
  c = common.run(f'bandit_{agent}')
  common.checkpoints(c, every=5_000_000)

  c.env = ml_collections.ConfigDict()
  c.env.name = 'bandit'
  c.env.num_arms = 2
  c.env.reward_structure = 'independent'  # independent | correlated | normalized | fixed
  c.env.trials_per_episode = 100
  c.env.fixed_probs = ()  # only for reward_structure='fixed'; one per arm
  c.env.observe_trial = False  # True: the observation also holds trials played / trials

  c.network = ml_collections.ConfigDict()
  c.network.core = 'lstm'  # lstm | gru | lru (linear recurrence, parallel scan)
  c.network.init = 'haiku'  # haiku | pytorch (a gru core as PyTorch's nn.GRU)
  c.network.core_layers = 1  # stacked layers (lru only; the bandit needs 2 with lru)
  c.network.hidden_size = 48
  c.network.torso_sizes = ()
  c.network.value_core = 'shared'  # shared (one core, two heads) | separate (own core)
  c.network.memory_capacity = 50  # episodic_lstm only

  c.eval = ml_collections.ConfigDict()
  c.eval.every_env_steps = 2_500_000
  c.eval.num_episodes = 500

  SETTINGS.apply(c, agent)

  c.log = common.log()
  return c
