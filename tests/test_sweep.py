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
                           f'--config={CONFIG}', '--config.agent.gamma=0.5', '--seeds=1',
                           '--first_seed=3',
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
  result = subprocess.run([sys.executable, SWEEP, f'--config={CONFIG}',
                           '--config.agent.gamma=3', '--seeds=2', f'--out={out}'],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
  assert result.returncode != 0 and 'config.agent.gamma' in result.stderr
  assert 'Traceback' not in result.stderr and not os.path.exists(out)


@pytest.mark.slow  # end to end, over 10 s: the slow step of CI
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


def plan_of(tmp_path, *argv):
  """The runs launch/sweep.py would start for `argv` (nothing runs)."""
  import argparse

  from launch import sweep
  variants, rest = sweep.split_variants(argv)
  args = argparse.Namespace(seeds=2, first_seed=0, set=[], out=str(tmp_path / 'out'),
                            process_per_seed=False)
  for item in rest:
    key, _, value = item.lstrip('-').partition('=')
    setattr(args, key, int(value) if key in ('seeds', 'first_seed') else value or True)
  return sweep, sweep.plan(variants, args)


def test_the_sweep_builds_configs_with_mains_loader(tmp_path):
  import main
  # what main.py accepts, the sweep accepts: lowercase booleans, a number as a name ...
  sweep, runs = plan_of(tmp_path, f'--config={ROOT}/configs/episodic_two_step_train.py',
                        '--config.agent.retrieval=false', '--config.name=123')
  config = main.load_config(['main.py', *sweep.command(runs[0])[2:]])  # the run's argv
  assert config.agent.retrieval is False and config.name == '123'
  # ... and a list value, commas and all, is one override of its variant
  _, runs = plan_of(tmp_path, f'--config={ROOT}/configs/pendulum_sac.py',
                    '--config.network.hidden_sizes=64,64')
  assert runs[0]['variant'] == 'pendulum_sac[network.hidden_sizes=64,64]'
  assert 'network.hidden_sizes=64,64' in runs[0]['overrides']
  config = main.load_config(['main.py', *sweep.command(runs[0])[2:]])
  assert tuple(config.network.hidden_sizes) == (64, 64)
  # what main.py refuses, the sweep refuses with main.py's line, before anything runs
  with pytest.raises(sweep.SweepError, match='config.agent.gamma = 3.0 is invalid'):
    plan_of(tmp_path, f'--config={CONFIG}', '--config.agent.gamma=3')


def test_the_seeds_of_a_variant_train_in_one_process_where_they_can(tmp_path):
  _, runs = plan_of(tmp_path, f'--config={CONFIG}', '--seeds=4', '--first_seed=2',
                    f'--config={ROOT}/configs/pendulum_sac.py')
  assert [(r['seed'], r['num_seeds']) for r in runs] == [(2, 4), (2, 4)]
  assert runs[0]['run_dir'].endswith(os.path.join('00_two_step_train', 'seeds_2-5'))
  assert 'num_seeds=4' in runs[0]['overrides'] and 'seed=2' in runs[0]['overrides']
  # one process per seed when asked, or where the run has workers
  _, runs = plan_of(tmp_path, f'--config={CONFIG}', '--seeds=3', '--process_per_seed')
  assert [(r['seed'], r['num_seeds']) for r in runs] == [(0, 1), (1, 1), (2, 1)]
  _, runs = plan_of(tmp_path, f'--config={CONFIG}', '--config.launch.num_workers=2',
                    '--seeds=2')
  assert [r['seed'] for r in runs] == [0, 1]


@pytest.mark.slow
def test_a_sweep_of_seeds_in_one_process_aggregates_per_seed(tmp_path):
  out = str(tmp_path / 'together')
  result = subprocess.run([sys.executable, SWEEP, f'--config={CONFIG}', '--seeds=2',
                           f'--out={out}', *TINY],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
  runs = read(os.path.join(out, 'runs.csv'))
  assert [(r['seed'], r['num_seeds'], r['exit_code']) for r in runs] == [('0', '2', '0')]
  rows = read(os.path.join(out, 'eval_all.csv'))
  assert sorted({r['seed'] for r in rows}) == ['0', '1'] and len(rows) == 4
  summary = read(os.path.join(out, 'summary.csv'))
  reward = [r for r in summary if r['metric'] == 'mean_reward_per_trial'][0]
  finals = [float(r['mean_reward_per_trial']) for r in rows if r['env_steps'] == '32000']
  assert reward['seeds'] == '2' and abs(float(reward['mean']) - sum(finals) / 2) < 1e-6


def test_seeds_of_agents_that_train_several_per_run_do_not_overlap(tmp_path):
  _, runs = plan_of(tmp_path, f'--config={ROOT}/configs/value_td.py', '--seeds=3',
                    '--first_seed=5', '--config.num_seeds=4')
  assert [r['seed'] for r in runs] == [5, 9, 13]  # runs train 5-8, 9-12 and 13-16


def test_summary_has_the_sample_std_and_sem(tmp_path):
  import json

  from launch import sweep
  runs = []
  for seed, value in ((0, 1.0), (1, 2.0), (2, 6.0)):
    run_dir = tmp_path / f'seed_{seed}'
    run_dir.mkdir()
    (run_dir / 'config.json').write_text(json.dumps(dict(
        name='x', seed=seed, agent=dict(name='a3c'), env=dict(name='bandit'))))
    (run_dir / 'eval.csv').write_text(f'env_steps,updates,wall_time,score\n10,1,0.5,0\n'
                                      f'20,2,1.0,{value}\n')
    runs.append(dict(variant='v', seed=seed, num_seeds=1, run_dir=str(run_dir),
                     exit_code=0))
  # failed runs: one of variant v (seed 3), and every run of variant w (a run of 2 seeds)
  runs.append(dict(variant='v', seed=3, num_seeds=1, run_dir=str(tmp_path / 'lost'),
                   exit_code=-1))
  runs.append(dict(variant='w', seed=0, num_seeds=2, run_dir=str(tmp_path / 'w'),
                   exit_code=1))
  summary = sweep.aggregate(runs, str(tmp_path), 'score')['v']['score']
  assert summary['mean'] == 3.0 and summary['seeds'] == 3
  assert summary['std'] == pytest.approx(2.6457513, rel=1e-6)  # sqrt(7): ddof=1
  assert summary['sem'] == pytest.approx(2.6457513 / 3 ** 0.5, rel=1e-6)
  rows = read(os.path.join(tmp_path, 'summary.csv'))
  assert list(rows[0]) == ['variant', 'metric', 'mean', 'std', 'sem', 'min', 'max', 'seeds',
                           'failed_seeds']
  assert {r['failed_seeds'] for r in rows if r['variant'] == 'v'} == {'3'}
  assert [(r['metric'], r['seeds'], r['failed_seeds']) for r in rows
          if r['variant'] == 'w'] == [('', '0', '0 1')]  # never silently missing
  assert len(read(os.path.join(tmp_path, 'eval_all.csv'))) == 6


@pytest.mark.slow
def test_a_td_sweep_runs_and_aggregates_every_seed(tmp_path):
  out = str(tmp_path / 'td')
  result = subprocess.run([sys.executable, SWEEP, f'--config={ROOT}/configs/value_td.py',
                           '--seeds=2', '--parallel=2', f'--out={out}', '--metric=mse',
                           '--set=num_seeds=2', '--set=agent.epochs=20',
                           '--set=log_every_epochs=10', '--set=eval.every_epochs=10',
                           '--set=eval.num_episodes=20', '--set=eval.analyze_at_end=False',
                           '--set=checkpoint_every=0'],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
  rows = read(os.path.join(out, 'eval_all.csv'))
  assert sorted({int(r['seed']) for r in rows}) == [0, 1, 2, 3]  # two runs of two seeds
  summary = {r['metric']: r for r in read(os.path.join(out, 'summary.csv'))}
  assert summary['mse']['seeds'] == '4' and float(summary['mse']['std']) > 0


def test_run_folders_stay_under_out_whatever_the_overrides_say(tmp_path):
  out = str(tmp_path / 'out')
  sweep, runs = plan_of(tmp_path, f'--config={CONFIG}', '--config.launch.ray_temp_dir=/../../x',
                        f'--config={CONFIG}', '--config.launch.ray_temp_dir=/a b')
  for run in runs:
    assert os.path.realpath(run['run_dir']).startswith(os.path.realpath(out) + os.sep)
    assert os.path.dirname(os.path.dirname(run['run_dir'])) == out  # out/<variant>/<seeds>
  assert runs[0]['variant'] == 'two_step_train[launch.ray_temp_dir=/../../x]'  # as given
  assert os.path.basename(os.path.dirname(runs[0]['run_dir'])) == (
      '00_two_step_train[launch.ray_temp_dir=_.._.._x]')
  with pytest.raises(sweep.SweepError, match='outside --out'):
    sweep.under(os.path.join(out, '..', 'x'), out)
  os.makedirs(out)
  os.symlink(str(tmp_path), os.path.join(out, 'link'))  # a link inside out leading out
  with pytest.raises(sweep.SweepError, match='outside --out'):
    sweep.under(os.path.join(out, 'link', 'x'), out)


def test_the_process_pool_runs_a_few_at_a_time_waits_for_inputs_and_drops_what_it_is_told():
  import subprocess
  import sys

  from launch.process_pool import run_pool
  exits = dict(a=0, b=3, c=0, d=0)
  needs = dict(c='a', d='b')  # c reads a's output, d b's (which fails: d is dropped)
  done, started, most = {}, [], []

  def ready(name):
    if name not in needs:
      return True
    if needs[name] not in done:
      return False
    return True if done[needs[name]] == 0 else None

  def start(name):
    started.append(name)
    most.append(len(started) - len(done))
    return subprocess.Popen([sys.executable, '-c', f'import time; time.sleep(0.2); '
                             f'raise SystemExit({exits[name]})'])

  run_pool(['c', 'd', 'a', 'b'], 2, start, lambda n, code, wall: done.__setitem__(n, code),
           ready, poll_s=0.05)
  assert started == ['a', 'b', 'c'] and done == dict(a=0, b=3, c=0) and max(most) <= 2
  with pytest.raises(RuntimeError, match='1 runs wait for runs that will never finish'):
    run_pool(['c'], 2, start, lambda *_: None, ready=lambda name: False, poll_s=0.01)
