"""launch/sweep.py: seeds run side by side, results aggregated; bad input stops it early."""

import csv
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = os.path.join(ROOT, 'launch', 'sweep.py')
CONFIG = os.path.join(ROOT, 'configs', 'two_step_train.py')
TINY = ['--set=total_env_steps=32000', '--set=eval.every_env_steps=16000',
        '--set=log_every_env_steps=16000', '--set=launch.updates_per_call=5',
        '--set=eval.num_episodes=10']


def read(path):
  with open(path) as f:
    return list(csv.DictReader(f))


@pytest.mark.slow
def test_sweep_runs_seeds_and_aggregates(tmp_path):
  out = str(tmp_path / 'sweep')
  result = subprocess.run([sys.executable, SWEEP, f'--config={CONFIG}',
                           f'--config={CONFIG}:agent.gamma=0.5', '--seeds=1', '--first_seed=3',
                           '--parallel=2', f'--out={out}', *TINY],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
  runs = read(os.path.join(out, 'runs.csv'))
  assert sorted((r['variant'], r['seed'], r['exit_code']) for r in runs) == [
      ('two_step_train', '3', '0'), ('two_step_train[agent.gamma=0.5]', '3', '0')]
  rows = read(os.path.join(out, 'eval_all.csv'))
  assert len(rows) == 4  # 2 evaluations x 1 seed x 2 variants
  summary = read(os.path.join(out, 'summary.csv'))
  reward = [r for r in summary if r['metric'] == 'mean_reward_per_trial']
  assert [r['variant'] for r in reward] == ['two_step_train', 'two_step_train[agent.gamma=0.5]']
  final = [float(r['mean_reward_per_trial']) for r in rows
           if r['variant'] == 'two_step_train'][-1]
  assert abs(float(reward[0]['mean']) - final) < 1e-6
  assert os.path.getsize(os.path.join(out, 'training_curves.png')) > 0


def test_bad_override_stops_before_any_run(tmp_path):
  out = str(tmp_path / 'bad')
  result = subprocess.run([sys.executable, SWEEP, f'--config={CONFIG}:agent.gamma=3',
                           '--seeds=2', f'--out={out}'],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
  assert result.returncode != 0 and 'config.agent.gamma' in result.stderr
  assert 'Traceback' not in result.stderr and not os.path.exists(out)


def test_sigterm_stops_the_sweep_and_every_run(tmp_path):
  import re
  import signal
  import time
  out = str(tmp_path / 'stopped')
  proc = subprocess.Popen([sys.executable, SWEEP, f'--config={CONFIG}', '--seeds=1',
                           f'--out={out}', '--set=total_env_steps=100000000',
                           '--set=log_every_env_steps=16000',
                           '--set=launch.updates_per_call=5'],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=ROOT)
  train_csv = os.path.join(out, '00_two_step_train', 'seed_0', 'train.csv')
  deadline = time.time() + 180
  while not os.path.exists(train_csv) and time.time() < deadline:
    time.sleep(0.5)
  assert os.path.exists(train_csv)
  proc.send_signal(signal.SIGTERM)
  output, _ = proc.communicate(timeout=120)
  assert proc.returncode != 0 and 'interrupted' in output
  pids = [int(p) for p in re.findall(r'\(pid (\d+)\)', output)]
  assert len(pids) == 1
  assert not os.path.exists(f'/proc/{pids[0]}') or open(
      f'/proc/{pids[0]}/stat').read().split()[2] == 'Z'
  # the run saved its params on the way out
  assert os.path.exists(os.path.join(out, '00_two_step_train', 'seed_0', 'params.pickle'))
