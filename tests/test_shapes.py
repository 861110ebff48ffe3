"""Shapes checked where arrays cross functions: the losses, the advantage estimators, the
rollout, replay insertion and sampling and the cores' unroll each assert the ranks, shapes and
dtypes of what they are given (chex), compiled or not. Each function runs with and without
jit (`chex.variants`): the hand-derived numbers of its own tests come out both ways, and an
argument of the wrong rank, shape or dtype is an AssertionError both ways, raised where it
enters rather than as a broadcast deep inside or a silently wrong number."""

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax

from metarl.agents import a3c, ppo
from metarl.agents.a3c.losses import estimate
from metarl.agents.ppo.losses import Batch, gae
from metarl.agents.rsac import losses as sac_losses
from metarl.agents.td.losses import make_loss as td_loss
from metarl.networks import cores
from metarl.networks.gru import GRUStack
from metarl.networks.sac import make_sac_networks
from metarl.replay import sequence as replay
from metarl.rollout import make_rollout
from tests import test_a3c_loss, test_ppo, test_replay, test_sac, test_value_td

VARIANTS = dict(with_jit=True, without_jit=True)
REWARD, DISCOUNT, VALUES = jnp.array([1.0, 0.0]), jnp.array([0.5, 0.5]), jnp.array([0., 0., 2.])


