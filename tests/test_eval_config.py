"""configs/eval.py serves every agent and task: the task and its analysis come from the
trained run, and evaluating on another task says so in one line unless asked for."""

import os

import pytest

import main
from launch.evaluator import run_offline_evaluation
from launch.manager import train
from metarl import checkpoint
from metarl.io import RunFileError
from tests.test_checkpoints import read_rows, small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def bandit_params(tmp_path_factory):
  run_dir = train(small_config(str(tmp_path_factory.mktemp('bandit') / 'run')))
  return os.path.join(run_dir, 'params.pickle')


def eval_config(params_path, out_dir, *overrides):
  return main.load_config(['main.py', f'--config={ROOT}/configs/eval.py',
                           f'--config.params_path={params_path}',
                           f'--config.run_dir={out_dir}', *overrides])


def test_the_trained_task_and_its_analysis_by_default(bandit_params, tmp_path):
  out = run_offline_evaluation(eval_config(bandit_params, tmp_path / 'eval',
                                           '--config.num_episodes=8'))
  assert {r['method'] for r in read_rows(os.path.join(out, 'eval_summary.csv'))} >= {
      'agent', 'thompson', 'ucb1', 'random'}  # the bandit analysis, from the params file


def test_another_task_needs_transfer(bandit_params, tmp_path):
  config = eval_config(bandit_params, tmp_path / 'eval', '--config.env.name=two_step')
  with pytest.raises(RunFileError) as e:
    run_offline_evaluation(config)
  message = str(e.value)
  assert "trained on 'bandit'" in message and '--config.transfer=True' in message
  assert '\n' not in message and not os.path.exists(tmp_path / 'eval')
  # asked for: the two-step task's observations do not fit a bandit agent, said in one line
  config = eval_config(bandit_params, tmp_path / 'eval', '--config.env.name=two_step',
                       '--config.transfer=True')
  with pytest.raises(RunFileError, match='observations'):
    run_offline_evaluation(config)
  # a variant of the trained task is no transfer
  out = run_offline_evaluation(eval_config(bandit_params, tmp_path / 'variant',
                                           '--config.env.reward_structure=correlated',
                                           '--config.num_episodes=8'))
  assert os.path.exists(os.path.join(out, 'regret.png'))


def test_params_of_the_old_layout_are_refused_in_one_line(tmp_path):
  from metarl import io
  old = str(tmp_path / 'params.pickle')
  io.save_pickle(old, dict(params={}, config={}, env_steps=1, agent='a3c'))
  with pytest.raises(RunFileError, match='older metarl'):
    checkpoint.load_params(old)
