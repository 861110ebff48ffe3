"""Sizes that each pass their own rule but together cannot run are refused in one line
before anything starts: processes per CPU, and a rough memory estimate."""

import pytest

import main
from launch import sizes
from metarl import envs
from metarl.agents import registry as agent_registry


def load(*overrides, config='configs/bandit_train.py'):
  return main.load_config(['main.py', f'--config={config}', *overrides])


@pytest.mark.parametrize('overrides, named, said', [
    (('--config.env.num_arms=1000000',), 'agent.num_envs', 'GiB'),
    (('--config.network.torso_sizes=100000',), 'agent.num_envs', 'GiB'),
    (('--config.network.hidden_size=200000',), 'network', 'GiB'),
    (('--config.num_seeds=100000', '--config.network.hidden_size=512'), 'agent.num_envs', 'GiB'),
    (('--config.agent.name=a3c', '--config.launch.num_workers=100000'),
     'launch.num_workers', 'launch.oversubscribe=True'),
])
def test_runs_that_cannot_fit_are_one_line_naming_the_biggest_part(overrides, named, said):
  with pytest.raises(SystemExit) as e:
    load(*overrides)
  message = str(e.value)
  assert message.startswith(f'metarl: config.{named} = ') and said in message
  assert '\n' not in message


def test_a_replay_too_big_for_the_machine_is_refused():
  with pytest.raises(SystemExit, match='config.replay.capacity = 2000000000 is invalid'):
    load('--config.replay.capacity=2000000000', config='configs/memory_sac.py')


def test_many_workers_when_asked_for_and_every_shipped_config_fits():
  workers = sizes.WORKERS_PER_CPU * sizes.cpus() + 1
  config = load('--config.agent.name=a3c', f'--config.launch.num_workers={workers}',
                '--config.launch.oversubscribe=True')
  assert config.launch.num_workers == workers
  for name in ('bandit_train', 'memory_sac', 'value_td', 'starkweather', 'class_query',
               'episodic_two_step_train', 'two_step_train', 'pendulum_sac', 'bandit_long'):
    config = load(config=f'configs/{name}.py')
    env = envs.make(config.env)
    parts = sizes.estimate(config, env, agent_registry.spec(config.agent.name).eval_policy(
        config, env, False))
    assert 0 < sum(parts.values()) < 4 * 2**30, (name, parts)  # a few GiB at most
