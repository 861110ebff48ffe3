"""Long-memory recurrent policy gradients on the noisy class-query task (Bartunov's lecture).

A class in {-1, +1} is shown with noise for `env.cue_steps` steps, then `env.delay` steps of
pure noise, then a query: answering the class pays +1, otherwise -1. The curriculum grows the
delay from `curriculum.start` to `env.delay` as the evaluated success rate passes
`curriculum.threshold`.

python main.py --config=configs/class_query.py [--config.curriculum.enabled=False ...]
python main.py --config=configs/class_query.py:ppo     # the same task with ppo
"""

import ml_collections

from configs import common

SETTINGS = common.AgentSettings()


@SETTINGS.agent
def a3c(c: ml_collections.ConfigDict) -> None:
  """A2C with whole episodes in one chunk and Psi_t = r_t (Bartunov's lecture)."""
  c.name = 'class_query_a2c'
  a = c.agent
  a.num_envs = 32
  # One chunk holds a whole episode at the target delay (cue_steps + delay + 1 steps);
  # every chunk starts new episodes, so gradients reach the cue through the whole delay.
  a.unroll_length = 106
  a.reset_each_unroll = True
  # Only the answer at the query is paid, so r_t is its exact credit ('immediate', the
  # last resort of Bartunov's lecture); the estimators that also weight the ignored
  # actions before the query (mc, gae, ...) destabilise the memory
  # (benchmarks/long_memory.py).
  a.advantage = 'immediate'  # mc | baseline | kstep | gae | immediate
  a.n_step = 106  # K of 'kstep'
  a.gae_lambda = 0.95
  a.gamma = 0.99
  a.value_coef = 0.5
  a.entropy_coef = 0.01
  a.entropy_coef_end = 0.01
  a.entropy_schedule = 'constant'  # constant | linear
  a.optimizer = 'adam'  # adam | rmsprop
  a.optimizer_eps = 1e-8
  a.learning_rate = 1e-3
  a.learning_rate_end = 0.0
  a.learning_rate_schedule = 'linear'  # constant | linear
  a.max_grad_norm = 1.0
  a.normalize_advantages = False  # True: Psi standardised over each unroll's batch
  a.reward_scale = 1.0  # rewards x this for learning (the value predicts scaled returns)
  a.retrieval = True  # episodic_lstm only
  c.launch = common.launch(num_evaluators=0, updates_per_call=20)


@SETTINGS.agent
def ppo(c: ml_collections.ConfigDict) -> None:
  """Recurrent PPO: rollouts of 106 steps continue the episodes (whole episodes at the
  target delay); gamma 0, so each action's advantage is its own reward less the value (the
  answer's exact credit, as a3c's Psi_t = r_t: with gamma 0.99 and GAE(0.95) two seeds of
  three learnt the memory and then lost it), normalised per batch
  (docs/tasks/class_query.md)."""
  a = c.agent
  a.num_envs = 32
  a.unroll_length = 106
  a.gamma = 0.0  # the answer's reward is all its credit
  a.gae_lambda = 0.95
  a.epochs = 2  # passes over each rollout
  a.minibatches = 2  # per epoch, over environments (whole sequences)
  a.normalize_advantages = True
  a.task_group_size = 1  # > 1: groups of envs on one task, advantages within the group
  a.reward_scale = 1.0
  a.clip_eps = 0.2
  a.value_clip_eps = 0.0  # 0: the value loss is not clipped
  a.value_coef = 0.5
  a.entropy_coef = 0.01
  a.entropy_coef_end = 0.01
  a.entropy_schedule = 'constant'  # constant | linear
  a.optimizer = 'adam'  # adam | rmsprop
  a.optimizer_eps = 1e-8
  a.learning_rate = 1e-3
  a.learning_rate_end = 0.0
  a.learning_rate_schedule = 'linear'  # constant | linear
  a.max_grad_norm = 1.0
  a.retrieval = True  # episodic_lstm only
  c.launch = common.launch(num_evaluators=0, updates_per_call=5)


def get_config(agent: str = 'a3c') -> ml_collections.ConfigDict:
  c = common.run(f'class_query_{agent}')
  common.budget(c, total_env_steps=20_000_000, log_every_env_steps=500_000)
  common.checkpoints(c, every=2_000_000)

  c.env = ml_collections.ConfigDict()
  c.env.name = 'class_query'
  c.env.cue_steps = 5
  c.env.delay = 100  # the task's delay (the curriculum's target)
  c.env.noise_scale = 1.0  # the lecture's figure: noise about as large as the class
  c.env.reward_correct = 1.0
  c.env.reward_wrong = -1.0

  c.network = ml_collections.ConfigDict()
  c.network.core = 'lstm'  # lstm | gru | lru (linear recurrence, parallel scan)
  c.network.init = 'haiku'  # haiku | pytorch (a gru core as PyTorch's nn.GRU)
  c.network.core_layers = 1  # stacked layers (lru only)
  c.network.hidden_size = 32
  c.network.torso_sizes = ()
  c.network.value_core = 'separate'  # shared (one core, two heads) | separate (own core)

  SETTINGS.apply(c, agent)

  c.curriculum = ml_collections.ConfigDict()
  c.curriculum.enabled = True
  c.curriculum.field = 'delay'  # an integer EnvParams field; its target is env.<field>
  c.curriculum.start = 1
  c.curriculum.metric = 'success'  # an evaluation metric
  c.curriculum.threshold = 0.95
  c.curriculum.window = 2  # consecutive evaluations averaged
  c.curriculum.growth_factor = 1.5
  c.curriculum.min_increment = 2

  c.eval = ml_collections.ConfigDict()
  c.eval.every_env_steps = 200_000
  c.eval.num_episodes = 500

  c.log = common.log()
  return c
