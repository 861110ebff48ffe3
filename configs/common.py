"""The config sections every training config shares, written once; configs compose them.

    c = common.run('bandit_a3c')                       # name, mode, seed, run_dir
    common.budget(c, total_env_steps=..., log_every_env_steps=...)
    common.checkpoints(c, every=10_000_000)            # checkpoint, resume, divergence fields
    c.launch = common.launch(num_evaluators=1)
    c.log = common.log()
"""

import ml_collections


def run(name: str, seed: int = 0) -> ml_collections.ConfigDict:
  """A training config's top: its name (which names the run directory), mode and seed."""
  c = ml_collections.ConfigDict()
  c.name = name
  c.mode = 'train'
  c.seed = seed
  c.num_seeds = 1  # seeds seed, seed + 1, ... trained side by side in one process
  c.run_dir = ''  # '' -> runs/<timestamp>_<name>
  return c


def budget(c: ml_collections.ConfigDict, total_env_steps: int,
           log_every_env_steps: int) -> None:
  """The env-step budget of an agent trained on env steps (gradients and replay kinds)."""
  c.total_env_steps = total_env_steps
  c.log_every_env_steps = log_every_env_steps


def checkpoints(c: ml_collections.ConfigDict, every: int, replay: bool = False) -> None:
  """Checkpoints, resume and the divergence stop; `replay`: the checkpoint_replay field
  (agents with a replay)."""
  c.checkpoint_every = every  # env steps between checkpoints (0: none)
  c.keep_checkpoints = 3  # newest checkpoints kept in run_dir/checkpoints
  if replay:
    c.checkpoint_replay = True  # checkpoints hold the replay contents (exact resume)
  c.resume = False  # True: continue the run in run_dir from its newest checkpoint
  c.max_bad_updates = 100  # updates with NaN/Inf skipped in a row before the run stops


def launch(num_workers: int = 0, num_evaluators: int = 1, updates_per_call: int = 100,
           children: bool = True) -> ml_collections.ConfigDict:
  """The processes of a run; `children=False` for agents that run in the manager only."""
  c = ml_collections.ConfigDict()
  # mp: processes on this machine | ray: Ray actors (docs/clusters.md)
  c.backend = 'mp'
  if children:
    c.ray_address = ''  # ray: '' starts a local instance; HOST:PORT joins a cluster
    c.ray_temp_dir = ''  # ray, local instance: session files ('' = a new /tmp folder)
    c.ray_cpus_per_child = 1.0  # ray: CPUs each worker / evaluator actor reserves
    c.oversubscribe = False  # True: more than 4 workers per CPU of this machine (Ray)
  c.num_workers = num_workers  # 0: train in this process (fastest on few cores)
  c.num_evaluators = num_evaluators  # 0: evaluate in this process
  if children:
    c.updates_per_call = updates_per_call  # single process: updates fused in one call
    # workers of a3c: gradients of this many unrolls per message, applied in order
    c.unrolls_per_message = 1
  c.queue_timeout_s = 0.5
  c.startup_timeout_s = 300.0  # longest wait for a child's first message
  if children:
    c.child_timeout_s = 120.0  # a child silent this long is hung: replaced
    c.max_restarts = 3  # dead or hung children replaced before the run stops
  return c


def log() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # True: train.csv and eval.csv also as TensorBoard scalars in run_dir/tensorboard
  # (to view them: pip install tensorboard; tensorboard --logdir runs/)
  c.tensorboard = False
  # a Weights & Biases project: the same rows also go to W&B ('' = off; pip install wandb)
  c.wandb_project = ''
  c.wandb_mode = 'offline'  # offline: files in run_dir/wandb (`wandb sync` them) | online
  return c


class AgentSettings:
  """The settings an experiment config gives each agent it knows, one function per agent
  named after it:

      SETTINGS = common.AgentSettings()

      @SETTINGS.agent
      def ppo(c): ...          # fills c.agent (and c.network, ...) for ppo

      def get_config(agent: str = 'ppo'):
        ...
        SETTINGS.apply(c, agent)

  `--config.agent.name=NAME` on such a config loads it as FILE:NAME (launch/cli.py), so
  the switch brings NAME's settings, not only its name.
  """

  def __init__(self):
    self._by_agent = {}

  def agent(self, fill):
    """Registers `fill(c)` as the settings of the agent its function is named after."""
    self._by_agent[fill.__name__] = fill
    return fill

  def names(self) -> list[str]:
    return list(self._by_agent)

  def apply(self, c: ml_collections.ConfigDict, agent: str) -> None:
    """Sets c.agent.name and fills the agent's settings; ValueError for an agent the config
    gives no settings for."""
    if agent not in self._by_agent:
      raise ValueError(f'this config gives settings for the agents {self.names()}, not '
                       f'{agent!r}')
    c.agent = ml_collections.ConfigDict()
    c.agent.name = agent
    self._by_agent[agent](c)
