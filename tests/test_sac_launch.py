"""Recurrent SAC end to end: a short pendulum training that learns (in one process), the
memory task with a worker and an evaluator process, and config errors before any start."""

import csv
import os
import pickle
import runpy
import subprocess
import sys

import pytest

from launch.evaluator import run_offline_evaluation
from launch.manager import train
from launch.validation import validate
from metarl.config_rules import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENDULUM = os.path.join(ROOT, 'configs', 'pendulum_sac.py')
MEMORY = os.path.join(ROOT, 'configs', 'memory_sac.py')
TRAIN_COLUMNS = {'env_steps', 'updates', 'wall_time', 'env_steps_per_sec', 'episode_return',
                 'critic_loss', 'actor_loss', 'alpha_loss', 'alpha', 'entropy',
                 'replay_size'}


def load(path, run_dir, **fields):
  config = runpy.run_path(path)['get_config']()
  config.run_dir = str(run_dir)
  for name, value in fields.items():
    node = config
    *parents, last = name.split('__')
    for p in parents:
      node = node[p]
    node[last] = value
  return config


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


@pytest.mark.slow  # a learning test, over 10 s: the slow step of CI
def test_pendulum_short_training_beats_a_fixed_policy(tmp_path):
  # A zero-torque or random policy scores about -1200 per 200-step episode.
  config = load(PENDULUM, tmp_path / 'run', total_env_steps=4000, eval__every_env_steps=2000,
                log_every_env_steps=1000, launch__updates_per_call=1000)
  validate(config)
  train(config)
  train_rows = read_csv(tmp_path / 'run' / 'train.csv')
  assert TRAIN_COLUMNS <= set(train_rows[0])
  assert [int(r['env_steps']) for r in train_rows] == [1000, 2000, 3000, 4000]
  assert float(train_rows[-1]['replay_size']) == 4000
  assert float(train_rows[-1]['critic_updates']) == 1.0
  evals = read_csv(tmp_path / 'run' / 'eval.csv')
  assert [int(r['env_steps']) for r in evals] == [2000, 4000]
  assert float(evals[-1]['mean_return']) > -600, evals
  with open(tmp_path / 'run' / 'params.pickle', 'rb') as f:
    payload = pickle.load(f)
  assert payload['agent'] == 'rsac' and payload['env_steps'] == 4000
  assert set(payload['params']) == {'actor', 'critic', 'target_critic', 'log_alpha'}
  with open(tmp_path / 'run' / 'log.txt') as f:
    assert 'compiled the training call' in f.read()


@pytest.mark.slow
def test_worker_process_sends_chunks_to_the_learner(tmp_path):
  """A worker and an evaluator process; offline evaluation then refuses rsac params."""
  run_dir = tmp_path / 'run'
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'main.py'), f'--config={MEMORY}',
       f'--config.run_dir={run_dir}', '--config.total_env_steps=400',
       '--config.launch.num_workers=1', '--config.launch.num_evaluators=1',
       '--config.agent.unroll_length=50',
       '--config.agent.num_envs=2', '--config.log_every_env_steps=100',
       '--config.eval.every_env_steps=400', '--config.network.torso_sizes=()',
       '--config.network.hidden_sizes=(4,)', '--config.replay.sequence_length=8',
       '--config.agent.warmup_steps=100', '--config.agent.critic_warmup_steps=100',
       '--config.agent.actor_warmup_steps=200', '--config.eval.num_episodes=1',
       '--config.env.episode_step_limit=50'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  rows = read_csv(run_dir / 'train.csv')
  assert int(rows[-1]['env_steps']) == 400  # 4 chunks of 2 envs x 50 steps
  assert float(rows[-1]['replay_size']) == 400
  assert float(rows[-1]['critic_updates']) == 1.0  # replay ratio 1: a tick per env step
  assert float(rows[0]['actor_updates']) == 0 and float(rows[-1]['actor_updates']) > 0
  assert float(rows[-1]['episode_return']) < 0  # 50-step episodes ended
  with open(run_dir / 'log.txt') as f:
    log = f.read()
  assert 'started worker-0' in log and 'started evaluator-0' in log
  evals = read_csv(run_dir / 'eval.csv')
  assert int(evals[-1]['env_steps']) == 400
  assert 0 <= float(evals[-1]['accuracy']) <= 1 and evals[-1]['step_accuracy'] != ''
  # Offline evaluation works for rsac params too: the memory env's own metrics (its
  # per-step accuracy) over whole episodes of the deterministic policy.
  eval_config = runpy.run_path(os.path.join(ROOT, 'configs', 'eval.py'))['get_config']()
  eval_config.params_path = str(run_dir / 'params.pickle')
  eval_config.num_episodes = 3
  out = run_offline_evaluation(eval_config)
  summary = read_csv(os.path.join(out, 'eval_summary.csv'))
  assert summary[0]['method'] == 'agent' and summary[0]['num_episodes'] == '3'
  assert 0 <= float(summary[0]['accuracy']) <= 1 and float(summary[0]['mean_reward_per_step']) < 0
  with open(os.path.join(out, 'eval_data.pickle'), 'rb') as f:
    data = pickle.load(f)
  assert data['actions'].shape == (3, 50, 1)  # [episodes, steps, action_dim]


@pytest.mark.parametrize('path,field,value,message', [
    (MEMORY, 'replay__capacity', 40, 'at least (sequence_length + 1)'),
    (PENDULUM, 'replay__sequence_length', 5, "'mlp' has no memory"),
    (MEMORY, 'agent__replay_ratio', 0.5, 'whole number'),
    (MEMORY, 'network__core', 'transformer', "['mlp', 'gru', 'lstm', 'lru']"),
    (MEMORY, 'replay__nominal_seq_length_prob', 1.5, '<= 1.0'),
    (MEMORY, 'agent__tau', 1.5, '<= 1.0'),
    (MEMORY, 'agent__critic_update_interval', 0, 'integer >= 1'),
    (MEMORY, 'env__horizon', 0, 'integer >= 1'),
])
def test_bad_fields_are_named(tmp_path, path, field, value, message):
  config = load(path, tmp_path / 'run', **{field: value})
  with pytest.raises(ConfigError) as e:
    validate(config)
  assert message in str(e.value)
  assert field.replace('__', '.') in str(e.value)


def test_agents_and_envs_must_fit(tmp_path):
  config = runpy.run_path(os.path.join(ROOT, 'configs', 'bandit_train.py'))['get_config']('a3c')
  config.env = load(PENDULUM, tmp_path).env
  # an agent says which envs it can train on, and why not (`AgentSpec.supports`)
  with pytest.raises(ConfigError, match='the a3c agent cannot train on it: it needs discrete'):
    validate(config)
  config = load(MEMORY, tmp_path)
  config.agent.name = 'a3c'
  with pytest.raises(ConfigError, match='the a3c agent cannot train on it: it needs discrete'):
    validate(config)
  config = runpy.run_path(os.path.join(ROOT, 'configs', 'bandit_train.py'))['get_config']('a3c')
  config.agent.name = 'rsac'
  with pytest.raises(ConfigError, match='the rsac agent cannot train on it: it needs '
                     'continuous actions'):
    validate(config)
