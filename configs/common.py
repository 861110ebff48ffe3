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
  """Checkpoints, resume and the divergence stop, at their defaults (the rules and their
  meaning: `launch.validation.RUN_DEFAULTS`) but `every` (env steps between checkpoints;
  0: none); `replay`: the checkpoint_replay field (agents with a replay)."""
  from launch.validation import RUN_DEFAULTS, RUN_DEFAULTS_BY_KIND
  for field in ('keep_checkpoints', 'resume', 'max_bad_updates'):
    c[field] = RUN_DEFAULTS[field].default
  c.checkpoint_every = every
  if replay:
    c.checkpoint_replay = RUN_DEFAULTS_BY_KIND['replay']['checkpoint_replay'].default


def launch(**fields) -> ml_collections.ConfigDict:
  """The processes of a run: every field of `launch.validation.LAUNCH` (where each is said)
  at its default, but `fields` (e.g. num_evaluators=0, updates_per_call=20)."""
  from launch.validation import LAUNCH
  return _from_table('launch', LAUNCH, fields)


def network(**fields) -> ml_collections.ConfigDict:
  """The recurrent actor-critic network (a3c, ppo): every field of
  `metarl.agents.actor_critic.NETWORK` at its default (an LSTM of 48 units, Wang et al.
  2018's) but `fields` (e.g. value_core='rpe')."""
  from metarl.agents.actor_critic import NETWORK
  return _from_table('network', NETWORK, fields)


def _from_table(section: str, table, fields) -> ml_collections.ConfigDict:
  """Every field of `table` at its rule's default but `fields`; ValueError naming a field
  the table does not have."""
  unknown = sorted(set(fields) - set(table))
  if unknown:
    raise ValueError(f'{section} has no fields {unknown}; its fields are {sorted(table)}')
  return ml_collections.ConfigDict({name: fields.get(name, rule.default)
                                    for name, rule in table.items()})


def wang2018_a2c(**fields) -> ml_collections.ConfigDict:
  """The a3c agent as Wang et al. (2018) train every simulation (../shared/SCIENCE.md
  section D, "Common"): A2C with RMSProp at 7e-4, gamma 0.9, value cost 0.05, entropy cost
  0.05, unrolls of 100 steps whose returns are bootstrapped over the whole unroll; the core
  state carried across unrolls, gradients clipped at norm 50 (metarl's other A2C configs),
  16 environments per update (not given in the paper); but `fields`, a simulation's own."""
  a = ml_collections.ConfigDict(dict(
      name='a3c', num_envs=16, unroll_length=100, n_step=100, advantage='kstep',
      gae_lambda=0.95, reset_each_unroll=False, normalize_advantages=False,
      reward_scale=1.0, gamma=0.9, value_coef=0.05, entropy_coef=0.05,
      entropy_coef_end=0.05, entropy_schedule='constant', optimizer='rmsprop',
      optimizer_eps=1e-8, learning_rate=7e-4, learning_rate_end=7e-4,
      learning_rate_schedule='constant', max_grad_norm=50.0, retrieval=True))
  unknown = sorted(set(fields) - set(a))
  if unknown:
    raise ValueError(f'agent has no fields {unknown}; its fields are {sorted(a)}')
  a.update(fields)
  return a


def log() -> ml_collections.ConfigDict:
  """Where rows go besides the CSVs: every field of `launch.validation.LOG` (where each is
  said) at its default (CSV only)."""
  from launch.validation import LOG
  return ml_collections.ConfigDict({name: rule.default for name, rule in LOG.items()})


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
