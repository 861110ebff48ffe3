"""Meta-RL on two-armed bandits with independent arms (Wang et al. 2018; seed 001).

python main.py --config=configs/bandit_train.py [--config.env.num_arms=5 ...]
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'bandit_a3c'
  c.mode = 'train'
  c.seed = 0
  c.run_dir = ''  # '' -> runs/<timestamp>_<name>
  c.total_env_steps = 100_000_000
  c.log_every_env_steps = 1_000_000
  c.checkpoint_every = 10_000_000  # env steps between checkpoints (0: none)
  c.keep_checkpoints = 3  # newest checkpoints kept in run_dir/checkpoints
  c.resume = False  # True: continue the run in run_dir from its newest checkpoint
  c.max_bad_updates = 100  # updates with NaN/Inf skipped in a row before the run stops

  c.env = ml_collections.ConfigDict()
  c.env.name = 'bandit'
  c.env.num_arms = 2
  c.env.reward_structure = 'independent'  # independent | correlated | normalized | fixed
  c.env.trials_per_episode = 100
  c.env.fixed_probs = ()  # only for reward_structure='fixed'; one per arm

  c.network = ml_collections.ConfigDict()
  c.network.core = 'lstm'  # lstm | gru
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
  c.agent.learning_rate = 3e-4
  c.agent.learning_rate_end = 0.0
  c.agent.learning_rate_schedule = 'linear'  # constant | linear
  c.agent.max_grad_norm = 50.0

  c.launch = ml_collections.ConfigDict()
  c.launch.backend = 'mp'  # mp: processes on this machine | ray: Ray actors (launch/README.md)
  c.launch.ray_address = ''  # ray: '' starts a local instance; HOST:PORT joins a cluster
  c.launch.ray_temp_dir = ''  # ray, local instance: session files ('' = a new /tmp folder)
  c.launch.ray_cpus_per_child = 1.0  # ray: CPUs each worker / evaluator actor reserves
  c.launch.num_workers = 0  # 0: train in this process (fastest on few cores)
  c.launch.num_evaluators = 1
  c.launch.updates_per_call = 100  # single-process: updates fused in one jitted call
  c.launch.queue_timeout_s = 0.5
  c.launch.startup_timeout_s = 300.0  # longest wait for a child's first message
  c.launch.child_timeout_s = 120.0  # a child silent this long is hung: replaced
  c.launch.max_restarts = 3  # dead or hung children replaced before the run stops

  c.eval = ml_collections.ConfigDict()
  c.eval.every_env_steps = 5_000_000
  c.eval.num_episodes = 500

  c.log = ml_collections.ConfigDict()
  # True: train.csv and eval.csv also as TensorBoard scalars in run_dir/tensorboard
  # (to view them: pip install tensorboard; tensorboard --logdir runs/)
  c.log.tensorboard = False
  return c
