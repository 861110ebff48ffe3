"""Runs that survive faults (issue 7), with the damage done for real: children killed with
SIGKILL, raising or hanging are replaced; Ctrl-C leaves no process of the run; the manager
killed with SIGKILL at random moments leaves only readable files and the run resumes;
updates with a NaN or Inf are skipped, counted, and stop the run when they keep coming."""

import csv
import glob
import os
import pickle
import random
import re
import signal
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from configs import bandit_train, memory_sac
from launch import manager
from launch.backends import ChildFailed
from launch.backends.base import WORKER, ChildId, Params
from launch.backends.mp import MPBackend
from launch.trainers import GradientsTrainer, make_trainer
from metarl import checkpoint, envs
from metarl.agents import a3c, rsac
from metarl.agents import registry as agent_registry
from metarl.replay import sequence as replay_lib
from tests import faulty_children
from tests.test_checkpoints import small_config
from tests.tools import faults
from tests.tools.faults import children, log_text, session_processes, stderr_of, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANDIT = os.path.join(ROOT, 'configs', 'bandit_train.py') + ':a3c'  # workers: a3c
MEMORY = os.path.join(ROOT, 'configs', 'memory_sac.py')
VALUE_TD = os.path.join(ROOT, 'configs', 'value_td.py')
SMALL_A3C = ['--config.agent.num_envs=16', '--config.agent.unroll_length=10',
             '--config.eval.num_episodes=8', '--config.launch.updates_per_call=5',
             '--config.log_every_env_steps=2000', '--config.eval.every_env_steps=4000']
SMALL_SAC = ['--config.network.torso_sizes=8', '--config.network.hidden_sizes=8',
             '--config.agent.num_envs=2', '--config.agent.unroll_length=20',
             '--config.agent.warmup_steps=100', '--config.agent.critic_warmup_steps=100',
             '--config.agent.actor_warmup_steps=100', '--config.replay.capacity=4000',
             '--config.replay.sequence_length=10', '--config.eval.num_sequences=8',
             '--config.log_every_env_steps=200', '--config.eval.every_env_steps=400']


# Processes ------------------------------------------------------------------------------

def start(config_path, run_dir, *overrides):
  return faults.start(config_path, run_dir, overrides)


def rows(run_dir, name):
  path = os.path.join(run_dir, name)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return list(csv.DictReader(f))


def kill_child_and_wait_for_replacement(run_dir, name, restarts_before,
                                        died='died with exit code -9'):
  old = children(run_dir)[name]
  os.kill(old, signal.SIGKILL)
  wait_for(lambda: f'restart {restarts_before + 1} of' in log_text(run_dir), 60,
           f'{name} to be replaced')
  # a new Ray actor shows its pid ~2.5 s after the restart here; on CI's 2 cores, with
  # another test's run beside it, one took over 30 s (the backend waits up to
  # launch.startup_timeout_s for it)
  wait_for(lambda: children(run_dir)[name] != old, 120, f'a new {name}')
  assert re.search(rf'{name} \(pid {old}\) {died}', log_text(run_dir))


def kill_worker_then_evaluator(run_dir, died='died with exit code -9'):
  """Once the run trains and evaluates, SIGKILLs worker-0, then evaluator-0: each is
  replaced, training goes on and the new evaluator reports."""
  wait_for(lambda: len(rows(run_dir, 'eval.csv')) >= 1, 240, 'training and evaluation')
  kill_child_and_wait_for_replacement(run_dir, 'worker-0', 0, died)
  n = len(rows(run_dir, 'train.csv'))
  wait_for(lambda: len(rows(run_dir, 'train.csv')) > n + 2, 60, 'training to go on')
  kill_child_and_wait_for_replacement(run_dir, 'evaluator-0', 1, died)
  n = len(rows(run_dir, 'eval.csv'))
  wait_for(lambda: len(rows(run_dir, 'eval.csv')) > n, 90, 'the new evaluator to report')


def interrupt_and_count(proc, run_dir, signum=signal.SIGINT):
  """Ctrl-C (or `kill`) on the manager: it exits with the message, no process of the run
  is left."""
  proc.send_signal(signum)
  proc.wait(timeout=90)
  assert proc.returncode != 0 and 'interrupted' in stderr_of(run_dir)
  wait_for(lambda: not session_processes(proc.pid), 15, 'every process of the run to end')


