"""Two-step analyses: the stay-probability files, and the episodic agent through main.py
(training and its analysis)."""

import csv
import os
import pickle
import subprocess

import numpy as np
import pytest

from tests.test_launch import main_cmd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_stay_probability_analysis_writes_its_files(tmp_path):
  # In process, on untrained params (training end to end: tests/test_sweep.py).
  import jax

  from configs.two_step_train import get_config
  from metarl.agents import a3c
  from metarl.analysis import registry
  from metarl.envs.two_step import TwoStep
  train_config = get_config()
  env = TwoStep()
  policy = a3c.eval_policy(train_config, env, record=True)
  params = a3c.make_networks(train_config, env).init(jax.random.PRNGKey(0))
  out = str(tmp_path)
  registry.analysis_for('two_step').analyze(registry.EvalRequest(
      env=env, policy=policy, params=params, saved=None, num_episodes=30, log_dynamics=True,
      key=jax.random.PRNGKey(1), out_dir=out))
  with open(os.path.join(out, 'stay_probability.csv')) as f:
    stay = list(csv.DictReader(f))
  assert [r['condition'] for r in stay] == ['rewarded_common', 'rewarded_uncommon',
                                            'unrewarded_common', 'unrewarded_uncommon']
  assert sum(int(r['count']) for r in stay) == 30 * 99  # every pair of trials in an episode
  with open(os.path.join(out, 'eval_data.pickle'), 'rb') as f:
    data = pickle.load(f)
  for key in ('action', 'stage2', 'common', 'reward', 'good'):
    assert data[key].shape == (30, 100), key
  assert data['hidden'].shape == (30, 100, 48)
  # Common transitions take action a to state a; uncommon ones to the other state.
  np.testing.assert_array_equal(data['stage2'] == data['action'], data['common'])
  assert os.path.getsize(os.path.join(out, 'stay_probability.png')) > 0


@pytest.mark.slow
def test_episodic_agent_trains_and_writes_its_analysis(tmp_path):
  run_dir, out = str(tmp_path / 'run'), str(tmp_path / 'eval')
  result = subprocess.run(
      main_cmd(os.path.join(ROOT, 'configs', 'episodic_two_step_train.py'),
               f'--config.run_dir={run_dir}', '--config.total_env_steps=32000',
               '--config.log_every_env_steps=16000', '--config.eval.every_env_steps=32000',
               '--config.eval.num_episodes=10', '--config.launch.num_evaluators=0',
               '--config.launch.updates_per_call=5'),
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(run_dir, 'eval.csv')) as f:
    assert {'reward_cued', 'reward_uncued'} <= set(next(csv.DictReader(f)))
  result = subprocess.run(
      main_cmd(os.path.join(ROOT, 'configs', 'eval.py'),
               f'--config.params_path={run_dir}/params.pickle', f'--config.run_dir={out}',
               '--config.num_episodes=10'),
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(out, 'stay_probability.csv')) as f:
    analyses = [r['analysis'] for r in csv.DictReader(f)]
  assert analyses == ['uncued'] * 4 + ['cued'] * 4 + ['episodic'] * 4
  with open(os.path.join(out, 'reward_per_trial.csv')) as f:
    assert [r['trials'] for r in csv.DictReader(f)] == ['uncued', 'cued']
