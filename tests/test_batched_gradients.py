"""Batched messages of a gradients agent's workers (`launch.unrolls_per_message` = K): a
worker's K unrolls on one set of params equal K single unrolls in a row, the manager's K
updates in one call equal K single updates (NaN skipping and the budget's last partial
message included), and a run with batched workers ends at its budget exactly."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import bandit_train, memory_sac
from launch import manager
from launch.validation import validate
from metarl import envs
from metarl.agents import a3c
from metarl.config_rules import ConfigError
from tests.test_reliability import check_run_files, rows

K = 3


def small_agent():
  config = bandit_train.get_config('a3c')
  config.agent.num_envs = 8
  env = envs.make(config.env)
  return a3c.make_agent(config, env)


def assert_trees_close(a, b):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)


def test_k_unrolls_in_one_call_equal_k_iterations_of_rollout_gradient_and_update():
  """A worker's message: each unroll's gradient taken after the ones before it were applied
  to its copy of the training state (params, optimizer state, step)."""
  agent = small_agent()
  state = agent.init(jax.random.PRNGKey(0))
  state = agent.apply_gradients(  # an optimizer state that is not the initial one
      state, jax.tree_util.tree_map(jnp.ones_like, state.params), 1.0)
  rollout_state = agent.rollout.init(jax.random.PRNGKey(1))
  grads, losses, batched_rollout, _ = agent.compute_gradients_many(state, rollout_state, K)
  one_by_one, local, rs = [], state, rollout_state
  for k in range(K):
    g, rs, metrics = agent.compute_gradients(local.params, rs, local.step)
    local = agent.apply_gradients(local, g, metrics['loss'])
    one_by_one.append(g)
    np.testing.assert_allclose(losses[k], metrics['loss'], rtol=1e-5)
  assert_trees_close(grads, jax.tree_util.tree_map(lambda *g: jnp.stack(g), *one_by_one))
  assert_trees_close(batched_rollout, rs)  # episodes go on from where the K unrolls ended
  # the manager applying the K gradients to the same state gets the worker's copy
  applied, skipped = agent.apply_gradients_many(state, grads, losses, K)
  assert_trees_close(applied, local)
  assert int(skipped) == 0


@pytest.mark.parametrize('count', [K, 2])
def test_k_updates_in_one_call_equal_k_updates_in_a_row(count):
  """The first `count` gradients applied in order, a NaN one skipped, the rest ignored."""
  agent = small_agent()
  state = agent.init(jax.random.PRNGKey(0))
  keys = jax.random.split(jax.random.PRNGKey(2), K)
  stacked = jax.tree_util.tree_map(
      lambda p: jnp.stack([jax.random.normal(k, p.shape) for k in keys]), state.params)
  stacked = jax.tree_util.tree_map(lambda g: g.at[1].set(jnp.nan), stacked)  # unroll 1: NaN
  losses = jnp.array([0.5, 0.4, 0.3])
  batched, skipped = agent.apply_gradients_many(state, stacked, losses, count)
  expected = state
  for k in range(count):
    expected = agent.apply_gradients(
        expected, jax.tree_util.tree_map(lambda g, k=k: g[k], stacked), losses[k])
  assert_trees_close(batched, expected)
  assert int(batched.step) == count - 1  # the NaN one was skipped
  assert int(skipped) == 1
  assert int(batched.bad_streak) == int(expected.bad_streak)


@pytest.mark.slow  # end to end, over 10 s: the slow step of CI
def test_a_run_with_batched_workers_ends_at_its_budget(tmp_path):
  """2 workers sending 4 unrolls per message: the manager applies exactly the budget's
  updates (the last message only in part), env steps and updates agree in every row."""
  config = bandit_train.get_config('a3c')
  config.run_dir = str(tmp_path / 'run')
  config.agent.num_envs = 16  # 160 env steps per unroll
  config.total_env_steps = 16000 + 480  # 103 updates: the last message applies 3 of 4
  config.log_every_env_steps = 3200
  config.eval.every_env_steps = 8000
  config.eval.num_episodes = 8
  config.launch.num_workers = 2
  config.launch.num_evaluators = 0
  config.launch.unrolls_per_message = 4
  manager.train(config)
  train = rows(config.run_dir, 'train.csv')
  assert int(train[-1]['updates']) == 103 and int(train[-1]['env_steps']) == 103 * 160
  assert all(int(r['env_steps']) == 160 * int(r['updates']) for r in train)
  assert int(rows(config.run_dir, 'eval.csv')[-1]['env_steps']) == 103 * 160
  check_run_files(config.run_dir)
  assert 'unrolls_per_message' in open(os.path.join(config.run_dir, 'config.json')).read()


@pytest.mark.parametrize('get_config,workers,why', [
    (lambda: bandit_train.get_config('a3c'), 0, 'launch.updates_per_call fuses updates'),
    (memory_sac.get_config, 1, 'gradients agent'),
])
def test_batched_messages_need_workers_of_a_gradients_agent(get_config, workers, why):
  config = get_config()
  config.launch.num_workers = workers
  config.launch.unrolls_per_message = 4
  with pytest.raises(ConfigError, match='config.launch.unrolls_per_message = 4') as e:
    validate(config)
  assert why in str(e.value)