def check_run_files(run_dir):
  """Every CSV parses with whole rows and every pickle loads (a write cut short leaves only
  a hidden temp file, which a resume deletes); returns the pickles' paths."""
  for path in glob.glob(os.path.join(run_dir, '*.csv')):
    with open(path) as f:
      table = list(csv.reader(f))
    assert table and all(len(r) == len(table[0]) for r in table[1:]), path
    frame = pd.read_csv(path)
    for _, part in (frame.groupby('seed') if 'seed' in frame else [(0, frame)]):
      assert part['env_steps'].is_monotonic_increasing, path
  pickles = glob.glob(os.path.join(run_dir, '**', '*.pickle'), recursive=True)
  for path in pickles:
    with open(path, 'rb') as f:
      pickle.load(f)
  return pickles


# Dead, raising and hung children --------------------------------------------------------

@pytest.mark.slow
def test_a3c_killed_worker_and_evaluator_are_replaced_and_sigterm_leaves_nothing(tmp_path):
  run_dir = str(tmp_path / 'a3c')
  layout = ['--config.launch.num_workers=2', '--config.launch.num_evaluators=1',
            '--config.checkpoint_every=4000', *SMALL_A3C]
  proc = start(BANDIT, run_dir, '--config.total_env_steps=10000000000', *layout)
  try:
    kill_worker_then_evaluator(run_dir)
    interrupt_and_count(proc, run_dir, signal.SIGTERM)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
  check_run_files(run_dir)
  final = checkpoint.load(checkpoint.latest(run_dir))  # written at the stop itself
  assert final['env_steps'] >= int(rows(run_dir, 'train.csv')[-1]['env_steps'])
  # the distributed run resumes from it and ends where it is told to
  end = final['env_steps'] + 8000
  proc = start(BANDIT, run_dir, f'--config.total_env_steps={end}', '--config.resume=True',
               *layout)
  assert proc.wait(timeout=180) == 0, stderr_of(run_dir)[-3000:]
  steps = [int(r['env_steps']) for r in rows(run_dir, 'train.csv')]
  assert steps == sorted(set(steps)) and steps[-1] >= end
  assert int(rows(run_dir, 'eval.csv')[-1]['env_steps']) == steps[-1]  # the final one


@pytest.mark.slow
def test_rsac_killed_worker_is_replaced_and_ctrl_c_leaves_nothing(tmp_path):
  run_dir = str(tmp_path / 'rsac')
  proc = start(MEMORY, run_dir, '--config.total_env_steps=100000000',
               '--config.launch.num_workers=1', '--config.launch.num_evaluators=1',
               '--config.checkpoint_every=400', *SMALL_SAC)
  try:
    wait_for(lambda: len(rows(run_dir, 'train.csv')) >= 2, 240, 'training')
    kill_child_and_wait_for_replacement(run_dir, 'worker-0', 0)
    n = len(rows(run_dir, 'train.csv'))
    wait_for(lambda: len(rows(run_dir, 'train.csv')) > n + 1, 120, 'training to go on')
    interrupt_and_count(proc, run_dir)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
  check_run_files(run_dir)
  assert checkpoint.load(checkpoint.latest(run_dir))['parts']['replay']['contents']


@pytest.mark.slow
def test_td_ctrl_c_leaves_nothing_and_a_final_checkpoint(tmp_path):
  run_dir = str(tmp_path / 'td')
  proc = start(VALUE_TD, run_dir, '--config.agent.epochs=1000000',
               '--config.num_seeds=2', '--config.log_every_epochs=10',
               '--config.eval.every_epochs=50')
  try:
    wait_for(lambda: len(rows(run_dir, 'train.csv')) >= 2, 180, 'training')
    interrupt_and_count(proc, run_dir)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
  check_run_files(run_dir)
  assert checkpoint.latest(run_dir) is not None


def distributed_config(run_dir, num_workers=2):
  config = bandit_train.get_config('a3c')
  config.run_dir = run_dir
  config.agent.num_envs, config.agent.unroll_length = 16, 10
  config.total_env_steps = 8000
  config.log_every_env_steps = 1600
  config.launch.num_workers = num_workers
  config.launch.num_evaluators = 0
  config.eval.every_env_steps = 4000
  config.eval.num_episodes = 8
  config.checkpoint_every = 4000
  with config.unlocked():
    config.fault_marker = run_dir + '.fault'
  return config


