"""Meta-RL on the two-step task (Daw 2011; Wang et al. 2018, Fig. 4;
BKHMSI/Meta-RL-TwoStep-Task): an LSTM trained by a model-free actor-critic comes to behave
model-based.

python main.py --config=configs/two_step_train.py [--config.env.common_prob=0.9 ...]
python main.py --config=configs/two_step_train.py:ppo      # the same task with ppo
"""

import ml_collections

from configs import common

SETTINGS = common.AgentSettings()


@SETTINGS.agent
def a3c(c: ml_collections.ConfigDict) -> None:
  """BKHMSI/Meta-RL-TwoStep-Task's A2C settings (gamma 0.9, value coefficient 0.05,
  entropy 0.05, RMSProp 7e-4), one update per 64 environments x 10 trials."""
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
  a.entropy_coef_end = 0.05
  a.entropy_schedule = 'constant'  # constant | linear
  # BKHMSI/Meta-RL-TwoStep-Task's optimizer: with Adam and the entropy annealed to 0 the
  # agent earns as much but infers less from rare transitions (rewarded-uncommon stay ~0.77
  # instead of ~0.73).
  a.optimizer = 'rmsprop'  # adam | rmsprop
  a.optimizer_eps = 1e-8
  a.learning_rate = 7e-4
  a.learning_rate_end = 7e-4
  a.learning_rate_schedule = 'constant'  # constant | linear
  a.max_grad_norm = 50.0
  a.retrieval = True  # episodic_lstm: False = the incremental agent (no memory)
  c.launch = common.launch(num_evaluators=1)


@SETTINGS.agent
def ppo(c: ml_collections.ConfigDict) -> None:
  """Recurrent PPO over whole episodes (the bandit default's settings at Wang et al.'s
  gamma 0.9; docs/tasks/two_step.md)."""
  a = c.agent
  a.num_envs = 128  # environments stepped together per rollout
  a.unroll_length = 100  # a whole episode per rollout
  a.gamma = 0.9
  a.gae_lambda = 0.95
  a.epochs = 2  # passes over each rollout
  a.minibatches = 2  # per epoch, over environments (whole sequences)
  a.normalize_advantages = True
  a.task_group_size = 1  # > 1: groups of envs on one task, advantages within the group
  a.reward_scale = 0.2  # the value learns returns of order 1
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
  a.retrieval = True  # episodic_lstm: False = the incremental agent (no memory)
  c.launch = common.launch(num_evaluators=1, updates_per_call=10)  # 10 rollouts of 12,800 steps per call


def get_config(agent: str = 'a3c') -> ml_collections.ConfigDict:
  c = common.run(f'two_step_{agent}')
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
  c.network.init = 'haiku'  # haiku | pytorch (a gru core as PyTorch's nn.GRU)
  c.network.core_layers = 1  # stacked layers (lru only)
  c.network.hidden_size = 48
  c.network.torso_sizes = ()
  c.network.value_core = 'shared'  # shared (one core, two heads) | separate (own core)
  c.network.memory_capacity = 50  # episodic_lstm only

  SETTINGS.apply(c, agent)

  c.eval = ml_collections.ConfigDict()
  c.eval.every_env_steps = 500_000
  c.eval.num_episodes = 500

  c.log = common.log()
  return c
