"""Recurrent PPO: GAE, the value clip and the loss against numbers derived by hand; the first
step's gradient equal to the actor-critic gradient it reduces to; minibatches that replay
whole sequences from their stored core states; its refusals; exact resume; and a short
training that beats random play."""

import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import main
from launch import manager
from metarl import envs
from metarl.agents import a3c, ppo
from metarl.agents.ppo.learning import minibatch
from metarl.agents.ppo.losses import Batch, clipped_value_loss, gae, score_rollout
from metarl.networks.policy_value import PolicyValueNetworks, PolicyValueOutput
from metarl.rollout import Trajectory, make_rollout
from tests.test_checkpoints import read_rows, resume_and_compare

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gae_matches_hand_derived_numbers():
  reward = jnp.array([1.0, 0.0, 1.0])
  discount = jnp.array([0.9, 0.9, 0.0])  # gamma * discount_t: the episode ends at t = 2
  values = jnp.array([0.5, 0.4, 0.3, 0.2])
  advantage, target = jax.jit(gae, static_argnums=3)(reward, discount, values, 0.5)
  # delta = [1 + .9 * .4 - .5, 0 + .9 * .3 - .4, 1 + 0 - .3] = [.86, -.13, .7]
  # A2 = .7; A1 = -.13 + .9 * .5 * .7 = .185; A0 = .86 + .9 * .5 * .185 = .94325
  np.testing.assert_allclose(advantage, [0.94325, 0.185, 0.7], rtol=1e-6)
  np.testing.assert_allclose(target, [1.44325, 0.585, 1.0], rtol=1e-6)
  with pytest.raises(AssertionError):  # values must hold the bootstrap V(o_T)
    gae(reward, discount, values[:3], 0.5)


def test_task_groups_center_each_advantage_on_its_group_s_mean():
  # T = 1, 4 sequences in 2 groups of 2; gamma 1, lambda 1, each step ends its episode, so
  # A = r - V: [1 - .5, 0 - .5, 1 - .2, 1 - .6] = [.5, -.5, .8, .4]; centred on each group's
  # mean (0 and .6): [.5, -.5, .2, -.2]; the targets y = A + V stay r = [1, 0, 1, 1]
  values = jnp.array([[0.5, 0.5, 0.2, 0.6]])
  trajectory = Trajectory(observation=jnp.zeros((2, 4, 1)), first=jnp.zeros((2, 4), bool),
                          action=jnp.zeros((1, 4), jnp.int32),
                          reward=jnp.array([[1.0, 0.0, 1.0, 1.0]]),
                          discount=jnp.zeros((1, 4)), last=jnp.ones((1, 4), bool),
                          extras=dict(logits=jnp.zeros((1, 4, 2)), value=values),
                          core_state=())
  score = functools.partial(score_rollout, trajectory, jnp.zeros(4), 1.0, 1.0)
  grouped = score(False, 1.0, 2)
  np.testing.assert_allclose(grouped.advantage, [[0.5, -0.5, 0.2, -0.2]], atol=1e-6)
  np.testing.assert_allclose(grouped.target, [[1.0, 0.0, 1.0, 1.0]], atol=1e-6)
  np.testing.assert_allclose(score(False, 1.0, 1).advantage, [[0.5, -0.5, 0.8, 0.4]],
                             atol=1e-6)
  # normalised: [.5, -.5, .2, -.2] / its standard deviation sqrt(.29 / 2)
  np.testing.assert_allclose(score(True, 1.0, 2).advantage,
                             np.array([[0.5, -0.5, 0.2, -0.2]]) / math.sqrt(0.145),
                             rtol=1e-5)


