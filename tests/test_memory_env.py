"""The memory task against a numpy reference of its rules (window, count, reward,
truncation and auto-reset), its random sequences, accuracy metric, jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np

from metarl.envs import base
from metarl.envs.memory import Memory, MemoryState, random_sequences


class ReferenceMemory:
  """The RLtools memory rules in plain numpy, fed the bits the JAX env drew."""

  def __init__(self, horizon, episode_step_limit):
    self.horizon = horizon
    self.limit = episode_step_limit

  def reset(self, bit):
    self.window = np.zeros(self.horizon, np.int64)
    self.t = 0
    self.push(bit)

  def push(self, bit):
    self.window = np.concatenate([self.window[1:], [bit]])

  def step(self, action, next_bit):
    """Returns (reward, last); `next_bit` is the bit observed after the step."""
    a = float(np.clip(action, -1.0, 1.0))
    reward = -10.0 * abs(a - self.window.sum() / self.horizon)
    self.t += 1
    last = self.t >= self.limit
    if last:
      self.reset(next_bit)
    else:
      self.push(next_bit)
    return reward, last


def test_steps_follow_the_reference_rules():
  horizon, limit, steps = 4, 37, 2000
  env = Memory(horizon=horizon, input_probability=0.4, episode_step_limit=limit)
  params = env.default_params()
  reset = jax.jit(env.reset)
  step = jax.jit(env.step)
  ref = ReferenceMemory(horizon, limit)
  state, ts = reset(jax.random.PRNGKey(0), params)
  bit = float(ts.observation[0])
  assert bit in (0.0, 1.0) and bool(ts.first) and not bool(ts.last)
  ref.reset(bit)
  actions = np.random.default_rng(0).uniform(-1.5, 1.5, steps).astype(np.float32)
  bits, lasts = [], 0
  for t in range(steps):
    np.testing.assert_array_equal(np.asarray(state.window), ref.window)
    assert int(state.t) == ref.t
    assert int(env.count(state)) == ref.window.sum()
    state, ts = step(jax.random.PRNGKey(t + 1), state, jnp.asarray(actions[t:t + 1]), params)
    bit = float(ts.observation[0])
    assert bit in (0.0, 1.0)
    bits.append(bit)
    reward, last = ref.step(actions[t], bit)
    np.testing.assert_allclose(float(ts.reward), reward, rtol=1e-5, atol=1e-5)
    assert bool(ts.last) == last and bool(ts.first) == last
    assert float(ts.discount) == 1.0  # truncation, never termination
    lasts += last
  assert lasts == steps // limit
  assert abs(np.mean(bits) - 0.4) < 0.05


def test_truncated_step_returns_the_reset_of_its_key():
  env = Memory(horizon=3, episode_step_limit=5)
  params = env.default_params()
  state = MemoryState(window=jnp.array([1, 0, 1], jnp.int32), t=jnp.array(4, jnp.int32))
  key = jax.random.PRNGKey(7)
  next_state, ts = env.step(key, state, jnp.array([2.0 / 3.0]), params)
  reset_state, reset_ts = env.reset(key, params)
  np.testing.assert_array_equal(next_state.window, reset_state.window)
  assert int(next_state.t) == 0 and bool(ts.last) and bool(ts.first)
  np.testing.assert_array_equal(ts.observation, reset_ts.observation)
  np.testing.assert_allclose(float(ts.reward), 0.0, atol=1e-6)


def test_random_sequences_counts_match_numpy():
  for length, horizon in ((50, 10), (5, 8)):
    bits, counts = random_sequences(jax.random.PRNGKey(3), 300, length, horizon, 0.3)
    assert bits.shape == (length, 300, 1) and bits.dtype == jnp.float32
    assert counts.shape == (300,) and counts.dtype == jnp.int32
    b = np.asarray(bits)[..., 0]
    assert set(np.unique(b)) <= {0.0, 1.0}
    np.testing.assert_array_equal(counts, b[max(length - horizon, 0):].sum(axis=0))
  assert abs(b.mean() - 0.3) < 0.05


def test_random_sequences_fed_to_the_env_give_the_window_count():
  """The env's window after a sequence holds exactly the count random_sequences returns."""
  env = Memory(horizon=6, episode_step_limit=100)
  bits, counts = random_sequences(jax.random.PRNGKey(5), 8, 20, 6, 0.5)
  b = np.asarray(bits)[..., 0].astype(np.int32)
  for i in range(8):
    window = np.zeros(6, np.int32)
    for x in b[:, i]:
      window = np.concatenate([window[1:], [x]])
    assert int(env.count(MemoryState(window=jnp.asarray(window), t=jnp.int32(0)))) == counts[i]


def test_episode_metrics_accuracy_on_hand_built_actions():
  env = Memory(horizon=4)
  # T=3 steps, B=2 copies: counts [[0, 2], [1, 4], [3, 3]].
  windows = jnp.array([[[0, 0, 0, 0], [1, 0, 1, 0]],
                       [[0, 0, 0, 1], [1, 1, 1, 1]],
                       [[1, 1, 0, 1], [0, 1, 1, 1]]], jnp.int32)
  states = MemoryState(window=windows, t=jnp.zeros((3, 2), jnp.int32))
  actions = jnp.array([[[0.1], [0.5]],  # round(0.4)=0 ok, round(2.0)=2 ok
                       [[0.4], [3.0]],  # round(1.6)=2 wrong, clip -> 4 ok
                       [[0.7], [-0.75]]])  # round(2.8)=3 ok, round(-3)=-3 wrong
  rewards = jnp.array([[-1.0, 0.0], [-2.0, -3.0], [0.0, 1.0]])
  metrics = env.episode_metrics(states, actions, rewards)
  np.testing.assert_allclose(metrics['accuracy'], 4 / 6, rtol=1e-6)
  np.testing.assert_allclose(metrics['mean_reward_per_step'], -5 / 6, rtol=1e-6)


def test_spec_jit_and_vmap_over_keys():
  env = Memory(horizon=5, input_probability=0.5, episode_step_limit=3)
  assert env.spec == base.EnvSpec(observation_shape=(1,), num_actions=0, action_dim=1)
  assert env.max_episode_steps == 3
  batch = 16
  params = base.batch_params(env.default_params(), batch)
  keys = jax.random.split(jax.random.PRNGKey(0), batch)
  state, ts = jax.jit(jax.vmap(env.reset))(keys, params)
  assert state.window.shape == (batch, 5) and ts.observation.shape == (batch, 1)
  step = jax.jit(jax.vmap(env.step))
  for t in range(3):
    keys = jax.random.split(jax.random.PRNGKey(t + 1), batch)
    state, ts = step(keys, state, jnp.zeros((batch, 1)), params)
    assert ts.reward.shape == (batch,) and ts.observation.shape == (batch, 1)
    assert bool(jnp.all(ts.last == (t == 2)))
  assert bool(jnp.all(state.t == 0))
  # Copies draw different bits.
  _, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), 64),
                              base.batch_params(env.default_params(), 64))
  assert 0 < float(ts.observation.sum()) < 64
