"""Any registered agent on any env it supports, with the components' own defaults.

    python main.py --config=configs/train.py:a3c --config.env.name=reversal
    python main.py --config=configs/train.py:rsac --config.env.name=pendulum \
        --config.total_env_steps=20000

The part after ':' names the agent (default a3c). The agent's sections (agent, network, ...)
hold its registered defaults (metarl/agents/<agent>/config.py); the env section holds every
registered env's fields unset, so any of them can be set on the command line and the env
named by env.name takes its own defaults for the rest (metarl/envs/<env>.py). env.name
starts at the first registered env the agent supports. The experiment configs beside this
file (bandit_train.py, ...) are the published settings of each system.
"""

import ml_collections

from configs import common
from metarl.agents import registry as agent_registry
from metarl.envs import registry as env_registry

# Budget and evaluation cadence of a short first run, by the agent's trainer kind.
_RUN = {
    'gradients': dict(total_env_steps=2_000_000, log_every_env_steps=100_000,
                      every_env_steps=500_000, num_episodes=200, checkpoint=1_000_000),
    'replay': dict(total_env_steps=50_000, log_every_env_steps=5_000, every_env_steps=10_000,
                   num_episodes=4, checkpoint=25_000),
    'seeds': dict(epochs_log=100, every_epochs=200, num_episodes=200, checkpoint=1_000_000),
}


def first_supported_env(spec) -> str:
  """The first registered env the agent can train on."""
  for name in env_registry.ENVS.names():
    if spec.supports(env_registry.make(env_registry.defaults(name))) is None:
      return name
  raise ValueError(f'no registered env supports the {spec.name} agent')


def updates_per_call(c: ml_collections.ConfigDict, kind: str) -> int:
  """Updates fused per single-process call: for the gradients kind about 64,000 env steps'
  worth (a3c's 100 of 64 x 10 steps; ppo's 8 rollouts of 64 x 128), so that train.csv
  gets a row per log_every_env_steps and a short run ends near its budget; else 100."""
  agent = c.agent
  if kind != 'gradients' or 'num_envs' not in agent or 'unroll_length' not in agent:
    return 100
  return max(1, round(64_000 / (agent.num_envs * agent.unroll_length)))


def get_config(agent: str = 'a3c') -> ml_collections.ConfigDict:
  spec = agent_registry.spec(agent)
  run = _RUN[spec.kind]
  c = common.run(agent)
  c.update(agent_registry.sections(agent))
  c.env = env_registry.placeholders(name=first_supported_env(spec))
  if 'eval' not in c:
    c.eval = ml_collections.ConfigDict()
  c.eval.num_episodes = run['num_episodes']
  if spec.kind == 'seeds':
    c.init_params_path = ''  # a params.pickle to start from (fine-tuning)
    c.log_every_epochs = run['epochs_log']
    c.eval.every_epochs = run['every_epochs']
    c.eval.analyze_at_end = True
  else:
    common.budget(c, run['total_env_steps'], run['log_every_env_steps'])
    c.eval.every_env_steps = run['every_env_steps']
  common.checkpoints(c, every=run['checkpoint'], replay=spec.kind == 'replay')
  c.launch = common.launch(num_evaluators=0, updates_per_call=updates_per_call(c, spec.kind))
  c.log = common.log()
  return c