def test_value_clip_keeps_the_larger_loss():
  value = jnp.array([1.0, 0.0, 1.2])
  old = jnp.array([0.5, 0.5, 0.5])
  target = jnp.array([0.0, 1.0, 1.0])
  np.testing.assert_allclose(clipped_value_loss(value, old, target, 0.0), [0.5, 0.5, 0.02],
                             rtol=1e-6)
  # clipped values .7, .3, .7: losses .245, .245, .045; the larger of each pair is kept
  np.testing.assert_allclose(clipped_value_loss(value, old, target, 0.2), [0.5, 0.5, 0.045],
                             rtol=1e-6)


def fixed_output_networks():
  """A 'network' whose outputs are its params: logits [T, B, A], values [T, B]."""

  def unroll(params, obs, first, state):
    del obs, first
    return PolicyValueOutput(logits=params['logits'], value=params['values'],
                             hidden=None), state

  return PolicyValueNetworks(init=None, initial_state=lambda b: (), step=None, unroll=unroll)


def test_loss_matches_hand_numbers():
  # One step, two sequences; both actions were sampled from the uniform policy.
  params = dict(logits=jnp.log(jnp.array([[[0.8, 0.2], [0.7, 0.3]]])),
                values=jnp.array([[1.0, 0.0]]))
  trajectory = Trajectory(observation=jnp.zeros((2, 2, 1)), first=jnp.zeros((2, 2), bool),
                          action=jnp.array([[0, 1]]), reward=jnp.zeros((1, 2)),
                          discount=jnp.ones((1, 2)), last=jnp.zeros((1, 2), bool),
                          extras={}, core_state=())
  batch = Batch(trajectory=trajectory, behaviour_logits=jnp.zeros((1, 2, 2)),
                behaviour_value=jnp.array([[0.5, 0.5]]), advantage=jnp.array([[1.0, -1.0]]),
                target=jnp.array([[0.0, 1.0]]))
  loss_fn = ppo.make_loss(fixed_output_networks(), clip_eps=0.2, value_clip_eps=0.0,
                          value_coef=0.5, entropy_schedule=optax.constant_schedule(0.01))
  loss, m = jax.jit(loss_fn)(params, batch, 0)
  # ratios .8 / .5 = 1.6 (A = +1: min(1.6, 1.2) = 1.2) and .3 / .5 = .6 (A = -1:
  # min(-.6, -.8) = -.8): policy loss -(1.2 - .8) / 2 = -.2; both ratios clipped
  np.testing.assert_allclose(m['policy_loss'], -0.2, rtol=1e-5)
  np.testing.assert_allclose(m['clip_fraction'], 1.0)
  entropy = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2) + 0.7 * math.log(0.7)
              + 0.3 * math.log(0.3)) / 2  # .55566
  np.testing.assert_allclose(m['entropy'], entropy, rtol=1e-5)
  np.testing.assert_allclose(m['value_loss'], 0.5, rtol=1e-6)  # 0.5 (1 + 1) / 2
  np.testing.assert_allclose(loss, -0.2 + 0.5 * 0.5 - 0.01 * entropy, rtol=1e-5)


def bandit_pieces(trials=7, num_envs=4, unroll_length=5, hidden=8, core='lstm'):
  config = main.load_config(['main.py', f'--config={ROOT}/configs/train.py:ppo',
                             '--config.env.name=bandit', f'--config.network.core={core}',
                             f'--config.env.trials_per_episode={trials}',
                             f'--config.network.hidden_size={hidden}',
                             f'--config.agent.num_envs={num_envs}',
                             f'--config.agent.unroll_length={unroll_length}',
                             '--config.agent.minibatches=1'])
  env = envs.make(config.env)
  networks = ppo.make_networks(config, env)
  actor = ppo.make_actor(networks, behaviour=True)
  rollout = make_rollout(env, actor, num_envs, unroll_length)
  return config, networks, rollout


@functools.partial(jax.jit, static_argnums=(0, 1, 4, 5))  # one program, not op by op
def scored(networks, rollout, params, rollout_state, gamma, gae_lambda):
  rollout_state, trajectory = rollout.unroll(params, rollout_state)
  out, _ = networks.step(params, rollout_state.timestep.observation,
                         rollout_state.timestep.first, rollout_state.core_state)
  return rollout_state, score_rollout(trajectory, out.value, gamma, gae_lambda, True)


