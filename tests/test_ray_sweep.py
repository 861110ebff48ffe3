"""launch/sweep.py --backend=ray: each run a Ray task; a local instance leaves nothing behind."""

import csv
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

from launch import sweep_ray
from tests.tools.faults import session_processes, wait_for

pytestmark = pytest.mark.ray

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = os.path.join(ROOT, 'launch', 'sweep.py')
CONFIG = os.path.join(ROOT, 'configs', 'bandit_train.py')
TINY = ['--set=total_env_steps=16000', '--set=eval.every_env_steps=8000',
        '--set=log_every_env_steps=8000', '--set=agent.num_envs=16',
        '--set=launch.updates_per_call=5', '--set=eval.num_episodes=10']


def read(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def processes_naming(text):
  """Live processes whose command line contains `text`."""
  found = []
  for entry in os.listdir('/proc'):
    if not entry.isdigit():
      continue
    try:
      with open(f'/proc/{entry}/cmdline', 'rb') as f:
        if text.encode() in f.read():
          found.append(int(entry))
    except OSError:
      continue
  return found


def test_sweep_on_a_local_ray_instance_leaves_nothing_behind(tmp_path):
  pytest.importorskip('ray')
  out = str(tmp_path / 'sweep')
  proc = subprocess.Popen([sys.executable, SWEEP, '--backend=ray', f'--config={CONFIG}',
                           '--seeds=2', '--process_per_seed', '--parallel=2',
                           f'--out={out}', *TINY],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=ROOT, start_new_session=True)
  try:
    output, _ = proc.communicate(timeout=300)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 0, output[-3000:]
  temp_dir = re.search(r'session files in (/tmp/metarl-ray-\S+)\)', output).group(1)
  runs = read(os.path.join(out, 'runs.csv'))
  assert sorted((r['variant'], r['seed'], r['exit_code']) for r in runs) == [
      ('bandit_train', '0', '0'), ('bandit_train', '1', '0')]
  for run in runs:
    assert os.path.isfile(os.path.join(run['run_dir'], 'eval.csv'))
    assert os.path.getsize(run['run_dir'] + '.log') > 0
  rows = read(os.path.join(out, 'eval_all.csv'))
  assert sorted({r['seed'] for r in rows}) == ['0', '1'] and len(rows) == 4
  summary = read(os.path.join(out, 'summary.csv'))
  reward = [r for r in summary if r['metric'] == 'mean_reward_per_trial']
  assert len(reward) == 1 and reward[0]['seeds'] == '2'
  # Ray's processes (its agents too), the runs and the watchdog are gone, and so is the
  # instance's session folder.
  assert session_processes(proc.pid) == []
  assert processes_naming(temp_dir) == []
  assert not os.path.exists(temp_dir)


def test_a_run_on_another_node_comes_back_whole(tmp_path):
  """The node-local path without Ray: `run_task` on a node that is not the driver's
  runs in a temporary folder and returns the run's files, which unpack into the
  planned run directory."""
  repo = tmp_path / 'repo'
  os.makedirs(repo / 'configs')
  (repo / 'main.py').write_text(textwrap.dedent('''\
      import os, sys
      args = dict(a[2:].split('=', 1) for a in sys.argv[1:])
      run_dir = args['config.run_dir']
      os.makedirs(os.path.join(run_dir, 'checkpoints'))
      with open(os.path.join(run_dir, 'eval.csv'), 'w') as f:
        f.write('env_steps,mean_reward_per_trial\\n100,0.5\\n')
      with open(os.path.join(run_dir, 'checkpoints', 'ckpt.pickle'), 'wb') as f:
        f.write(bytes(range(256)))
      path, _, argument = args['config'].partition(':')
      print('config', open(path).read().strip(), argument, 'seed', args['config.seed'])
      '''))
  (repo / 'configs' / 'c.py').write_text('# the config\n')
  planned = str(tmp_path / 'out' / '00_c' / 'seed_3')
  spec = dict(run_dir=planned, overrides=['seed=3', f'run_dir={planned}'],
              config=str(repo / 'configs' / 'c.py'), config_argument=':a3c',
              config_text='# the config\n', config_in_repo='configs/c.py', repo=str(repo), driver_node='another-node')
  result = sweep_ray.run_task(spec)
  assert result['exit_code'] == 0 and result['files'] is not None
  assert not os.path.exists(planned)  # the run wrote on "its node" only
  sweep_ray.unpack_run(result['files'], planned)
  with open(os.path.join(planned, 'eval.csv')) as f:
    assert f.read() == 'env_steps,mean_reward_per_trial\n100,0.5\n'
  with open(os.path.join(planned, 'checkpoints', 'ckpt.pickle'), 'rb') as f:
    assert f.read() == bytes(range(256))
  with open(planned + '.log') as f:
    assert f.read() == 'config # the config a3c seed 3\n'
  # a config outside the repository travels as its text
  spec.update(config='/nonexistent/c.py', config_in_repo=None)
  assert sweep_ray.run_task(spec)['files']['log'] == 'config # the config a3c seed 3\n'


def test_pack_and_unpack_round_trip(tmp_path):
  run_dir = tmp_path / 'run'
  os.makedirs(run_dir / 'checkpoints')
  (run_dir / 'train.csv').write_text('a,b\n1,2\n')
  (run_dir / 'checkpoints' / 'x.pickle').write_bytes(b'\0\1\2' * 1000)
  (tmp_path / 'run.log').write_text('the log\n')
  files = sweep_ray.pack_run(str(run_dir), str(tmp_path / 'run.log'))
  target = str(tmp_path / 'elsewhere' / 'seed_0')
  sweep_ray.unpack_run(files, target)
  assert sorted(os.listdir(target)) == ['checkpoints', 'train.csv']
  assert (tmp_path / 'elsewhere' / 'seed_0' / 'checkpoints' / 'x.pickle').read_bytes() == (
      b'\0\1\2' * 1000)
  assert (tmp_path / 'elsewhere' / 'seed_0.log').read_text() == 'the log\n'


def test_ray_options_are_checked_before_anything_starts(tmp_path):
  out = str(tmp_path / 'bad')
  for flags, message in [(['--backend=ray', '--cpus_per_run=4', '--parallel=2'],
                          'no run could start'),
                         (['--backend=ray', '--ray_address=not an address'], '--ray_address'),
                         (['--ray_address=auto'], 'need --backend=ray')]:
    result = subprocess.run([sys.executable, SWEEP, f'--config={CONFIG}', '--seeds=1',
                             f'--out={out}', *flags],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert 'Traceback' not in result.stderr and not os.path.exists(out)


def test_sigterm_stops_the_ray_sweep_and_every_run(tmp_path):
  pytest.importorskip('ray')
  out = str(tmp_path / 'stopped')
  proc = subprocess.Popen([sys.executable, SWEEP, '--backend=ray', f'--config={CONFIG}',
                           '--seeds=1', '--parallel=1', f'--out={out}',
                           '--set=total_env_steps=100000000', '--set=log_every_env_steps=8000',
                           '--set=agent.num_envs=16', '--set=launch.updates_per_call=5'],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=ROOT, start_new_session=True)
  run_dir = os.path.join(out, '00_bandit_train', 'seed_0')
  try:
    wait_for(lambda: os.path.exists(os.path.join(run_dir, 'train.csv')), 180, 'train.csv')
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode != 0 and 'interrupted' in output, output[-3000:]
  temp_dir = re.search(r'session files in (/tmp/metarl-ray-\S+)\)', output).group(1)
  # the run got SIGINT inside its task and saved its params on the way out
  assert os.path.exists(os.path.join(run_dir, 'params.pickle'))
  with open(run_dir + '.log') as f:
    assert 'interrupted' in f.read()
  assert session_processes(proc.pid) == []
  assert processes_naming(temp_dir) == [] and not os.path.exists(temp_dir)


def test_a_task_keeps_the_config_s_argument_apart_from_its_file():
  """configs/x.py:ARG: the file is read and found in the repository; ARG goes back onto the
  run's --config (a Ray sweep of bandit_train.py:a3c once tried to open 'bandit_train.py:a3c')."""
  path = os.path.join(sweep_ray.ROOT, 'configs', 'bandit_train.py')
  spec = sweep_ray.task_spec(dict(path=path + ':a3c', run_dir='out/run', overrides=['seed=0']),
                         None, 'node')
  assert spec['config'] == path and spec['config_argument'] == ':a3c'
  assert spec['config_in_repo'] == os.path.join('configs', 'bandit_train.py')
  with open(path) as f:
    assert spec['config_text'] == f.read()
  assert sweep_ray.task_spec(dict(path=path, run_dir='r', overrides=[]), None, 'n')[
      'config_argument'] == ''
