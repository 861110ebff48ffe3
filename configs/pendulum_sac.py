"""SAC on pendulum (gymnasium Pendulum-v1 dynamics), fully or partially observed.

python main.py --config=configs/pendulum_sac.py                      # MLP, full observation
python main.py --config=configs/pendulum_sac.py --config.env.observe_velocity=False \
    --config.network.core=gru --config.total_env_steps=50000       # velocity hidden, GRU

Defaults follow RLtools' pendulum SAC: 64x64 MLPs, batch 100, 10k steps. With a recurrent
core the batch holds `replay.sequence_length`-step sequences instead of single steps.
"""

import ml_collections

from configs import memory_sac


def get_config() -> ml_collections.ConfigDict:
  c = memory_sac.get_config()
  c.name = 'pendulum_rsac'
  c.total_env_steps = 10_000
  c.log_every_env_steps = 1_000

  c.env = ml_collections.ConfigDict()
  c.env.name = 'pendulum'
  c.env.observe_velocity = True  # False: only cos and sin of the angle are observed
  c.env.episode_step_limit = 200

  c.network.core = 'mlp'
  c.network.torso_sizes = ()
  c.network.hidden_sizes = (64, 64)
  c.network.activation = 'relu'

  c.agent.gamma = 0.99
  c.agent.batch_size = 100
  c.agent.actor_update_interval = 1
  c.agent.warmup_steps = 100
  c.agent.critic_warmup_steps = 100
  c.agent.actor_warmup_steps = 100
  c.agent.actor_lr = 1e-3
  c.agent.critic_lr = 1e-3
  c.agent.target_entropy = None  # -action_dim
  c.agent.unroll_length = 20

  c.replay.capacity = 10_000  # RLtools: the whole run
  c.replay.sequence_length = 1  # MLP: single transitions
  c.replay.random_seq_length = False
  c.replay.mask_non_terminal = False

  c.launch.updates_per_call = 500

  c.eval.every_env_steps = 2_000
  c.eval.num_episodes = 10
  return c
