"""The pendulum against a float64 numpy reference of gymnasium's Pendulum-v1 equations,
step by step, with truncation and auto-reset, reset ranges, metrics, jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.envs import base
from metarl.envs.pendulum import Pendulum, PendulumParams, PendulumState


def reference_step(th, thdot, a):
  """Gymnasium Pendulum-v1 `step` in float64 with u = 2 * clip(a, -1, 1).

  Returns (new_th, new_thdot, reward).
  """
  g, m, length, dt, max_speed, max_torque = 10.0, 1.0, 1.0, 0.05, 8.0, 2.0
  th, thdot = np.float64(th), np.float64(thdot)
  u = np.clip(max_torque * np.float64(a), -max_torque, max_torque)
  angle = ((th + np.pi) % (2 * np.pi)) - np.pi
  cost = angle ** 2 + 0.1 * thdot ** 2 + 0.001 * u ** 2
  new_thdot = thdot + (3 * g / (2 * length) * np.sin(th) + 3.0 / (m * length ** 2) * u) * dt
  new_thdot = np.clip(new_thdot, -max_speed, max_speed)
  new_th = th + new_thdot * dt
  return new_th, new_thdot, -cost


def reference_observation(th, thdot, observe_velocity):
  obs = [np.cos(th), np.sin(th)] + ([thdot] if observe_velocity else [])
  return np.array(obs)


@pytest.mark.parametrize('observe_velocity', [True, False])
def test_steps_follow_gymnasium_pendulum(observe_velocity):
  limit, steps = 60, 400
  env = Pendulum(observe_velocity=observe_velocity, episode_step_limit=limit)
  params = env.default_params()
  step = jax.jit(env.step)
  state, ts = jax.jit(env.reset)(jax.random.PRNGKey(0), params)
  np.testing.assert_allclose(
      ts.observation, reference_observation(state.theta, state.theta_dot, observe_velocity),
      rtol=1e-6, atol=1e-6)
  actions = np.random.default_rng(1).uniform(-1.6, 1.6, steps).astype(np.float32)
  lasts = 0
  for t in range(steps):
    th, thdot, t_before = float(state.theta), float(state.theta_dot), int(state.t)
    key = jax.random.PRNGKey(t + 1)
    state, ts = step(key, state, jnp.asarray(actions[t:t + 1]), params)
    new_th, new_thdot, reward = reference_step(th, thdot, actions[t])
    np.testing.assert_allclose(float(ts.reward), reward, rtol=1e-5, atol=1e-5)
    assert float(ts.discount) == 1.0  # truncation, never termination
    last = t_before + 1 >= limit
    assert bool(ts.last) == last and bool(ts.first) == last
    lasts += last
    if last:
      reset_state, reset_ts = env.reset(key, params)
      for x, y in zip(state, reset_state, strict=True):
        np.testing.assert_array_equal(x, y)
      np.testing.assert_array_equal(ts.observation, reset_ts.observation)
      assert int(state.t) == 0
    else:
      np.testing.assert_allclose(float(state.theta), new_th, rtol=1e-5, atol=1e-5)
      np.testing.assert_allclose(float(state.theta_dot), new_thdot, rtol=1e-5, atol=1e-5)
      assert int(state.t) == t_before + 1
      np.testing.assert_allclose(
          ts.observation, reference_observation(new_th, new_thdot, observe_velocity),
          rtol=1e-5, atol=1e-5)
  assert lasts == steps // limit


def test_speed_clip_torque_clip_and_angle_wrap():
  env = Pendulum()
  params = env.default_params()
  cases = [(3.0, 7.9, 5.0), (-2.5, -7.9, -5.0), (12.0, 0.3, 0.2), (-9.5, -1.0, 1.0),
           (np.pi, 0.0, -1.0), (0.0, 0.0, 0.0)]
  for th, thdot, a in cases:
    state = PendulumState(theta=jnp.float32(th), theta_dot=jnp.float32(thdot),
                          t=jnp.int32(0))
    next_state, ts = env.step(jax.random.PRNGKey(0), state, jnp.array([a]), params)
    new_th, new_thdot, reward = reference_step(np.float32(th), np.float32(thdot), a)
    np.testing.assert_allclose(float(ts.reward), reward, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(next_state.theta_dot), new_thdot, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(next_state.theta), new_th, rtol=1e-5, atol=1e-5)
    assert abs(float(next_state.theta_dot)) <= 8.0


def test_reset_ranges():
  env = Pendulum()
  keys = jax.random.split(jax.random.PRNGKey(2), 4000)
  state, ts = jax.vmap(env.reset, in_axes=(0, None))(keys, env.default_params())
  th, thdot = np.asarray(state.theta), np.asarray(state.theta_dot)
  assert th.min() >= -np.pi and th.max() <= np.pi
  assert thdot.min() >= -1.0 and thdot.max() <= 1.0
  assert th.min() < -3.0 and th.max() > 3.0 and thdot.min() < -0.95 and thdot.max() > 0.95
  assert abs(th.mean()) < 0.1 and abs(thdot.mean()) < 0.05
  assert np.all(np.asarray(state.t) == 0) and bool(jnp.all(ts.first))
  assert not bool(jnp.any(ts.last)) and bool(jnp.all(ts.reward == 0))


def test_spec_jit_vmap_and_batched_params():
  for observe_velocity, dim in ((True, 3), (False, 2)):
    env = Pendulum(observe_velocity=observe_velocity, episode_step_limit=4)
    assert env.spec == base.EnvSpec(observation_shape=(dim,), num_actions=0, action_dim=1)
    assert env.max_episode_steps == 4
    assert env.default_params() == PendulumParams()
    batch = 8
    params = base.batch_params(env.default_params(), batch)
    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    state, ts = jax.jit(jax.vmap(env.reset))(keys, params)
    assert ts.observation.shape == (batch, dim) and state.theta.shape == (batch,)
    step = jax.jit(jax.vmap(env.step))
    for t in range(4):
      keys = jax.random.split(jax.random.PRNGKey(t + 1), batch)
      state, ts = step(keys, state, jnp.ones((batch, 1)), params)
      assert ts.observation.shape == (batch, dim) and ts.reward.shape == (batch,)
      assert bool(jnp.all(ts.last == (t == 3)))
    assert bool(jnp.all(state.t == 0))
    assert len(np.unique(np.asarray(state.theta))) == batch


def test_episode_metrics():
  env = Pendulum(episode_step_limit=3)
  # T=6 steps, B=2 copies, two whole episodes each: t = 0, 1, 2, 0, 1, 2.
  t = jnp.tile(jnp.array([0, 1, 2, 0, 1, 2], jnp.int32)[:, None], (1, 2))
  states = PendulumState(theta=jnp.zeros((6, 2)), theta_dot=jnp.zeros((6, 2)), t=t)
  rewards = -jnp.arange(12, dtype=jnp.float32).reshape(6, 2)
  metrics = env.episode_metrics(states, jnp.zeros((6, 2, 1)), rewards)
  np.testing.assert_allclose(metrics['mean_return'], -66 / 4, rtol=1e-6)
  np.testing.assert_allclose(metrics['mean_reward_per_step'], -66 / 12, rtol=1e-6)
  # No episode finished: divide by the number of copies.
  metrics = env.episode_metrics(jax.tree_util.tree_map(lambda x: x[:2], states),
                                jnp.zeros((2, 2, 1)), rewards[:2])
  np.testing.assert_allclose(metrics['mean_return'], -6 / 2, rtol=1e-6)
