"""End-to-end runs through main.py: distributed layout and outputs (faults: test_reliability)."""

import csv
import os
import pickle
import re
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, 'configs', 'bandit_train.py') + ':a3c'  # workers: a3c
EVAL = os.path.join(ROOT, 'configs', 'eval.py')
SMALL = ['--config.agent.num_envs=16', '--config.agent.unroll_length=10',
         '--config.eval.num_episodes=8', '--config.launch.updates_per_call=5']
TRAIN_COLUMNS = {'env_steps', 'updates', 'wall_time', 'env_steps_per_sec', 'mean_reward',
                 'loss', 'policy_loss', 'value_loss', 'entropy'}
EVAL_COLUMNS = {'env_steps', 'wall_time', 'mean_reward_per_trial', 'mean_cumulative_regret'}


def main_cmd(config, *overrides):
  return [sys.executable, os.path.join(ROOT, 'main.py'), f'--config={config}', *overrides]


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def child_pids(run_dir):
  with open(os.path.join(run_dir, 'log.txt')) as f:
    return [int(p) for p in re.findall(r'started \S+ \(pid (\d+)\)', f.read())]


def alive(pid):
  try:
    with open(f'/proc/{pid}/stat') as f:
      return f.read().split()[2] != 'Z'
  except FileNotFoundError:
    return False


def wait_for(predicate, timeout):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if predicate():
      return True
    time.sleep(0.2)
  return False


@pytest.fixture(scope='module')
def distributed_run(tmp_path_factory):
  run_dir = str(tmp_path_factory.mktemp('runs') / 'dist')
  result = subprocess.run(
      main_cmd(TRAIN, f'--config.run_dir={run_dir}', '--config.total_env_steps=16000',
               '--config.launch.num_workers=2', '--config.launch.num_evaluators=1',
               '--config.eval.every_env_steps=4000', '--config.log_every_env_steps=4000',
               *SMALL),
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  return run_dir


def test_two_workers_and_an_evaluator_write_every_output(distributed_run):
  run_dir = distributed_run
  for name in ('config.json', 'log.txt', 'train.csv', 'eval.csv', 'params.pickle'):
    assert os.path.exists(os.path.join(run_dir, name)), name
  train = read_csv(os.path.join(run_dir, 'train.csv'))
  assert TRAIN_COLUMNS <= set(train[0])
  assert [int(r['env_steps']) for r in train][-1] >= 16000
  assert all(float(r['env_steps_per_sec']) > 0 for r in train)
  evals = read_csv(os.path.join(run_dir, 'eval.csv'))
  assert EVAL_COLUMNS <= set(evals[0])
  steps = [int(r['env_steps']) for r in evals]
  assert steps == sorted(steps) and steps[-1] >= 16000  # the final params were evaluated
  with open(os.path.join(run_dir, 'params.pickle'), 'rb') as f:
    payload = pickle.load(f)
  assert payload['env_steps'] >= 16000 and payload['config']['launch']['num_workers'] == 2
  pids = child_pids(run_dir)
  assert len(pids) == 3  # 2 workers + 1 evaluator, all gone
  assert not any(alive(p) for p in pids)


@pytest.mark.slow  # a process of its own; in process in the quick suite: tests/test_api.py
def test_offline_evaluation_writes_data_summary_and_figures(distributed_run, tmp_path):
  out = str(tmp_path / 'eval')
  result = subprocess.run(
      main_cmd(EVAL, f'--config.params_path={distributed_run}/params.pickle',
               f'--config.run_dir={out}', '--config.num_episodes=8'),
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(out, 'eval_data.pickle'), 'rb') as f:
    data = pickle.load(f)
  assert data['actions'].shape == (8, 100) and data['rewards'].shape == (8, 100)
  assert data['arm_probs'].shape == (8, 2) and data['hidden'].shape == (8, 100, 48)
  assert set(np.unique(data['actions'])) <= {0, 1}
  summary = {r['method']: r for r in read_csv(os.path.join(out, 'eval_summary.csv'))}
  assert set(summary) == {'agent', 'thompson', 'ucb1', 'random', 'oracle', 'bayes_optimal'}
  np.testing.assert_allclose(float(summary['agent']['mean_cumulative_regret']),
                             data['regret'].sum(1).mean(), rtol=1e-4)
  assert 0 <= float(summary['agent']['bayes_agreement']) <= 1
  assert float(summary['agent']['kl_from_bayes']) > 0  # its policy samples: never one-hot
  for png in ('bandit_actions.png', 'regret.png', 'bayes_agreement.png'):
    assert os.path.getsize(os.path.join(out, png)) > 1000


def test_the_progress_line_shows_no_rate_before_one_is_measured(capsys):
  from launch.console import Progress
  progress = Progress(total=1000)
  progress.update(100)
  progress._bar.refresh()
  assert '- env-steps/s | eval: -' in capsys.readouterr().err
  progress.update(200, rate=1234.5, eval_metrics={'regret': 2.5})
  progress._bar.refresh()
  assert '1,234.5 env-steps/s | eval: regret=2.5' in capsys.readouterr().err
  progress.close()


@pytest.mark.slow  # a run of its own, end to end
def test_the_console_shows_the_bar_and_short_lines_the_log_has_the_rows(tmp_path):
  run_dir = tmp_path / 'run'
  result = subprocess.run(main_cmd(TRAIN, f'--config.run_dir={run_dir}', *SMALL,
                                   '--config.total_env_steps=4000',
                                   '--config.log_every_env_steps=800',
                                   '--config.eval.every_env_steps=2000',
                                   '--config.launch.num_evaluators=0'),
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  console = result.stderr.replace('\r', '\n')
  assert not re.search(r'^[ID]\d{4} ', console, re.M), console  # no absl INFO rows
  assert 'tpu' not in console.lower() and 'train: env_steps=' not in console
  assert len(re.findall(r'^eval at [\d,]+ env steps: mean_cumulative_regret', console,
                        re.M)) == 2
  assert f'training bandit_a3c into {run_dir}' in console and '100%' in console
  with open(run_dir / 'log.txt') as f:
    log = f.read()
  assert log.count('train: env_steps=') == 5 and log.count('eval: env_steps=') == 2
