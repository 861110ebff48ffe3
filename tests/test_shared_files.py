"""Params files from elsewhere: their stored config meets the rules a command-line config
meets, and params that do not fit it, or another agent's, are one line before any folder
is made."""

import os
import pickle

import pytest

import main
from launch.evaluator import run_offline_evaluation
from launch.validation import validate_saved
from metarl import checkpoint, pretrained
from metarl.io import RunFileError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_params(tmp_path, edit):
  """A copy of the shipped bandit agent's params.pickle with `edit(payload)` applied, in a
  folder of its own (where an evaluation would put its eval_* folder)."""
  with open(pretrained.resolve('pretrained:bandit_a3c'), 'rb') as f:
    payload = pickle.load(f)  # the shipped file, a trusted one
  edit(payload)
  folder = tmp_path / 'shared'
  folder.mkdir()
  path = folder / 'params.pickle'
  path.write_bytes(pickle.dumps(payload))
  return str(path)


def evaluate(path, *overrides):
  config = main.load_config(['main.py', f'--config={ROOT}/configs/eval.py',
                             f'--config.params_path={path}', *overrides])
  return run_offline_evaluation(config)


def _set(section, field, value):
  def edit(payload):
    payload['config'][section][field] = value
  return edit


@pytest.mark.parametrize('edit, said', [
    (_set('network', 'hidden_size', 32), 'parameter'),
    (_set('network', 'core', 'gru'), 'parameter'),
    (_set('env', 'num_arms', 3), 'parameter'),
    (_set('env', 'num_arms', -1), 'config.env.num_arms = -1'),
    (_set('agent', 'discount', 7.0), 'config.agent.discount = 7.0'),
    (_set('network', 'core', 'transformer'), 'config.network.core'),
    (_set('agent', 'name', 'ppo'), 'config.agent.name'),
])
def test_a_stored_config_that_is_wrong_or_does_not_fit_is_one_line_and_writes_nothing(
    tmp_path, edit, said):
  path = shared_params(tmp_path, edit)
  with pytest.raises(RunFileError) as e:
    evaluate(path, '--config.num_episodes=8')
  message = str(e.value)
  assert message.startswith(f'{path}: ') and said in message and '\n' not in message
  assert os.listdir(os.path.dirname(path)) == ['params.pickle']  # no eval_* folder


def test_the_shipped_params_and_an_unedited_copy_fit_their_config(tmp_path):
  for name in pretrained.names():
    saved = checkpoint.load_params(pretrained.resolve(f'pretrained:{name}'))
    assert validate_saved(saved).spec.num_actions > 0
  saved = checkpoint.load_params(shared_params(tmp_path, lambda payload: None))
  assert saved.agent == 'a3c' and validate_saved(saved).spec.num_actions == 2


def test_td_refuses_another_agents_params_before_the_run_folder(tmp_path):
  run_dir = tmp_path / 'run'
  with pytest.raises(SystemExit) as e:  # the command line's check: one line, then exit
    main.load_config(['main.py', f'--config={ROOT}/configs/value_td.py',
                      f'--config.run_dir={run_dir}', '--config.init_params_path=' +
                      pretrained.resolve('pretrained:bandit_a3c')])
  assert str(e.value).startswith('metarl: config.init_params_path = ')
  assert "params of the 'a3c' agent cannot start a td run" in str(e.value)
  assert not run_dir.exists()
