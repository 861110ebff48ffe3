"""Config validation (in-process and through main.py) and run-file helpers."""

import os
import pickle
import subprocess
import sys

import pytest

from configs import bandit_train
from configs import eval as eval_config
from launch.validation import validate
from metarl import io
from metarl.config_rules import ConfigError
from metarl.envs import ENVS
from tests.command_line import refusal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVERY_ENV = 'the name of every registered env'  # read when the test runs


@pytest.mark.parametrize('field,value,message', [
    ('env.num_arms', 0, 'integer >= 2'),
    ('env.num_arms', 1, 'integer >= 2'),
    ('launch.num_workers', -1, 'integer >= 0'),
    ('env.name', 'slots', EVERY_ENV),
    ('env.reward_structure', 'weird', "'independent', 'correlated'"),
    ('agent.gamma', 1.5, '<= 1.0'),
    ('agent.learning_rate', 0.0, '> 0.0'),
    ('network.core', 'transformer', "['lstm', 'gru', 'lru', 'episodic_lstm']"),
    ('agent.num_envs', 0, 'integer >= 1'),
    ('launch.backend', 'launchpad', "['mp', 'ray']"),
    ('launch.ray_address', 'http://head:6379', 'HOST:PORT'),
    ('launch.ray_address', 'head', 'HOST:PORT'),
    ('launch.ray_temp_dir', 'relative/dir', 'absolute path'),
    ('launch.ray_temp_dir', '/tmp/' + 'x' * 40, 'at most 40 characters'),
    ('launch.ray_cpus_per_child', -1.0, '>= 0.0'),
])
def test_invalid_values_name_the_field_and_what_is_allowed(field, value, message):
  config = bandit_train.get_config('a3c')
  section, name = field.split('.')
  config[section][name] = value
  with pytest.raises(ConfigError) as e:
    validate(config)
  if message == EVERY_ENV:
    assert 'allowed values are' in str(e.value)
    assert all(repr(name) in str(e.value) for name in ENVS.names()), str(e.value)
  else:
    assert message in str(e.value)
  assert f'config.{field}' in str(e.value)


def test_correlated_needs_two_arms_and_fixed_needs_probabilities():
  config = bandit_train.get_config('a3c')
  config.env.reward_structure, config.env.num_arms = 'correlated', 3
  with pytest.raises(ConfigError, match='exactly 2 arms'):
    validate(config)
  config.env.reward_structure, config.env.num_arms = 'fixed', 2
  with pytest.raises(ConfigError, match='config.env.fixed_probs'):
    validate(config)
  config.env.fixed_probs = (0.2, 0.9)
  validate(config)


def test_the_ray_backend_without_ray_installed_says_how_to_install_it(hide_package):
  config = bandit_train.get_config('a3c')
  config.launch.backend = 'ray'
  config.launch.ray_address = '10.0.0.1:6379'
  hide_package('ray')
  with pytest.raises(ConfigError, match='config.launch.backend.*requirements-ray.txt'):
    validate(config)
  config.launch.backend = 'mp'  # the Ray fields are not needed by mp
  validate(config)


def test_tensorboard_must_be_a_bool_and_needs_tensorboardx(hide_package):
  config = bandit_train.get_config('a3c')
  with config.log.ignore_type():
    config.log.tensorboard = 'yes'
  with pytest.raises(ConfigError, match="config.log.tensorboard = 'yes' is invalid: True or"):
    validate(config)
  config = bandit_train.get_config('a3c')
  config.log.tensorboard = True
  validate(config)
  hide_package('tensorboardX')
  with pytest.raises(ConfigError,
                     match='config.log.tensorboard.*pip install tensorboardX==2.6.5'):
    validate(config)
  config.log.tensorboard = False  # off, tensorboardX is not needed
  validate(config)
  del config.log  # a config without the section (written before it existed) logs CSV only
  validate(config)


def test_eval_config_needs_existing_params(tmp_path):
  config = eval_config.get_config()
  config.params_path = str(tmp_path / 'missing.pickle')
  with pytest.raises(ConfigError, match='config.params_path'):
    validate(config)


def run_main(*args, cwd):
  return subprocess.run([sys.executable, os.path.join(ROOT, 'main.py'), *args], cwd=cwd,
                        capture_output=True, text=True, timeout=120)


def run_main_code(code, *args, cwd):
  return subprocess.run([sys.executable, '-c', code, 'main.py', *args], cwd=cwd,
                        capture_output=True, text=True, timeout=120)


BAD_OVERRIDES = [
    ('--config.env.num_arm=5', 'num_arm'),  # misspelt
    ('--config.nope=1', "--config.nope: the config has no field 'nope'"),
    ('--config.env.num_arms=abc', 'num_arms'),  # ill-typed
    ('--config.env.num_arms=0', 'config.env.num_arms = 0 is invalid'),
    ('--config.seed=-1', 'config.seed = -1 is invalid'),
    ('--config.launch.num_workers=-2', 'config.launch.num_workers = -2 is invalid'),
    ('--config.env.reward_structure=zigzag', 'allowed values are'),
]


def test_main_refuses_a_bad_override_before_starting_anything(tmp_path):
  override, expected = BAD_OVERRIDES[0]
  result = run_main(f'--config={ROOT}/configs/bandit_train.py', override, cwd=tmp_path)
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('metarl: '), result.stderr
  assert expected in lines[0]
  assert not os.path.exists(tmp_path / 'runs')  # nothing was created or started


