"""metarl from Python (`metarl.train`, `metarl.evaluate`, `metarl.load`) and the command
line from any directory (a config by name)."""

import os
import subprocess
import sys

import pytest

import metarl
from configs import bandit_train
from launch import cli
from metarl import runs
from tests.command_line import refusal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = dict(total_env_steps=32000, log_every_env_steps=16000, eval__every_env_steps=16000,
             eval__num_episodes=8, agent__num_envs=16, launch__updates_per_call=5,
             launch__num_evaluators=0)


def test_train_then_evaluate_return_the_runs(tmp_path):
  run = metarl.train('bandit_train', run_dir=str(tmp_path / 'run'), **SMALL)
  assert isinstance(run, runs.Run)
  assert run.dir == str(tmp_path / 'run')
  assert list(run.eval['env_steps']) == [16000, 32000]
  assert run.config.agent.num_envs == 16 and run.config.eval.num_episodes == 8
  assert run.params()  # params.pickle
  evaluation = metarl.evaluate(run, run_dir=str(tmp_path / 'eval'), num_episodes=8)
  assert evaluation.dir == str(tmp_path / 'eval')
  assert 'agent' in set(evaluation.summary['method'])  # eval_summary.csv: agent vs baselines
  assert int(evaluation.summary.set_index('method').loc['agent', 'num_episodes']) == 8


@pytest.mark.parametrize('overrides,flag', [
    (dict(env__num_arms=0), '--config.env.num_arms=0'),
    (dict(agent__no_such_field=1), '--config.agent.no_such_field=1'),
])
def test_a_bad_override_raises_the_command_line_s_one_line(overrides, flag):
  with pytest.raises(metarl.UsageError) as e:
    metarl.train('configs/bandit_train.py', **overrides)
  assert str(e.value) == refusal(f'--config={ROOT}/configs/bandit_train.py', flag)


def test_a_config_dict_and_dotted_overrides(tmp_path):
  config = bandit_train.get_config('a3c')
  loaded = metarl.load(config, **{'agent.learning_rate': 0.01, 'run_dir': str(tmp_path)})
  assert loaded.agent.learning_rate == 0.01 and config.agent.learning_rate == 1e-3
  with pytest.raises(metarl.UsageError, match='config.agent.gamma'):
    metarl.load(config, agent__gamma=2.0)
  with pytest.raises(metarl.UsageError, match="no field 'nope'"):
    metarl.load(config, nope__x=1)


def test_configs_are_found_by_name_from_any_directory(tmp_path):
  cwd = os.getcwd()
  try:
    os.chdir(tmp_path)  # not the repository
    assert cli.resolve_config('bandit_train') == os.path.join(ROOT, 'configs',
                                                              'bandit_train.py')
    assert cli.resolve_config('configs/train.py:a3c') == (
        os.path.join(ROOT, 'configs', 'train.py') + ':a3c')
    assert cli.resolve_config('no_such_config') == 'no_such_config'
    # a bare name is the shipped config, whatever the current folder holds (a config file
    # is code that runs); a path with a folder is the file it names
    (tmp_path / 'eval').write_text('import os; os.system("touch pwned")')
    (tmp_path / 'bandit_train.py').write_text('')
    assert cli.resolve_config('eval') == os.path.join(ROOT, 'configs', 'eval.py')
    assert cli.resolve_config('bandit_train.py') == os.path.join(ROOT, 'configs',
                                                                 'bandit_train.py')
    assert cli.resolve_config('./bandit_train.py') == './bandit_train.py'
    (tmp_path / 'mine.py').write_text('')  # a file of your own, of no shipped name
    assert cli.resolve_config('mine.py:x') == 'mine.py:x'
  finally:
    os.chdir(cwd)


@pytest.mark.slow  # end to end, over 10 s: the slow step of CI
def test_the_command_from_another_directory_writes_its_runs_there(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'launch.cli', '--config=bandit_train',
       '--config.total_env_steps=16000', '--config.eval.every_env_steps=16000',
       '--config.eval.num_episodes=10', '--config.agent.num_envs=16',
       '--config.launch.updates_per_call=5'],
      capture_output=True, text=True, timeout=300, cwd=tmp_path,
      env=dict(os.environ, PYTHONPATH=ROOT))
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'run written to runs/' in result.stdout
  assert len(os.listdir(tmp_path / 'runs')) == 1


def test_runs_do_not_reserve_a_gpu_unless_told_to():
  base = {k: v for k, v in os.environ.items() if not k.startswith('XLA_PYTHON_CLIENT_')}
  result = subprocess.run(
      [sys.executable, '-c', 'import os, launch.cli; '
       'print(os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE"))'],
      capture_output=True, text=True, timeout=120, cwd=ROOT, env=base)
  # every process of a run allocates GPU memory as it needs it
  assert result.stdout.strip() == 'false', result.stderr[-2000:]


@pytest.mark.parametrize('env,expected', [
    ({'XLA_PYTHON_CLIENT_PREALLOCATE': 'true'}, 'true'),  # the user's choice wins
    ({'XLA_PYTHON_CLIENT_MEM_FRACTION': '.3'}, None),
])
def test_a_gpu_setting_of_the_user_wins(monkeypatch, env, expected):
  from metarl.xla_setup import share_accelerators
  for name in ('XLA_PYTHON_CLIENT_PREALLOCATE', 'XLA_PYTHON_CLIENT_MEM_FRACTION'):
    monkeypatch.delenv(name, raising=False)
  for name, value in env.items():
    monkeypatch.setenv(name, value)
  share_accelerators()
  assert os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE') == expected
