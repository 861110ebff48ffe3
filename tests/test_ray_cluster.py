"""Runs and sweeps on a real Ray cluster of three nodes on this machine
(`tests.tools.local_cluster.LocalCluster`: a head and two worker nodes, each its own
`ray start` with its own resources, temp dir and token authentication, as docs/clusters.md
starts the nodes of a cluster): children placed on different nodes, runs that come back
from other nodes, a node lost mid-run, a killed manager.

Marked `ray` (CI runs these in the Ray step). Runs go through `main.py` and
`launch/sweep.py` in processes of their own that join the cluster with its address and token.
"""

import csv
import importlib.util
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.test_ray import (
  A3C,
  A3C_MARGIN,
  BANDIT,
  PENDULUM,
  RANDOM_REGRET,
  SAC,
  SAC_BASELINE,
  SAC_MARGIN,
  rows,
)
from tests.test_reliability import check_run_files
from tests.tools.faults import (
  child_nodes,
  children,
  log_text,
  manager_node,
  restarts,
  stderr_of,
  wait_for,
)

# each starts a cluster of 3 nodes on this machine: CI runs them on their own (.ci/run);
# under xdist with --dist loadgroup, one worker runs them one after another
pytestmark = [pytest.mark.ray, pytest.mark.xdist_group('ray_cluster')]
# not importorskip: importing ray here, before a test's local instance sets its token
# mode, would leave token authentication off in this process for every later test
if importlib.util.find_spec('ray') is None:
  pytest.skip('needs requirements-ray.txt', allow_module_level=True)

from tests.tools.local_cluster import LocalCluster  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = os.path.join(ROOT, 'launch', 'sweep.py')
MAIN = os.path.join(ROOT, 'main.py')


@pytest.fixture(scope='module')
def cluster():
  with LocalCluster(nodes=3, cpus_per_node=2) as running:
    yield running


def on_cluster(cluster, run_dir, config, *overrides):
  return [sys.executable, MAIN, f'--config={config}', f'--config.run_dir={run_dir}',
          '--config.launch.backend=ray', f'--config.launch.ray_address={cluster.address}',
          *overrides]


def run_to_end(cluster, run_dir, config, *overrides, timeout=600):
  with open(run_dir + '.stderr', 'w') as err:
    result = subprocess.run(on_cluster(cluster, run_dir, config, *overrides), env=cluster.env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, timeout=timeout)
  assert result.returncode == 0, stderr_of(run_dir)[-3000:]


def start_run(cluster, run_dir, config, *overrides):
  err = open(run_dir + '.stderr', 'w')
  return subprocess.Popen(on_cluster(cluster, run_dir, config, *overrides), env=cluster.env,
                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
                          start_new_session=True)


def alive(pids):
  found = []
  for pid in pids:
    try:
      with open(f'/proc/{pid}/stat') as f:
        if f.read().split(') ')[1][0] != 'Z':
          found.append(pid)
    except OSError:
      continue
  return found


def test_a3c_workers_train_on_different_nodes(cluster, tmp_path):
  """2 workers + evaluator: one child on each node (Ray's SPREAD), each node a separate
  raylet of the cluster; the run learns (tests/test_ray.py's bar, after 5M env steps rather
  than 3M: spread over 3 nodes, 3M-step runs ended anywhere from 3.5 to 15 in
  benchmarks/results/backends_nodes.csv)."""
  run_dir = str(tmp_path / 'a3c')
  run_to_end(cluster, run_dir, BANDIT, *A3C, '--config.total_env_steps=5000000',
             '--config.eval.every_env_steps=2500000')
  nodes = child_nodes(run_dir)
  assert sorted(nodes) == ['evaluator-0', 'worker-0', 'worker-1']
  assert len(set(nodes.values())) == 3, nodes  # three nodes
  assert {cluster.index_of(n) for n in nodes.values()} == {0, 1, 2}
  assert manager_node(run_dir) in cluster.node_ids().values()
  final = rows(run_dir, 'eval.csv')[-1]
  assert int(final['env_steps']) >= 5_000_000
  assert float(final['mean_cumulative_regret']) < A3C_MARGIN * RANDOM_REGRET, final


