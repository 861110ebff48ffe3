"""Recurrent SAC on the memory task (RLtools' memory example).

python main.py --config=configs/memory_sac.py [--config.env.horizon=5 ...]

The agent must output count/H, the number of ones among the last H input bits; only the
newest bit is observed. RLtools' settings: GRU actor and critics (dense 16 tanh, GRU 16,
GRU 16), gamma 0, batch 4 sequences of 50 steps, critic every step and actor every 2nd,
200k steps; eval.csv holds RLtools' accuracy on random 50-step sequences.
"""

import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.run('memory_rsac')
  common.budget(c, total_env_steps=200_000, log_every_env_steps=10_000)
  common.checkpoints(c, every=50_000, replay=True)

  c.env = ml_collections.ConfigDict()
  c.env.name = 'memory'
  c.env.horizon = 10  # H: ones are counted in the last H bits
  c.env.input_probability = 0.2  # P(bit = 1); RLtools: 2/H for H > 4, else 0.5
  c.env.episode_step_limit = 2000  # truncation (the task never terminates)

  c.network = ml_collections.ConfigDict()
  c.network.core = 'gru'  # mlp | gru | lstm | lru
  c.network.torso_sizes = (16,)  # dense layers before the core
  c.network.hidden_sizes = (16, 16)  # one recurrent (or dense, for mlp) layer per entry
  c.network.activation = 'tanh'  # tanh | relu | elu
  c.network.critic_prev_action_reward = False  # critic also sees a_{t-1}, r_{t-1}
  c.network.log_std_min = -20.0
  c.network.log_std_max = 2.0

  c.agent = ml_collections.ConfigDict()
  c.agent.name = 'rsac'
  c.agent.num_envs = 1  # env copies stepped together (per worker)
  c.agent.gamma = 0.0  # the task tests memory, not planning
  c.agent.batch_size = 4  # sequences per update
  c.agent.replay_ratio = 1.0  # learner ticks per env step
  c.agent.critic_update_interval = 1  # in ticks
  c.agent.actor_update_interval = 2
  c.agent.warmup_steps = 1000  # env steps with uniform random actions
  c.agent.critic_warmup_steps = 1000  # env steps before the critic trains
  c.agent.actor_warmup_steps = 10000  # env steps before the actor trains
  c.agent.actor_lr = 1e-4
  c.agent.critic_lr = 1e-3
  c.agent.alpha_lr = 1e-3
  c.agent.tau = 0.005  # Polyak: target <- (1 - tau) target + tau online
  c.agent.initial_alpha = 1.0
  c.agent.adaptive_alpha = True
  c.agent.target_entropy = -4.0  # None: -action_dim
  c.agent.entropy_bonus = True  # soft target: - alpha log pi(a'|h')
  c.agent.max_grad_norm = 0.0  # 0: no clipping
  c.agent.unroll_length = 50  # steps per chunk a worker sends (num_workers > 0)

  c.replay = ml_collections.ConfigDict()
  c.replay.capacity = 200_000  # steps, over all env streams
  c.replay.sequence_length = 50
  c.replay.random_seq_length = True
  c.replay.nominal_seq_length_prob = 0.5
  c.replay.always_sample_from_initial_state = False
  c.replay.include_first_step_in_targets = True
  c.replay.mask_non_terminal = True

  c.launch = common.launch(num_evaluators=0, updates_per_call=1000)

  c.eval = ml_collections.ConfigDict()
  c.eval.every_env_steps = 20_000
  c.eval.num_episodes = 4  # whole episodes with the deterministic policy
  c.eval.num_sequences = 200  # random sequences for the accuracy measure
  c.eval.sequence_length = 50

  c.log = common.log()
  return c
