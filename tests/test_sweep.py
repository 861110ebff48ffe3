"""launch/sweep.py: seeds run side by side, results aggregated; bad input stops it early."""

import csv
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = os.path.join(ROOT, 'launch', 'sweep.py')
CONFIG = os.path.join(ROOT, 'configs', 'two_step_train.py')
TINY = ['--set=total_env_steps=32000', '--set=eval.every_env_steps=16000',
        '--set=log_every_env_steps=16000', '--set=launch.updates_per_call=5',
        '--set=eval.num_episodes=10']


def read(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def test_sweep_runs_seeds_and_aggregates(tmp_path):
  out = str(tmp_path / 'sweep')
  result = subprocess.run([sys.executable, SWEEP, f'--config={CONFIG}',
                           f'--config={CONFIG}:agent.gamma=0.5', '--seeds=2', '--parallel=2',
                           f'--out={out}', *TINY],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
  runs = read(os.path.join(out, 'runs.csv'))
  assert sorted((r['variant'], r['seed'], r['exit_code']) for r in runs) == [
      ('two_step_train', '0', '0'), ('two_step_train', '1', '0'),
      ('two_step_train[agent.gamma=0.5]', '0', '0'),
      ('two_step_train[agent.gamma=0.5]', '1', '0')]
  rows = read(os.path.join(out, 'eval_all.csv'))
  assert len(rows) == 8  # 2 evaluations x 2 seeds x 2 variants
  summary = read(os.path.join(out, 'summary.csv'))
  reward = [r for r in summary if r['metric'] == 'mean_reward_per_trial']
  assert [r['seeds'] for r in reward] == ['2', '2']
  finals = [float(r['mean_reward_per_trial']) for r in rows
            if r['variant'] == 'two_step_train' and r['env_steps'] == rows[-1]['env_steps']]
  assert abs(float(reward[0]['mean']) - sum(finals) / 2) < 1e-6
  assert os.path.getsize(os.path.join(out, 'training_curves.png')) > 0


def test_bad_override_stops_before_any_run(tmp_path):
  out = str(tmp_path / 'bad')
  result = subprocess.run([sys.executable, SWEEP, f'--config={CONFIG}:agent.gamma=3',
                           '--seeds=2', f'--out={out}'],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
  assert result.returncode != 0 and 'config.agent.gamma' in result.stderr
  assert 'Traceback' not in result.stderr and not os.path.exists(out)