def test_rsac_trains_with_its_worker_on_another_node(cluster, tmp_path):
  run_dir = str(tmp_path / 'sac')
  run_to_end(cluster, run_dir, PENDULUM, *SAC)
  nodes = child_nodes(run_dir)
  assert len(set(nodes.values())) == 2, nodes
  final = rows(run_dir, 'eval.csv')[-1]
  assert float(final['mean_return']) > SAC_BASELINE + SAC_MARGIN, final


def sweep_command(cluster, out, *flags):
  return [sys.executable, SWEEP, '--backend=ray', f'--ray_address={cluster.address}',
          f'--config={BANDIT}', '--seeds=3', '--process_per_seed', '--cpus_per_run=2',
          f'--out={out}', '--set=agent.num_envs=16', '--set=launch.updates_per_call=5',
          '--set=eval.num_episodes=10', *flags]


def read(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def test_a_sweep_s_runs_land_on_every_node_and_come_back(cluster, tmp_path):
  """--cpus_per_run 2 on nodes of 2 CPUs: one run per node; the two that ran on the other
  nodes wrote into a temporary folder there and came back through the sweep."""
  out = str(tmp_path / 'sweep')
  result = subprocess.run(sweep_command(cluster, out, '--set=total_env_steps=32000',
                                        '--set=eval.every_env_steps=16000',
                                        '--set=log_every_env_steps=16000'),
                          env=cluster.env, cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  runs = read(os.path.join(out, 'runs.csv'))
  assert sorted(r['seed'] for r in runs) == ['0', '1', '2']
  assert all(r['exit_code'] == '0' for r in runs)
  assert {cluster.index_of(r['node']) for r in runs} == {0, 1, 2}, runs
  for run in runs:  # whole, wherever it ran
    assert len(read(os.path.join(run['run_dir'], 'eval.csv'))) == 2
    assert os.path.isfile(os.path.join(run['run_dir'], 'params.pickle'))
    check_run_files(run['run_dir'])
    assert 'run written to' in open(run['run_dir'] + '.log').read()
  summary = read(os.path.join(out, 'summary.csv'))
  assert {r['seeds'] for r in summary} == {'3'} and {r['failed_seeds'] for r in summary} == {''}


def test_a_killed_manager_leaves_nothing_on_any_node(cluster, tmp_path):
  run_dir = str(tmp_path / 'killed')
  proc = start_run(cluster, run_dir, BANDIT, *A3C)
  try:
    wait_for(lambda: len(rows(run_dir, 'train.csv')) >= 1, 240, 'training')
    pids = list(children(run_dir).values())
    assert len(pids) == 3 and len(set(child_nodes(run_dir).values())) == 3
    proc.kill()
    proc.wait(timeout=30)
    # the actors belonged to the manager's job: Ray ends them on every node
    wait_for(lambda: not alive(pids), 60, "the run's actors to end")
  finally:
    if proc.poll() is None:
      proc.kill()


def lose_a_node(cluster, run_dir, proc):
  """Once the run trains, SIGKILLs the raylet of a node with a child on it (not the
  manager's): returns that node's index and the children that ran there."""
  wait_for(lambda: len(rows(run_dir, 'train.csv')) >= 1, 240, 'training')
  lost, victims = cluster.node_to_lose(run_dir)
  cluster.kill_node(lost)
  assert proc.poll() is None
  return lost, victims


def test_a_lost_node_s_children_are_replaced_on_the_others(tmp_path):
  """A worker node's raylet SIGKILLed mid-run: its children fail, are replaced on the
  surviving nodes (launch.max_restarts), and the run finishes with whole outputs."""
  with LocalCluster(nodes=3, cpus_per_node=2) as cluster:
    run_dir = str(tmp_path / 'lost')
    proc = start_run(cluster, run_dir, BANDIT, *A3C, '--config.launch.max_restarts=3',
                     '--config.checkpoint_every=1000000')
    try:
      lost, victims = lose_a_node(cluster, run_dir, proc)
      lost_id = cluster.node_ids().get(lost)
      assert lost_id is None  # the raylet is gone
      proc.wait(timeout=600)
      assert proc.returncode == 0, stderr_of(run_dir)[-3000:]
    finally:
      if proc.poll() is None:
        proc.kill()
    text = log_text(run_dir)
    assert 'its Ray actor is gone' in text
    # one restart per child of the lost node: no replacement was placed on the lost node
    # (Ray has not declared it dead yet when the first replacement starts)
    assert restarts(run_dir) == len(victims), text
    survivors = set(cluster.node_ids().values())
    assert set(child_nodes(run_dir).values()) <= survivors  # every child now on a survivor
    assert int(rows(run_dir, 'eval.csv')[-1]['env_steps']) >= 3_000_000
    assert int(rows(run_dir, 'train.csv')[-1]['env_steps']) >= 3_000_000
    check_run_files(run_dir)


def test_a_sweep_reruns_the_run_of_a_lost_node(tmp_path):
  """Runs spread over the nodes; a node other than the sweep's own is lost while a run
  trains there: that run is started again elsewhere (--max_retries 1), the sweep ends with
  every seed in runs.csv and summary.csv, and the lost attempt's files are set aside, not
  deleted."""
  with LocalCluster(nodes=3, cpus_per_node=2) as cluster:
    out = str(tmp_path / 'sweep')
    proc = subprocess.Popen(
        sweep_command(cluster, out, '--set=total_env_steps=1500000',
                      '--set=eval.every_env_steps=750000', '--set=log_every_env_steps=250000'),
        env=cluster.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    try:
      lines = []
      while not any('this process on Ray node' in line for line in lines):
        lines.append(proc.stdout.readline())
        assert lines[-1] or proc.poll() is None, ''.join(lines)
      driver = cluster.index_of(lines[-1].split('Ray node ')[1].split(')')[0])

      def training_on(node):
        # a run's process: its arguments hold --config.run_dir= (every raylet's command
        # line holds 'main.py' too, in the path of Ray's runtime-env agent: matching that
        # chose a node with no run on it, whose loss retried nothing)
        for pid in cluster.processes(node):
          try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
              if any(arg.startswith(b'--config.run_dir=') for arg in f.read().split(b'\0')):
                return True
          except OSError:  # gone meanwhile
            continue
        return False

      others = [i for i in (0, 1, 2) if i != driver]
      wait_for(lambda: any(training_on(i) for i in others), 240, 'a run on another node')
      victim = next(i for i in others if training_on(i))
      time.sleep(5)  # it has started training
      assert training_on(victim)
      victim_id = cluster.node_ids()[victim]
      cluster.kill_node(victim)
      output, _ = proc.communicate(timeout=900)
      output = ''.join(lines) + output
    finally:
      if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, output[-4000:]
    runs = read(os.path.join(out, 'runs.csv'))
    assert 'its Ray task failed' in output, (victim_id, [r['node'] for r in runs])
    assert 'running it again (attempt 2 of 2)' in output, output[-3000:]
    assert sorted(r['seed'] for r in runs) == ['0', '1', '2']
    assert all(r['exit_code'] == '0' for r in runs), runs
    assert cluster.node_ids().get(victim) is None
    assert all(r['node'] != victim_id for r in runs)  # the lost run finished elsewhere
    summary = read(os.path.join(out, 'summary.csv'))
    assert {r['seeds'] for r in summary} == {'3'} and {r['failed_seeds'] for r in summary} == {''}
    assert any(name.endswith('.log.lost1') for _, _, files in os.walk(out) for name in files)
