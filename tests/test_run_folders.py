"""Runs cannot trample each other: folders made exclusively, held by one process for the
run's life, no symbolic links followed, and a resume only of the config the run started
with (its budget, cadences, checkpoints, logs and launch may change)."""

import json
import os
import pickle
import re
import subprocess
import sys

import pytest

from launch import manager
from launch.run_folder import RUN_LOCK, check_same_run, prepare_run_dir
from launch.validation import validate
from metarl import checkpoint, io
from metarl.io import RunFileError
from tests.test_checkpoints import small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path):
  made = [io.new_timestamped_dir(str(tmp_path), 'run') for _ in range(3)]
  assert len(set(made)) == 3 and all(os.path.isdir(p) for p in made)
  assert made[1] == made[0] + '_2' or made[1][:-2] != made[0][:-2]  # same second: _2


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
  run_dir = str(tmp_path_factory.mktemp('finished') / 'run')
  manager.train(small_config(run_dir))
  return run_dir


def resume_config(run_dir, **changes):
  config = small_config(run_dir)
  config.resume = True
  for field, value in changes.items():
    section, _, name = field.rpartition('__')
    (config[section] if section else config)[name] = value
  validate(config)
  return config


def test_a_held_folder_is_refused_to_a_second_process_until_released(finished_run):
  held = prepare_run_dir(resume_config(finished_run))
  with pytest.raises(RunFileError, match=f'another metarl process \\(pid {os.getpid()}\\)'):
    prepare_run_dir(resume_config(finished_run))
  # a process of its own, as a second `main.py --config.resume=True` would be
  result = subprocess.run(
      [sys.executable, 'main.py', f'--config={ROOT}/configs/bandit_train.py:a3c',
       f'--config.run_dir={finished_run}', '--config.resume=True',
       '--config.agent.num_envs=8', '--config.agent.unroll_length=10'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert 'another metarl process' in result.stderr.strip().splitlines()[-1]
  held.release()
  prepare_run_dir(resume_config(finished_run)).release()  # free again


def test_a_new_run_refuses_a_folder_another_run_wrote_into_after_validation(tmp_path):
  config = small_config(str(tmp_path / 'run'))
  validate(config)  # empty when checked ...
  os.makedirs(config.run_dir)
  with open(os.path.join(config.run_dir, 'train.csv'), 'w') as f:
    f.write('env_steps\n1\n')  # ... then another run starts writing
  with pytest.raises(RunFileError, match='a run needs a folder of its own'):
    prepare_run_dir(config)
  with open(os.path.join(config.run_dir, 'train.csv')) as f:
    assert f.read() == 'env_steps\n1\n'


@pytest.mark.parametrize('entry', ['train.csv', 'log.txt', 'checkpoints/ckpt_000000000009999'
                                   '.pickle'])
def test_symbolic_links_in_a_run_folder_are_refused_and_their_targets_untouched(
    finished_run, tmp_path, entry):
  target = tmp_path / 'precious.txt'
  target.write_text('keep me')
  link = os.path.join(finished_run, entry)
  moved = link + '.moved'
  if os.path.exists(link):
    os.rename(link, moved)
  os.symlink(target, link)
  try:
    with pytest.raises(RunFileError, match='is a symbolic link'):
      prepare_run_dir(resume_config(finished_run))
  finally:
    os.unlink(link)
    if os.path.exists(moved):
      os.rename(moved, link)
  assert target.read_text() == 'keep me'


@pytest.mark.parametrize('changes, named', [
    (dict(agent__learning_rate=0.123), 'agent.learning_rate'),
    (dict(seed=7), 'seed'),
    (dict(env__num_arms=3), 'env.num_arms'),
])
def test_a_resume_of_another_config_names_the_fields_and_changes_nothing(
    finished_run, changes, named):
  before = {name: os.path.getmtime(os.path.join(finished_run, name))
            for name in ('config.json', 'train.csv', 'log.txt')}
  with pytest.raises(RunFileError) as e:
    prepare_run_dir(resume_config(finished_run, **changes))
  message = str(e.value)
  assert re.search(rf'[( ]{re.escape(named)} ', message) and 'start a new run' in message and '\n' not in message
  assert before == {name: os.path.getmtime(os.path.join(finished_run, name))
                    for name in before}


def test_the_checkpoints_own_config_is_compared_too(finished_run):
  payload = checkpoint.load(checkpoint.latest(finished_run))
  config = resume_config(finished_run, agent__gamma=0.5)
  with pytest.raises(RunFileError, match='agent.gamma 0.9 -> 0.5'):
    check_same_run(payload['config'], 'a3c', config, 'ckpt')
  check_same_run(payload['config'], 'a3c', resume_config(finished_run), 'ckpt')


def test_a_resume_may_extend_the_budget_and_config_json_records_it(tmp_path):
  run_dir = str(tmp_path / 'run')
  manager.train(small_config(run_dir))
  config = resume_config(run_dir, total_env_steps=4800, log_every_env_steps=800,
                         launch__updates_per_call=2, keep_checkpoints=3)
  manager.train(config)
  with open(os.path.join(run_dir, 'config.json')) as f:
    recorded = json.load(f)
  assert recorded['total_env_steps'] == 4800 and recorded['resume'] is True
  assert os.path.basename(checkpoint.latest(run_dir)) == 'ckpt_000000000004800.pickle'
  assert os.path.exists(os.path.join(run_dir, RUN_LOCK))


def test_a_malicious_checkpoint_is_refused_on_resume_and_runs_nothing(tmp_path):
  from tests.test_safe_pickle import _Planted
  run_dir = str(tmp_path / 'copy')
  manager.train(small_config(run_dir))
  path = checkpoint.latest(run_dir)
  with open(path, 'rb') as f:
    payload = pickle.load(f)  # this test's own run: trusted
  made = tmp_path / 'pwned'
  payload['parts']['logs'] = _Planted(str(made))
  with open(path, 'wb') as f:
    pickle.dump(payload, f)
  csv_path = tmp_path / 'copy' / 'train.csv'
  before = csv_path.read_text()
  with pytest.raises(RunFileError, match='refused.*posix.system'):
    manager.train(resume_config(run_dir))
  assert not made.exists()
  assert csv_path.read_text() == before