class FaultyTrainer(GradientsTrainer):

  def __init__(self, config, target):
    self._target = target
    super().__init__(config, agent_registry.spec(config.agent.name), envs.make(config.env))

  def worker_target(self):
    return self._target


def check_a_raising_and_a_hung_worker_are_replaced(config):
  """Runs `config` (distributed_config, any backend) with worker 0 raising and worker 1
  hanging after 3 gradients: both are replaced and the run completes."""
  config.launch.child_timeout_s = 3.0
  manager.prepare_run_dir(config)
  trainer = FaultyTrainer(config, faulty_children.faulty_worker)
  with pytest.MonkeyPatch.context() as mp:
    logged = []
    mp.setattr(manager.logging, 'error', lambda msg, *a: logged.append(msg % a))
    trainer.run()
  text = '\n'.join(logged)
  assert 'worker-0' in text and 'injected fault: the worker raises' in text
  assert 'worker-1 sent nothing in time' in text and 'hung' in text
  assert trainer._restarts == 2 and trainer.env_steps >= config.total_env_steps
  assert int(rows(config.run_dir, 'train.csv')[-1]['env_steps']) >= 8000


@pytest.mark.slow
def test_a_raising_and_a_hung_worker_are_replaced_and_the_run_completes(tmp_path):
  check_a_raising_and_a_hung_worker_are_replaced(distributed_config(str(tmp_path / 'run')))


def test_past_max_restarts_the_run_stops_with_a_final_checkpoint(tmp_path):
  config = distributed_config(str(tmp_path / 'hopeless'), num_workers=1)
  config.launch.max_restarts = 2
  manager.prepare_run_dir(config)
  trainer = FaultyTrainer(config, faulty_children.always_raising_worker)
  with pytest.raises(ChildFailed, match='launch.max_restarts = 2 restarts used up'):
    trainer.run()
  assert trainer._restarts == 2
  assert checkpoint.latest(config.run_dir) is not None  # the final checkpoint
  assert os.path.exists(os.path.join(config.run_dir, 'params.pickle'))


def test_a_replacement_that_does_not_start_uses_a_restart_too(tmp_path):
  config = distributed_config(str(tmp_path / 'run'))
  config.launch.max_restarts = 2
  trainer = make_trainer(config)
  restarted = []

  class Backend:  # its first replacement fails to start (a Ray actor that is not placed)

    def restart(self, child):
      restarted.append(str(child))
      if len(restarted) == 1:
        raise ChildFailed(f'{child}: the Ray actor did not start', child=child)

    def publish(self, child, message):
      del child, message

  trainer.backend = Backend()
  worker = ChildId(WORKER, 0)
  trainer.replace_child(ChildFailed('worker-0 died', child=worker))
  assert restarted == ['worker-0', 'worker-0'] and trainer._restarts == 2
  with pytest.raises(ChildFailed, match='restarts used up'):
    trainer.replace_child(ChildFailed('worker-0 died', child=worker))


def test_publish_to_a_child_killed_while_reading_its_params_does_not_hang(tmp_path):
  """A child SIGKILLed while it holds its params queue's read lock leaves the queue stuck
  (full, its lock never released): publishing to it drops the message within a second
  instead of looping forever, which hung the whole run, and the death is reported."""
  config = small_config(str(tmp_path / 'run'))
  backend = MPBackend(config)
  child = ChildId(WORKER, 0)
  try:
    backend.start(child, faulty_children.dies_while_reading_its_params, config)
    wait_for(lambda: not backend._children[child].is_alive(), 60, 'the child to die')
    message = Params(params={'w': np.zeros(3)}, version=1, env_steps=0, wall_time=0.0,
                     env_overrides={})
    outcome = []
    publisher = threading.Thread(target=lambda: outcome.append(
        [backend.publish(child, message) for _ in range(3)]), daemon=True)
    publisher.start()
    publisher.join(timeout=20)
    assert not publisher.is_alive(), 'publish hangs on the stuck queue'
    assert outcome
    with pytest.raises(ChildFailed, match='died with exit code -9'):
      backend.check_children()
  finally:
    backend.shutdown()


# The manager killed with SIGKILL -----------------------------------------------------------