@pytest.mark.parametrize('override,expected', BAD_OVERRIDES)
def test_each_bad_override_is_one_line(override, expected):
  assert expected in refusal(f'--config={ROOT}/configs/bandit_train.py', override)


def test_main_without_tensorboardx_stops_before_anything_starts(tmp_path):
  code = ('import runpy, sys; sys.modules["tensorboardX"] = None; '  # as if not installed
          f'sys.path.insert(0, {ROOT!r}); sys.argv = sys.argv[1:]; '
          f'runpy.run_path({os.path.join(ROOT, "main.py")!r}, run_name="__main__")')
  result = run_main_code(code, f'--config={ROOT}/configs/value_td.py',
                         '--config.log.tensorboard=True', cwd=tmp_path)
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 1 and len(lines) == 1, result.stderr
  assert lines[0].startswith('metarl: config.log.tensorboard = True is invalid: '
                             'tensorboardX is not installed: pip install tensorboardX==')
  assert os.listdir(tmp_path) == []  # no run directory


def test_atomic_pickle_and_clear_errors_for_bad_pickles(tmp_path):
  path = str(tmp_path / 'p.pickle')
  io.save_pickle(path, {'params': 1, 'config': {}, 'env_steps': 3})
  assert io.load_pickle(path, ('params',))['env_steps'] == 3
  assert [f for f in os.listdir(tmp_path) if f.endswith('.tmp')] == []
  with open(path, 'wb') as f:
    f.write(b'\x80\x05garbage')
  with pytest.raises(io.RunFileError, match='not a readable metarl pickle'):
    io.load_pickle(path)
  with open(path, 'wb') as f:
    pickle.dump([1, 2], f)
  with pytest.raises(io.RunFileError, match='missing'):
    io.load_pickle(path, ('params',))


def test_atomic_writes_get_the_mode_of_any_new_file(tmp_path):
  """A temp file is created 0600; what is moved into place has the umask's mode, so the
  results of a run are as readable as the user's other files."""
  old = os.umask(0o022)
  try:
    io.save_csv(str(tmp_path / 'a.csv'), [dict(x=1)], ['x'])
    io.save_pickle(str(tmp_path / 'p.pickle'), {'params': 1})
    os.umask(0o077)
    io.save_csv(str(tmp_path / 'private.csv'), [dict(x=1)], ['x'])
  finally:
    os.umask(old)
  modes = {name: os.stat(tmp_path / name).st_mode & 0o777 for name in os.listdir(tmp_path)}
  assert modes == {'a.csv': 0o644, 'p.pickle': 0o644, 'private.csv': 0o600}


def test_corrupt_params_give_one_line_error_from_main(tmp_path):
  bad = tmp_path / 'params.pickle'
  bad.write_bytes(b'not a pickle')
  result = run_main(f'--config={ROOT}/configs/eval.py', f'--config.params_path={bad}',
                    cwd=tmp_path)
  assert result.returncode != 0
  assert 'not a readable metarl pickle' in result.stderr
  assert 'Traceback' not in result.stderr


def test_csv_log_appends_whole_rows(tmp_path):
  path = str(tmp_path / 'x.csv')
  log = io.CsvLog(path, ['a', 'b'])
  log.write({'a': 1, 'b': 0.5})
  log.close()
  log = io.CsvLog(path, ['a', 'b'])  # reopening does not repeat the header
  log.write({'a': 2})
  log.close()
  assert open(path).read() == 'a,b\n1,0.5\n2,\n'


def test_eval_env_defaults_to_the_trained_env_and_takes_overrides():
  from launch.evaluator import resolve_env
  trained = bandit_train.get_config('a3c').env
  trained.num_arms = 5
  config = eval_config.get_config()
  env = resolve_env(config.env, trained)
  assert env.num_arms == 5 and env.reward_structure == 'independent'
  config.env.reward_structure = 'normalized'
  env = resolve_env(config.env, trained)
  assert env.num_arms == 5 and env.reward_structure == 'normalized'


def test_an_unwritable_run_dir_is_one_line(tmp_path):
  # /proc says yes to os.access as root, yet nothing can be made in it: the probe makes a
  # folder for real and names what went wrong
  result = run_main(f'--config={ROOT}/configs/bandit_train.py', '--config.run_dir=/proc/x',
                    cwd=tmp_path)
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  line = result.stderr.strip().splitlines()[-1]
  assert line.startswith("metarl: config.run_dir = '/proc/x' is invalid"), result.stderr


@pytest.mark.parametrize('config_name', ['bandit_train', 'value_td', 'memory_sac', 'play'])
def test_an_unwritable_run_dir_is_refused_in_every_mode(config_name):
  line = refusal(f'--config={ROOT}/configs/{config_name}.py', '--config.run_dir=/proc/x')
  assert line.startswith("metarl: config.run_dir = '/proc/x' is invalid")


def test_a_run_dir_that_cannot_be_made_when_the_run_starts_is_one_line(tmp_path):
  from launch.run_folder import prepare_run_dir
  blocker = tmp_path / 'file'
  blocker.write_text('not a folder')
  config = bandit_train.get_config('a3c')
  config.run_dir = str(blocker / 'run')  # made unwritable after validation, say
  with pytest.raises(io.RunFileError, match='the run directory cannot be written'):
    prepare_run_dir(config)