def test_first_step_gradient_is_the_normalised_gae_actor_critic_gradient():
  """At the params that acted every ratio is 1, so the clipped surrogate's gradient is the
  policy gradient with the batch-normalised GAE advantages: a3c's loss with the same
  advantage, value and entropy terms gives the same gradient."""
  _, networks, rollout = bandit_pieces()
  params = networks.init(jax.random.PRNGKey(0))
  state = rollout.init(jax.random.PRNGKey(1))
  state, _ = rollout.unroll(params, state)  # the next chunk starts mid-episode
  _, batch = scored(networks, rollout, params, state, 0.95, 0.7)
  schedule = optax.constant_schedule(0.03)
  ppo_loss = ppo.make_loss(networks, clip_eps=0.2, value_clip_eps=0.0, value_coef=0.4,
                           entropy_schedule=schedule)
  a3c_loss = a3c.make_loss(networks, gamma=0.95, n_step=5, value_coef=0.4,
                           entropy_schedule=schedule, advantage='gae', gae_lambda=0.7,
                           normalize_advantages=True)
  ppo_grads, metrics = jax.jit(jax.grad(ppo_loss, has_aux=True))(params, batch, 0)
  a3c_grads, _ = jax.jit(jax.grad(a3c_loss, has_aux=True))(params, batch.trajectory, 0)
  assert float(metrics['approx_kl']) < 1e-10
  for a, b in zip(jax.tree_util.tree_leaves(ppo_grads), jax.tree_util.tree_leaves(a3c_grads),
                  strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  assert max(float(jnp.abs(g).max()) for g in jax.tree_util.tree_leaves(ppo_grads)) > 1e-3


# one core in the quick suite (each core's unroll with resets has tests of its own)
@pytest.mark.parametrize('core', [pytest.param('lstm', marks=pytest.mark.slow), 'gru',
                                  pytest.param('lru', marks=pytest.mark.slow)])
def test_minibatches_replay_whole_sequences_from_their_stored_core_states(core):
  """Rollouts of 5 steps cut 7-trial episodes: each minibatch of environments, replayed
  from the core states stored at its rollout's start, reproduces the logits and values
  its actions were taken with (the ratios are all 1 before an update), for every core."""
  _, networks, rollout = bandit_pieces(num_envs=6, core=core)
  params = networks.init(jax.random.PRNGKey(3))
  state = rollout.init(jax.random.PRNGKey(4))
  for _ in range(3):
    state, batch = scored(networks, rollout, params, state, 0.9, 0.95)
  core = jax.tree_util.tree_leaves(batch.trajectory.core_state)
  assert any(float(jnp.abs(x).max()) > 0 for x in core)  # carried in from the last rollout
  for index in (jnp.array([4, 1]), jnp.array([0, 5, 2])):
    part = minibatch(batch, index)
    out, _ = networks.unroll(params, part.trajectory.observation[:-1],
                             part.trajectory.first[:-1], part.trajectory.core_state)
    np.testing.assert_allclose(out.logits, batch.behaviour_logits[:, index], atol=2e-5)
    np.testing.assert_allclose(out.value, batch.behaviour_value[:, index], atol=2e-5)
    np.testing.assert_array_equal(part.advantage, batch.advantage[:, index])


def test_bad_settings_are_refused_in_one_line(tmp_path):
  base = ['main.py', f'--config={ROOT}/configs/train.py:ppo', '--config.env.name=bandit',
          f'--config.run_dir={tmp_path / "r"}']
  with pytest.raises(SystemExit, match='agent.minibatches = 3 is invalid: a divisor of '
                                       r'agent.num_envs \(64\)'):
    main.load_config(base + ['--config.agent.minibatches=3'])
  with pytest.raises(SystemExit, match='agent.task_group_size = 3 is invalid: a divisor '
                                       r'of agent.num_envs \(64\)'):
    main.load_config(base + ['--config.agent.task_group_size=3'])
  with pytest.raises(SystemExit, match='launch.num_workers = 2 is invalid: 0 for ppo'):
    main.load_config(base + ['--config.launch.num_workers=2'])


def small_config(run_dir, *more):
  config = main.load_config(['main.py', f'--config={ROOT}/configs/train.py:ppo',
                             '--config.env.name=bandit', f'--config.run_dir={run_dir}',
                             '--config.env.trials_per_episode=10',
                             '--config.agent.num_envs=8', '--config.agent.unroll_length=10',
                             '--config.agent.minibatches=2', '--config.agent.epochs=2',
                             '--config.launch.updates_per_call=5',
                             '--config.total_env_steps=4000',
                             '--config.log_every_env_steps=1200',
                             '--config.checkpoint_every=1600', '--config.keep_checkpoints=2',
                             '--config.eval.every_env_steps=800',
                             '--config.eval.num_episodes=8', *more])
  config.unlock()
  return config


def test_documented_ppo_columns_are_those_of_a_real_run(tmp_path):
  from tests.test_examples import doc_columns, header
  run_dir = manager.train(small_config(str(tmp_path / 'run')))
  assert header(os.path.join(run_dir, 'train.csv')) == doc_columns('ppo train.csv', 'bandit')
  assert header(os.path.join(run_dir, 'eval.csv')) == doc_columns('a3c eval.csv', 'bandit')


def test_interrupted_and_resumed_ppo_run_equals_an_uninterrupted_one(tmp_path):
  import signal

  from tests.tools import faults
  whole, parts = str(tmp_path / 'whole'), str(tmp_path / 'parts')
  manager.train(small_config(whole))

  def ctrl_c_in_the_4th_call(call, state, rollout_state):
    if call == 4:
      os.kill(os.getpid(), signal.SIGINT)
    return state, rollout_state

  with faults.around_training_calls(ctrl_c_in_the_4th_call, agent='ppo'), pytest.raises(
      KeyboardInterrupt):
    manager.train(small_config(parts))
  assert int(read_rows(os.path.join(parts, 'eval.csv'))[-1]['env_steps']) == 1600
  resume_and_compare(small_config(parts, '--config.resume=True'), whole,
                     ('train.csv', 'eval.csv'))


def test_agent_name_on_the_command_line_switches_to_that_agent_s_settings(tmp_path):
  base = [f'--config.run_dir={tmp_path / "r"}']
  # train.py gives any agent its own defaults
  config = main.load_config(['main.py', f'--config={ROOT}/configs/train.py:a3c',
                             '--config.env.name=bandit', '--config.agent.name=ppo', *base])
  assert config.agent.name == 'ppo' and config.agent.clip_eps == 0.2
  assert 'n_step' not in config.agent
  # an experiment config with settings for both agents gives each its own
  for name, other in (('a3c', 'ppo'), ('ppo', 'a3c')):
    switched = main.load_config(['main.py', f'--config={ROOT}/configs/bandit_train.py:{other}',
                                 f'--config.agent.name={name}', '--config.agent.num_envs=32',
                                 *base])
    direct = main.load_config(['main.py', f'--config={ROOT}/configs/bandit_train.py:{name}',
                               '--config.agent.num_envs=32', *base])
    assert switched.to_dict() == direct.to_dict()
    assert switched.agent.num_envs == 32  # the other overrides still apply
  # a config that gives settings for another agent only says where ppo's defaults are
  with pytest.raises(SystemExit, match='memory_sac.py gives the settings of the rsac agent, '
                                       r'and none for ppo; configs/train.py:ppo trains ppo'):
    main.load_config(['main.py', f'--config={ROOT}/configs/memory_sac.py',
                      '--config.agent.name=ppo', *base])
