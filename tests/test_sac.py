"""Recurrent SAC: losses against hand-computed numbers on a linear network, temperature
adaptation, update intervals and Polyak targets, and the recurrent actor's step loop."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.agents.rsac import learning, losses
from metarl.networks.sac import TrunkConfig, make_sac_networks, squashed_gaussian
from metarl.replay import sequence as replay

LINEAR = TrunkConfig(core='mlp', torso_sizes=(), hidden_sizes=())  # heads on the inputs
OBS = np.array([[0.5, -1.0], [1.0, 2.0]], np.float32)  # observations at t = 0, 1
ACTOR_W = np.array([[0.2, 0.1], [-0.3, 0.05]], np.float32)  # [obs, (mean, log_std)]
ACTOR_B = np.array([0.1, -0.5], np.float32)


def linear_params(with_prev):
  n_in = 5 if with_prev else 3
  rng = np.random.RandomState(0)
  critic = {'q': {'w': rng.uniform(-1, 1, (2, n_in, 1)).astype(np.float32),
                  'b': np.array([[0.1], [-0.2]], np.float32)}}
  target = {'q': {'w': rng.uniform(-1, 1, (2, n_in, 1)).astype(np.float32),
                  'b': np.array([[0.0], [0.05]], np.float32)}}
  actor = {'policy': {'w': ACTOR_W, 'b': ACTOR_B}}
  return actor, critic, target


def one_step_batch(prev_action=0.0, prev_reward=0.0):
  """One sequence (B = 1) of one step (L = 1): window of 2, time-major."""
  steps = replay.Steps(
      observation=jnp.asarray(OBS[:, None]), action=jnp.array([[[0.3]], [[0.0]]]),
      reward=jnp.array([[1.5], [0.0]]), discount=jnp.array([[1.0], [1.0]]),
      first=jnp.array([[True], [False]]), last=jnp.array([[False], [False]]),
      prev_action=jnp.array([[[prev_action]], [[0.3]]]),
      prev_reward=jnp.array([[prev_reward], [1.5]]))
  return replay.SequenceBatch(
      steps=steps, valid=jnp.ones((2, 1), bool), critic_mask=jnp.ones((1, 1)),
      actor_mask=jnp.ones((1, 1)), target_reset=jnp.array([[True], [False]]),
      length=jnp.array([1]))


def tanh_gaussian_logp(a, mean, log_std):
  u = np.arctanh(a)
  std = np.exp(log_std)
  normal = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
  return normal - np.log(1 - a ** 2)


def q_linear(params, i, x):
  return float(x @ params['q']['w'][i, :, 0] + params['q']['b'][i, 0])


@pytest.mark.parametrize('with_prev', [False, True])
def test_critic_loss_matches_hand_numbers(with_prev):
  nets = make_sac_networks((2,), 1, LINEAR, critic_prev_action_reward=with_prev)
  actor, critic, target = linear_params(with_prev)
  batch = one_step_batch(prev_action=-0.4, prev_reward=0.7)
  config = losses.LossConfig(gamma=0.9, critic_prev_action_reward=with_prev)
  key = jax.random.PRNGKey(3)
  loss, aux = losses.critic_loss(critic, actor, target, jnp.log(0.2), batch, key, nets,
                                 config)
  # By hand: the policy at both window positions, the next action sampled with the key.
  mean = OBS @ ACTOR_W[:, 0] + ACTOR_B[0]
  log_std = OBS @ ACTOR_W[:, 1] + ACTOR_B[1]
  # (a memoryless target network reads only window positions 1..L)
  next_action = np.asarray(squashed_gaussian(jnp.asarray(mean)[1:, None, None],
                                             jnp.asarray(log_std)[1:, None, None]
                                             ).sample(seed=key))[0, 0, 0]
  logp = tanh_gaussian_logp(next_action, mean[1], log_std[1])
  extra_next = [0.3, 1.5] if with_prev else []
  x_next = np.array(list(OBS[1]) + [next_action] + extra_next)
  soft_v = min(q_linear(target, i, x_next) for i in range(2)) - 0.2 * logp
  y = 1.5 + 0.9 * 1.0 * soft_v
  x = np.array(list(OBS[0]) + [0.3] + ([-0.4, 0.7] if with_prev else []))
  expected = 0.5 * sum((q_linear(critic, i, x) - y) ** 2 for i in range(2))
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
  np.testing.assert_allclose(float(aux['target_mean']), y, rtol=1e-5)


def test_critic_target_is_the_reward_with_gamma_zero():
  nets = make_sac_networks((2,), 1, LINEAR)
  actor, critic, target = linear_params(False)
  loss, aux = losses.critic_loss(critic, actor, target, jnp.log(0.2), one_step_batch(),
                                 jax.random.PRNGKey(0), nets, losses.LossConfig(gamma=0.0))
  x = np.array(list(OBS[0]) + [0.3])
  np.testing.assert_allclose(float(aux['target_mean']), 1.5)
  np.testing.assert_allclose(
      float(loss), 0.5 * sum((q_linear(critic, i, x) - 1.5) ** 2 for i in range(2)),
      rtol=1e-5)


def test_actor_loss_matches_hand_numbers():
  nets = make_sac_networks((2,), 1, LINEAR)
  actor, critic, _ = linear_params(False)
  key = jax.random.PRNGKey(11)
  loss, aux = losses.actor_loss(actor, critic, jnp.log(0.2), one_step_batch(), key, nets,
                                losses.LossConfig())
  mean = OBS[0] @ ACTOR_W[:, 0] + ACTOR_B[0]
  log_std = OBS[0] @ ACTOR_W[:, 1] + ACTOR_B[1]
  a = float(np.asarray(squashed_gaussian(jnp.full((1, 1, 1), mean),
                                         jnp.full((1, 1, 1), log_std)).sample(seed=key))
            [0, 0, 0])
  logp = tanh_gaussian_logp(a, mean, log_std)
  x = np.array(list(OBS[0]) + [a])
  expected = 0.2 * logp - min(q_linear(critic, i, x) for i in range(2))
  np.testing.assert_allclose(float(loss), expected, rtol=1e-4)
  np.testing.assert_allclose(float(aux['entropy']), -logp, rtol=1e-4)


def test_alpha_loss_gradient_raises_alpha_below_the_target_entropy():
  grad = jax.grad(losses.alpha_loss)
  # entropy 1 (logp -1) below a target of 2: gradient descent raises log alpha
  assert float(grad(jnp.float32(0.0), jnp.float32(-1.0), 2.0)) < 0
  assert float(grad(jnp.float32(0.0), jnp.float32(-3.0), 2.0)) > 0
  np.testing.assert_allclose(float(losses.alpha_loss(jnp.float32(0.5), -1.0, 2.0)), -0.5)


def random_replay(obs_dim=2, steps=64, seed=0):
  rng = np.random.RandomState(seed)
  state = replay.init(1, steps, (obs_dim,), 1)
  chunk = replay.Steps(
      observation=jnp.asarray(rng.randn(steps, 1, obs_dim), jnp.float32),
      action=jnp.asarray(rng.uniform(-1, 1, (steps, 1, 1)), jnp.float32),
      reward=jnp.asarray(rng.randn(steps, 1), jnp.float32), discount=jnp.ones((steps, 1)),
      first=jnp.zeros((steps, 1), bool).at[0].set(True), last=jnp.zeros((steps, 1), bool),
      prev_action=jnp.zeros((steps, 1, 1)), prev_reward=jnp.zeros((steps, 1)))
  return replay.add(state, jnp.array([0]), chunk)


def make_test_learner(log_std_range, target_entropy, **kwargs):
  nets = make_sac_networks((2,), 1, TrunkConfig(core='mlp', hidden_sizes=(8,)),
                           log_std_min=log_std_range[0], log_std_max=log_std_range[1])
  config = learning.LearnerConfig(
      loss=losses.LossConfig(gamma=0.9, target_entropy=target_entropy),
      replay=replay.ReplayConfig(sequence_length=1), batch_size=8, critic_warmup_steps=0,
      actor_warmup_steps=0, alpha_lr=1e-2, **kwargs)
  return learning.make_learner(nets, config, num_ticks=20)


@pytest.mark.parametrize('log_std_range,target,direction', [
    ((-5.0, -4.9), 0.0, 1),  # entropy far below the target: alpha grows
    ((-0.1, 0.0), -5.0, -1),  # far above (a squashed entropy is at most log 2): shrinks
])
def test_adaptive_alpha_moves_toward_the_target_entropy(log_std_range, target, direction):
  learner = make_test_learner(log_std_range, target, actor_update_interval=1)
  state = learner.init(jax.random.PRNGKey(0))
  state, metrics = learner.train(state, random_replay(), jnp.int32(100),
                                 jax.random.PRNGKey(1))
  alpha = float(metrics['alpha'])
  assert (alpha - 1.0) * direction > 0.1, alpha


def test_intervals_warmups_fixed_alpha_and_polyak_targets():
  """One tick per call: critic every tick after 50 env steps, actor every 2nd after 80,
  a fixed temperature, targets moved by tau after each critic update."""
  learner = learning.make_learner(
      make_sac_networks((2,), 1, TrunkConfig(core='mlp', hidden_sizes=(8,))),
      learning.LearnerConfig(loss=losses.LossConfig(), replay=replay.ReplayConfig(1),
                             batch_size=8, critic_warmup_steps=50, actor_warmup_steps=80,
                             critic_update_interval=1, actor_update_interval=2, tau=0.25,
                             adaptive_alpha=False, initial_alpha=0.3),
      num_ticks=1)
  buffer = random_replay()
  s0 = learner.init(jax.random.PRNGKey(0))
  for steps, updates in ((49, (0, 0)), (50, (1, 0)), (80, (1, 1))):  # tick 0
    s, m = learner.train(s0, buffer, jnp.int32(steps), jax.random.PRNGKey(4))
    assert (float(m['critic_updates']), float(m['actor_updates'])) == updates
    if steps == 49:  # nothing moves during the warm-ups
      same = jax.tree_util.tree_map(np.array_equal, s.params, s0.params)
      assert all(jax.tree_util.tree_leaves(same))
  s1 = s  # after tick 0 with both updates; tick 1 updates only the critic
  s2, m = learner.train(s1, buffer, jnp.int32(80), jax.random.PRNGKey(5))
  assert (float(m['critic_updates']), float(m['actor_updates'])) == (1, 0)
  expected = jax.tree_util.tree_map(lambda t, c: 0.75 * t + 0.25 * c,
                                    s1.params.target_critic, s2.params.critic)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6),
                         s2.params.target_critic, expected)
  assert not np.allclose(s1.params.actor['policy']['w'], s0.params.actor['policy']['w'])
  np.testing.assert_allclose(float(m['alpha']), 0.3, rtol=1e-6)  # not adaptive


@pytest.mark.parametrize('core', ['gru', 'lstm', 'lru'])
def test_recurrent_actor_step_loop_equals_unroll_with_resets(core):
  nets = make_sac_networks((3,), 2, TrunkConfig(core=core, torso_sizes=(4,),
                                                hidden_sizes=(5, 6)))
  params = nets.actor_init(jax.random.PRNGKey(0))
  rng = np.random.RandomState(1)
  obs = jnp.asarray(rng.randn(9, 2, 3), jnp.float32)
  reset = jnp.asarray(rng.rand(9, 2) < 0.3).at[0].set(True)
  mean_u, log_std_u = nets.actor_unroll(params, obs, reset)
  state = nets.actor_initial_state(2)
  step = jax.jit(nets.actor_step)
  for t in range(9):
    (mean, log_std), state = step(params, obs[t], reset[t], state)
    np.testing.assert_allclose(mean, mean_u[t], atol=1e-5)
    np.testing.assert_allclose(log_std, log_std_u[t], atol=1e-5)


def test_twin_critics_are_independent():
  nets = make_sac_networks((3,), 1, TrunkConfig(core='gru', hidden_sizes=(4,)))
  params = nets.critic_init(jax.random.PRNGKey(0))
  leaves = jax.tree_util.tree_leaves(params)
  assert all(x.shape[0] == 2 for x in leaves)
  assert any(not np.allclose(x[0], x[1]) for x in leaves if x.ndim > 1)
  inputs = jnp.ones((5, 3, 4))
  q = nets.critic_unroll(params, inputs, jnp.zeros((5, 3), bool).at[0].set(True))
  assert q.shape == (2, 5, 3) and not math.isclose(float(q[0, -1, 0]), float(q[1, -1, 0]))


_jitted_critic_loss = jax.jit(losses.critic_loss, static_argnums=(6, 7))
_GRU_NETS = make_sac_networks((2,), 1, TrunkConfig(core='gru', hidden_sizes=(6,)))


@pytest.mark.parametrize('include_first', [True, False])
def test_recurrent_targets_see_the_first_step_only_when_asked(include_first):
  """include_first_step_in_targets: the target networks' history starts at window
  position 0 (the first observation changes every target) or at position 1 (it changes
  none); the online critic always starts at position 0."""
  nets = _GRU_NETS  # shared, so both cases run one compiled loss
  actor = nets.actor_init(jax.random.PRNGKey(0))
  critic = nets.critic_init(jax.random.PRNGKey(1))
  target = nets.critic_init(jax.random.PRNGKey(2))
  window, batch_size = 5, 3
  rng = np.random.RandomState(0)
  steps = replay.Steps(
      observation=jnp.asarray(rng.randn(window, batch_size, 2), jnp.float32),
      action=jnp.asarray(rng.uniform(-1, 1, (window, batch_size, 1)), jnp.float32),
      reward=jnp.asarray(rng.randn(window, batch_size), jnp.float32),
      discount=jnp.ones((window, batch_size)), first=jnp.zeros((window, batch_size), bool),
      last=jnp.zeros((window, batch_size), bool),
      prev_action=jnp.zeros((window, batch_size, 1)), prev_reward=jnp.zeros((window, batch_size)))
  positions = jnp.arange(window)[:, None]
  reset = (positions == 0) | ((positions == 1) & (not include_first))
  batch = replay.SequenceBatch(
      steps=steps, valid=jnp.ones((window, batch_size), bool),
      critic_mask=jnp.ones((window - 1, batch_size)),
      actor_mask=jnp.ones((window - 1, batch_size)),
      target_reset=jnp.broadcast_to(reset, (window, batch_size)),
      length=jnp.full((batch_size,), window - 1))
  config = losses.LossConfig(gamma=0.9)

  def targets_and_q(b):
    _, aux = _jitted_critic_loss(critic, actor, target, jnp.log(0.1), b,
                                 jax.random.PRNGKey(5), nets, config)
    return float(aux['target_mean']), float(aux['q_mean'])

  moved = batch._replace(steps=steps._replace(
      observation=steps.observation.at[0].add(3.0)))
  (t0, q0), (t1, q1) = targets_and_q(batch), targets_and_q(moved)
  assert q0 != q1  # the online critic reads position 0
  if include_first:
    assert abs(t0 - t1) > 1e-4
  else:
    assert t0 == t1