@pytest.mark.slow
def test_manager_killed_at_random_moments_leaves_readable_files_and_resumes(tmp_path):
  run_dir = str(tmp_path / 'killed')
  rng = random.Random(0)
  common = ['--config.checkpoint_every=4000', '--config.launch.num_evaluators=1',
            *SMALL_A3C]
  endless = ['--config.total_env_steps=10000000000']
  resume = []
  for kill in range(2):
    before = checkpoint.latest(run_dir) if resume else None
    proc = start(BANDIT, run_dir, *common, *endless, *resume)
    try:
      wait_for(lambda b=before: checkpoint.latest(run_dir) not in (None, b), 180,
               'a new checkpoint')
      time.sleep(rng.uniform(0.0, 1.0))  # checkpoints come every few tens of ms
      os.kill(proc.pid, signal.SIGKILL)
      proc.wait(timeout=30)
      # the orphaned evaluator notices its manager is gone and exits
      wait_for(lambda p=proc: not session_processes(p.pid), 20, 'the evaluator to exit')
    finally:
      if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    assert check_run_files(run_dir), f'no pickle after kill {kill}'
    resume = ['--config.resume=True']
  # the last part runs to an end 20k env steps after the newest checkpoint
  end = checkpoint.load(checkpoint.latest(run_dir))['env_steps'] + 20000
  proc = start(BANDIT, run_dir, *common, f'--config.total_env_steps={end}', *resume)
  assert proc.wait(timeout=300) == 0, stderr_of(run_dir)[-3000:]
  check_run_files(run_dir)
  assert not glob.glob(os.path.join(run_dir, '**', '.*.tmp'), recursive=True)
  steps = [int(r['env_steps']) for r in rows(run_dir, 'train.csv')]
  # no duplicate row, none missing: the rows of an uninterrupted run, one at the first
  # call (800 env steps) ending at or after each 2000-step logging period, and the last
  expected, next_log = [], 2000
  for s in range(800, end + 1, 800):
    if s >= next_log or s == end:
      expected.append(s)
      while next_log <= s:
        next_log += 2000
  assert steps == expected


# NaN and Inf -----------------------------------------------------------------------------

def test_an_update_with_a_nan_gradient_or_an_inf_loss_is_skipped():
  config = bandit_train.get_config('a3c')
  agent = a3c.make_agent(config, envs.make(config.env))
  state = agent.init(jax.random.PRNGKey(0))
  grads = jax.tree_util.tree_map(jnp.ones_like, state.params)
  poisoned = jax.tree_util.tree_map(lambda g: g.at[(0,) * g.ndim].set(jnp.nan), grads)
  for bad_grads, loss in ((poisoned, 1.0), (grads, jnp.inf)):
    new = agent.apply_gradients(state, bad_grads, loss)
    for a, b in zip(jax.tree_util.tree_leaves((state.params, state.opt_state, state.step)),
                    jax.tree_util.tree_leaves((new.params, new.opt_state, new.step)), strict=True):
      np.testing.assert_array_equal(a, b)
    assert int(new.bad_streak) == 1
  twice = agent.apply_gradients(agent.apply_gradients(state, poisoned, 1.0), poisoned, 1.0)
  assert int(twice.bad_streak) == 2
  good = agent.apply_gradients(twice, grads, 1.0)
  assert int(good.bad_streak) == 0 and int(good.step) == 1
  assert not np.array_equal(jax.tree_util.tree_leaves(good.params)[0],
                            jax.tree_util.tree_leaves(state.params)[0])


def in_process_config(run_dir):
  """test_checkpoints' small single-process bandit run (400 env steps per call), longer,
  with a row and a checkpoint after every call."""
  config = small_config(run_dir)
  config.total_env_steps = 8000
  config.log_every_env_steps = 400
  config.checkpoint_every = 400
  config.keep_checkpoints = 50
  config.eval.every_env_steps = 4000
  config.eval.num_episodes = 8
  return config


def poisoned_from_call(first, last):
  """Calls `first`..`last` of train_many start from a NaN recurrent state."""
  def hook(call, state, rollout_state):
    if first <= call <= last:
      rollout_state = faults.nan_recurrent_state(rollout_state)
    return state, rollout_state
  return faults.around_training_calls(hook)


def test_nan_updates_are_skipped_counted_and_training_goes_on(tmp_path):
  config = in_process_config(str(tmp_path / 'transient'))
  with poisoned_from_call(4, 4):
    manager.train(config)
  table = rows(config.run_dir, 'train.csv')
  skipped = [float(r['skipped_updates']) for r in table]
  # call 4 (steps 150-200 of 100-trial episodes) runs to the episodes' end on NaN: all 5
  # of its updates are skipped; the next call starts new episodes with a fresh state
  assert skipped[:3] == [0, 0, 0] and skipped[3] == 5 and sum(skipped[4:]) == 0
  with open(os.path.join(config.run_dir, 'params.pickle'), 'rb') as f:
    params = pickle.load(f)['params']
  assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(params))