class ShapesTest(chex.TestCase):

  @chex.variants(**VARIANTS)
  def test_advantage_estimators(self):
    kstep = self.variant(lambda r, d, v: estimate('kstep', r, d, v, n_step=1))
    mc = self.variant(lambda r, d, v: estimate('mc', r, d, v))
    gae_1 = self.variant(lambda r, d, v: gae(r, d, v, 1.0))
    # one-step targets r + d V': [1 + .5 * 0, 0 + .5 * 2] = [1, 1], minus V = [0, 0]
    np.testing.assert_allclose(kstep(REWARD, DISCOUNT, VALUES), [[1, 1], [1, 1]])
    # returns G1 = 0 + .5 * 2 = 1, G0 = 1 + .5 * 1 = 1.5: psi = G (mc), A = G - V (gae 1)
    np.testing.assert_allclose(mc(REWARD, DISCOUNT, VALUES), [[1.5, 1], [1.5, 1]])
    np.testing.assert_allclose(gae_1(REWARD, DISCOUNT, VALUES), [[1.5, 1], [1.5, 1]])
    for fn in (kstep, mc, gae_1):
      with self.assertRaisesRegex(AssertionError, 'shape'):  # V without its bootstrap
        fn(REWARD, DISCOUNT, VALUES[:-1])
      with self.assertRaisesRegex(AssertionError, 'rank'):  # a batch, not one sequence
        fn(REWARD[:, None], DISCOUNT[:, None], VALUES[:, None])
      with self.assertRaisesRegex(AssertionError, 'type'):  # integer rewards
        fn(jnp.array([1, 0]), DISCOUNT, VALUES)

  @chex.variants(**VARIANTS)
  def test_a3c_loss(self):
    params, trajectory = test_a3c_loss.example()
    loss_fn = self.variant(a3c.make_loss(
        test_a3c_loss.fixed_output_networks(), gamma=0.9, n_step=3, value_coef=0.05,
        entropy_schedule=optax.constant_schedule(0.01)))
    loss, _ = loss_fn(params, trajectory, jnp.int32(0))
    np.testing.assert_allclose(loss, 0.442662, rtol=1e-5)  # test_a3c_loss's hand numbers
    with self.assertRaisesRegex(AssertionError, 'shape'):  # first without the T + 1-th step
      loss_fn(params, trajectory._replace(first=trajectory.first[1:]), jnp.int32(0))
    with self.assertRaisesRegex(AssertionError, 'type'):  # first as floats
      loss_fn(params, trajectory._replace(first=trajectory.first * 1.0), jnp.int32(0))

  @chex.variants(**VARIANTS)
  def test_ppo_loss(self):
    params = dict(logits=jnp.log(jnp.array([[[0.8, 0.2], [0.7, 0.3]]])),
                  values=jnp.array([[1.0, 0.0]]))
    trajectory = test_a3c_loss.example()[1]._replace(
        observation=jnp.zeros((2, 2, 1)), first=jnp.zeros((2, 2), bool),
        action=jnp.array([[0, 1]]), reward=jnp.zeros((1, 2)), discount=jnp.ones((1, 2)),
        last=jnp.zeros((1, 2), bool))
    batch = Batch(trajectory=trajectory, behaviour_logits=jnp.zeros((1, 2, 2)),
                  behaviour_value=jnp.array([[0.5, 0.5]]), advantage=jnp.array([[1.0, -1.0]]),
                  target=jnp.array([[0.0, 1.0]]))
    loss_fn = self.variant(ppo.make_loss(
        test_ppo.fixed_output_networks(), clip_eps=0.2, value_clip_eps=0.0, value_coef=0.5,
        entropy_schedule=optax.constant_schedule(0.01)))
    _, metrics = loss_fn(params, batch, jnp.int32(0))
    np.testing.assert_allclose(metrics['policy_loss'], -0.2, rtol=1e-5)  # test_ppo's
    np.testing.assert_allclose(metrics['value_loss'], 0.5, rtol=1e-6)
    with self.assertRaisesRegex(AssertionError, 'shape'):  # one advantage per sequence
      loss_fn(params, batch._replace(advantage=batch.advantage[0]), jnp.int32(0))
    with self.assertRaisesRegex(AssertionError, 'rank'):  # a step per sequence
      loss_fn(params, batch, jnp.zeros(2, jnp.int32))

  @chex.variants(**VARIANTS)
  def test_td_loss(self):
    values = jnp.array([[.1, .5], [.2, .5], [.3, .5], [.4, 9.]])
    loss_fn = self.variant(td_loss(test_value_td.stub_networks(), gamma=0.5))
    trials = test_value_td.hand_trials()
    np.testing.assert_allclose(loss_fn({'v': values}, trials)[0], 0.361, rtol=1e-6)
    with self.assertRaisesRegex(AssertionError, 'type'):  # a float mask
      loss_fn({'v': values}, trials._replace(mask=trials.mask * 1.0))
    with self.assertRaisesRegex(AssertionError, 'shape'):  # a length per trial and step
      loss_fn({'v': values}, trials._replace(length=trials.mask.astype(jnp.int32)))

  @chex.variants(**VARIANTS)
  def test_rsac_losses(self):
    nets = make_sac_networks((2,), 1, test_sac.LINEAR)
    actor, critic, target = test_sac.linear_params(False)
    config = sac_losses.LossConfig(gamma=0.0)
    critic_loss = self.variant(lambda c, a, t, log_alpha, batch, key: sac_losses.critic_loss(
        c, a, t, log_alpha, batch, key, nets, config))
    batch = test_sac.one_step_batch()
    _, aux = critic_loss(critic, actor, target, jnp.log(0.2), batch, jax.random.PRNGKey(0))
    np.testing.assert_allclose(float(aux['target_mean']), 1.5)  # gamma 0: the reward
    with self.assertRaisesRegex(AssertionError, 'shape'):  # a mask over the bootstrap step
      critic_loss(critic, actor, target, jnp.log(0.2),
                  batch._replace(critic_mask=jnp.ones((2, 1))), jax.random.PRNGKey(0))
    actor_loss = self.variant(lambda a, c, log_alpha, batch, key: sac_losses.actor_loss(
        a, c, log_alpha, batch, key, nets, config))
    with self.assertRaisesRegex(AssertionError, 'rank'):  # a temperature per step
      actor_loss(actor, critic, jnp.zeros(2), batch, jax.random.PRNGKey(0))
    alpha_loss = self.variant(sac_losses.alpha_loss, static_argnums=2)
    np.testing.assert_allclose(alpha_loss(jnp.float32(2.0), jnp.float32(0.5), -1.0), 1.0)
    with self.assertRaisesRegex(AssertionError, 'rank'):
      alpha_loss(jnp.float32(2.0), jnp.ones(3), -1.0)

  @chex.variants(**VARIANTS)
  def test_replay_add_and_sample(self):
    state, _ = test_replay.build_buffer()
    empty = replay.init(2, test_replay.CAP, observation_shape=(3,), action_dim=1)
    t = jnp.arange(4, dtype=jnp.float32)[:, None]  # 4 steps of one row: [T, 1, ...]
    chunk = replay.Steps(
        observation=jnp.zeros((4, 1, 3)), action=t[..., None], reward=t * 0.5,
        discount=jnp.ones((4, 1)), first=t == 0, last=jnp.zeros((4, 1), bool),
        prev_action=jnp.zeros((4, 1, 1)), prev_reward=jnp.zeros((4, 1)))
    add = self.variant(replay.add)
    added = add(empty, jnp.array([1]), chunk)
    np.testing.assert_array_equal(added.count, [0, 4])
    np.testing.assert_array_equal(added.steps.reward[1, :4], [0, 0.5, 1, 1.5])
    with self.assertRaisesRegex(AssertionError, 'rank'):  # rows as a column
      add(empty, jnp.array([[1]]), chunk)
    with self.assertRaisesRegex(AssertionError, 'shape'):  # one row, two rows of steps
      add(empty, jnp.array([1]), jax.tree_util.tree_map(
          lambda x: jnp.concatenate([x, x], axis=1), chunk))
    sample = self.variant(replay.sample, static_argnums=(2, 3))
    config = replay.ReplayConfig(sequence_length=4)
    batch = sample(jax.random.PRNGKey(0), state, config, 8)
    assert batch.valid.shape == (8, 5) and batch.critic_mask.shape == (8, 4)
    with self.assertRaisesRegex(AssertionError, 'shape'):  # a batch of keys
      sample(jax.random.split(jax.random.PRNGKey(0), 2), state, config, 8)
    with self.assertRaisesRegex(AssertionError, 'rank'):  # one row's counts as a scalar
      sample(jax.random.PRNGKey(0), state._replace(count=state.count[0]), config, 8)

  @chex.variants(**VARIANTS)
  def test_rollout_unroll(self):
    config, networks, rollout = test_ppo.bandit_pieces(num_envs=3, unroll_length=4)
    del config
    params = networks.init(jax.random.PRNGKey(0))
    state = rollout.init(jax.random.PRNGKey(1))
    unroll = self.variant(rollout.unroll)
    _, trajectory = unroll(params, state)
    assert trajectory.reward.shape == (4, 3) and trajectory.first.shape == (5, 3)
    other = make_rollout(*_bandit_env_and_actor(), num_envs=2, unroll_length=4)
    with self.assertRaisesRegex(AssertionError, 'shape'):  # the state of 2 env copies, not 3
      unroll(params, other.init(jax.random.PRNGKey(1)))

  @chex.variants(**VARIANTS)
  def test_cores_unroll(self):
    for core_type in cores.CORE_TYPES:
      unroll = hk.without_apply_rng(hk.transform(
          lambda x, first, c=core_type: cores.unroll(
              cores.make_core(c, 4), x, first,
              cores.make_core(c, 4).initial_state(x.shape[1]))[0]))
      x, first = jnp.ones((5, 2, 3)), jnp.zeros((5, 2), bool).at[2, 1].set(True)
      params = unroll.init(jax.random.PRNGKey(0), x, first)
      apply = self.variant(unroll.apply)
      assert apply(params, x, first).shape[:2] == (5, 2)
      with self.assertRaisesRegex(AssertionError, 'type'):  # resets as floats
        apply(params, x, first * 1.0)
      with self.assertRaisesRegex(AssertionError, 'shape'):  # a reset per step, not per copy
        apply(params, x, first[:, :1])
    stack = hk.without_apply_rng(hk.transform(lambda x, r: GRUStack((4, 4)).unroll(x, r)))
    params = stack.init(jax.random.PRNGKey(0), x, first)
    apply = self.variant(stack.apply)
    assert apply(params, x, first).shape == (5, 2, 4)
    with self.assertRaisesRegex(AssertionError, 'rank'):
      apply(params, x[0], first)


def _bandit_env_and_actor():
  config, networks, _ = test_ppo.bandit_pieces(num_envs=2, unroll_length=4)
  from metarl import envs
  return envs.make(config.env), ppo.make_actor(networks, behaviour=True)
