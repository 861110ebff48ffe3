"""The td agent through main.py: outputs, offline analysis, fine-tuning with frozen groups,
clear errors, and Ctrl-C."""

import os
import pickle
import signal
import subprocess
import time

import numpy as np
import pytest

from configs.value_td import get_config
from launch.trainers import make_trainer
from launch.validation import validate
from metarl.config_rules import ConfigError
from metarl.io import RunFileError
from tests.command_line import refusal
from tests.test_launch import main_cmd, read_csv, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, 'configs', 'value_td.py')
EVAL = os.path.join(ROOT, 'configs', 'eval.py')
SMALL = ['--config.num_seeds=2', '--config.agent.epochs=40', '--config.log_every_epochs=20',
         '--config.eval.every_epochs=20', '--config.eval.num_episodes=40']


def run(*args, timeout=300):
  return subprocess.run(main_cmd(*args), capture_output=True, text=True, timeout=timeout,
                        cwd=ROOT)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  run_dir = str(tmp_path_factory.mktemp('td') / 'run')
  result = run(TRAIN, f'--config.run_dir={run_dir}', *SMALL)
  assert result.returncode == 0, result.stderr[-3000:]
  return run_dir


def test_training_writes_every_output(trained):
  for name in ('config.json', 'log.txt', 'train.csv', 'eval.csv', 'params.pickle',
               'value_data.pickle', 'value.png', 'hidden.png'):
    assert os.path.getsize(os.path.join(trained, name)) > 0, name
  train = read_csv(os.path.join(trained, 'train.csv'))
  assert [(r['epoch'], r['seed']) for r in train] == [('20', '0'), ('20', '1'), ('40', '0'),
                                                      ('40', '1')]
  assert {'td_loss', 'mean_abs_delta', 'grad_norm', 'env_steps', 'updates'} <= set(train[0])
  evals = read_csv(os.path.join(trained, 'eval.csv'))
  assert [(r['epoch'], r['seed']) for r in evals] == [('20', '0'), ('20', '1'), ('40', '0'),
                                                      ('40', '1')]
  assert all(float(r['mse']) >= 0 and float(r['mse_from_cue']) >= 0 for r in evals)
  with open(os.path.join(trained, 'params.pickle'), 'rb') as f:
    payload = pickle.load(f)
  assert payload['agent'] == 'td' and payload['seeds'] == [0, 1] and payload['extra']['epochs'] == 40
  assert payload['params']['lstm/linear']['w'].shape == (2, 5, 8)  # [seeds, 3 + 2, 4 * 2]
  with open(os.path.join(trained, 'value_data.pickle'), 'rb') as f:
    data = pickle.load(f)
  # configs/eval.py's episodes: the analysis's 500 trials, not eval.num_episodes
  assert len(data['trials']) == 2 and len(data['trials'][0]) == 500
  trial = data['trials'][1][0]
  length = trial['length']
  for key, shape in [('observations', (length, 3)), ('rewards', (length,)),
                     ('value', (length,)), ('true_value', (length,)), ('rpe', (length,)),
                     ('hidden', (length, 2))]:
    assert trial[key].shape == shape, key
  # The stored RPE is the TD error of the stored values.
  v, r = trial['value'], trial['rewards']
  expected = r[1:] + 0.5 * np.append(v[1:-1], 0.0) - v[:-1]  # V = 0 at the terminal step
  np.testing.assert_allclose(trial['rpe'][:-1], expected, atol=1e-5)


def test_offline_analysis_from_saved_params(trained, tmp_path):
  out = str(tmp_path / 'eval')
  result = run(EVAL, f'--config.params_path={trained}/params.pickle',
               f'--config.run_dir={out}', '--config.num_episodes=30')
  assert result.returncode == 0, result.stderr[-3000:]
  for name in ('value_data.pickle', 'value.png', 'hidden.png', 'eval.csv'):
    assert os.path.getsize(os.path.join(out, name)) > 0, name
  rows = read_csv(os.path.join(out, 'eval.csv'))
  assert [r['seed'] for r in rows] == ['0', '1']


@pytest.mark.slow  # over 10 s: the slow step of CI
def test_fine_tuning_with_a_frozen_core(trained, tmp_path):
  # A saved relu_sum network has no readout to train: a clear error, not a traceback.
  result = run(TRAIN, f'--config.init_params_path={trained}/params.pickle',
               '--config.agent.freeze=core', *SMALL)
  assert result.returncode != 0
  assert 'agent.freeze' in result.stderr and 'Traceback' not in result.stderr
  # A linear-readout run (in process, 2 epochs), then fine-tune the readout alone.
  base = str(tmp_path / 'linear')
  os.makedirs(base)
  config = get_config()
  config.num_seeds, config.agent.epochs, config.run_dir = 2, 2, base
  config.network.readout, config.eval.analyze_at_end = 'linear', False
  make_trainer(config).run()
  tuned = str(tmp_path / 'tuned')
  result = run(TRAIN, f'--config.run_dir={tuned}', '--config.network.readout=linear',
               f'--config.init_params_path={base}/params.pickle',
               '--config.agent.freeze=core', *SMALL)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(f'{base}/params.pickle', 'rb') as f:
    before = pickle.load(f)['params']
  with open(f'{tuned}/params.pickle', 'rb') as f:
    after = pickle.load(f)['params']
  for name in ('w', 'b'):
    np.testing.assert_array_equal(before['lstm/linear'][name], after['lstm/linear'][name])
  assert not np.array_equal(before['readout']['w'], after['readout']['w'])
  # Params of another network shape are refused with the parameter named.
  config = get_config()
  config.network.readout, config.network.hidden_size = 'linear', 3
  config.init_params_path = f'{base}/params.pickle'
  config.run_dir = str(tmp_path / 'other')
  with pytest.raises(RunFileError, match='lstm/linear'):
    make_trainer(config)


@pytest.mark.parametrize('field, value', [
    ('env.cue_delays', (3, 0)),
    ('env.delay_jitter', 10),
    ('agent.batch_size', 500),
    ('agent.freeze', ('lstm_typo',)),
    ('launch.num_workers', 2),
    ('network.readout', 'softmax'),
    ('init_params_path', '/nonexistent.pickle'),
])
def test_bad_fields_are_named(field, value):
  config = get_config()
  section, _, name = field.rpartition('.')
  (config[section] if section else config)[name] = value
  with pytest.raises(ConfigError) as error:
    validate(config)
  assert error.value.field == field


def test_bad_field_on_the_command_line_is_one_line():
  assert 'config.agent.freeze' in refusal(f'--config={TRAIN}', '--config.agent.freeze=lstm_typo')


@pytest.mark.slow  # a process stopped by a signal; in process: tests/test_td_reliability.py
def test_ctrl_c_saves_params(tmp_path):
  run_dir = str(tmp_path / 'interrupted')
  proc = subprocess.Popen(main_cmd(TRAIN, f'--config.run_dir={run_dir}', '--config.num_seeds=1',
                                   '--config.agent.epochs=100000',
                                   '--config.log_every_epochs=10',
                                   '--config.eval.every_epochs=10'),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
  try:
    assert wait_for(lambda: os.path.exists(os.path.join(run_dir, 'train.csv')), 120)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode != 0 and 'interrupted' in err
  with open(os.path.join(run_dir, 'params.pickle'), 'rb') as f:
    payload = pickle.load(f)
  assert payload['extra']['epochs'] >= 10
  rows = read_csv(os.path.join(run_dir, 'train.csv'))
  assert rows and all(r['seed'] == '0' for r in rows)