def test_nan_updates_in_a_row_stop_the_run_naming_the_last_good_checkpoint(tmp_path):
  config = in_process_config(str(tmp_path / 'diverged'))
  config.max_bad_updates = 12
  config.env.trials_per_episode = 1000  # no episode starts (and resets the state) until then
  with poisoned_from_call(5, 10 ** 6), pytest.raises(manager.TrainingDiverged) as raised:
    manager.train(config)
  good = os.path.join(checkpoint.directory(config.run_dir), 'ckpt_000000000001600.pickle')
  assert f'the last checkpoint written before it is {good}' in str(raised.value)
  assert 'config.max_bad_updates' in str(raised.value)
  # every update since call 5 was skipped: the saved params are the good checkpoint's
  with open(os.path.join(config.run_dir, 'params.pickle'), 'rb') as f:
    params = jax.tree_util.tree_leaves(pickle.load(f)['params'])
  template = a3c.make_agent(config, envs.make(config.env)).init(
      jax.random.PRNGKey(0))
  stored = checkpoint.restore_tree(template, checkpoint.load(good)['parts']['learner'],
                                   'state', good)
  for a, b in zip(params, jax.tree_util.tree_leaves(stored.params), strict=True):
    np.testing.assert_array_equal(a, b)
  skipped = [float(r['skipped_updates']) for r in rows(config.run_dir, 'train.csv')]
  assert skipped[:4] == [0, 0, 0, 0] and sum(skipped) >= 12


def test_rsac_updates_with_nan_losses_are_skipped_and_counted():
  config = memory_sac.get_config()
  config.network.torso_sizes, config.network.hidden_sizes = (8,), (8,)
  config.agent.critic_warmup_steps = config.agent.actor_warmup_steps = 0
  config.replay.sequence_length = 5
  env = envs.make(config.env)
  networks = rsac.make_networks(config, env)
  learner = rsac.make_learner(networks, rsac.learner_config(config, env), 4)
  state = learner.init(jax.random.PRNGKey(0))
  replay = replay_lib.init(2, 50, env.spec.observation_shape, env.spec.action_dim)
  chunk = jax.tree_util.tree_map(lambda x: jnp.zeros((40, 2) + x.shape[2:], x.dtype),
                                 replay.steps)
  chunk = chunk._replace(reward=jnp.full((40, 2), jnp.nan), discount=jnp.ones((40, 2)))
  replay = replay_lib.add(replay, jnp.arange(2), chunk)
  new, metrics = learner.train(state, replay, jnp.int32(10 ** 6), jax.random.PRNGKey(1))
  # 4 ticks: critic updates on every tick (NaN targets), actor on ticks 0 and 2 (its loss
  # does not read rewards, so it trains); the streak counts on through the good actor ones
  assert float(metrics['skipped_updates']) == 4 and int(new.bad_streak) == 4
  assert int(new.critic_updates) == 0 and int(new.actor_updates) == 2
  for a, b in zip(jax.tree_util.tree_leaves(state.params.critic),
                  jax.tree_util.tree_leaves(new.params.critic), strict=True):
    np.testing.assert_array_equal(a, b)


def test_end_episodes_closes_each_rows_open_episode_as_truncated():
  replay = replay_lib.init(3, 4, (1,), 1)
  chunk = jax.tree_util.tree_map(lambda x: jnp.zeros((2, 2) + x.shape[2:], x.dtype),
                                 replay.steps)
  chunk = chunk._replace(last=jnp.array([[False, False], [False, True]]),
                         discount=jnp.array([[1.0, 1.0], [1.0, 0.0]]))
  replay = replay_lib.add(replay, jnp.array([0, 1]), chunk)
  ended = replay_lib.end_episodes(replay, jnp.arange(3))
  np.testing.assert_array_equal(ended.steps.last[:, :2],
                                [[False, True], [False, True], [False, False]])
  # row 0's open episode now ends truncated (discount 1); row 1's terminal step is kept
  np.testing.assert_array_equal(ended.steps.discount[:, :2], [[1, 1], [1, 0], [0, 0]])
