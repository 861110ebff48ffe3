"""DND semantics and the episodic LSTM: write/read/capacity/clear, no gradient into memory,
retrieval off equals a plain LSTM, retrieval on reinstates the stored cell state."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from metarl.networks.episodic import EpisodicInputs, EpisodicLSTM, dnd_init, dnd_read, dnd_write


def test_dnd_reads_the_cosine_nearest_neighbour():
  memory = dnd_init(capacity=4, key_size=3, value_size=2)
  empty = dnd_read(memory, jnp.array([1., 0., 0.]))
  assert int(empty.index) == -1 and not np.asarray(empty.value).any()
  memory = dnd_write(memory, jnp.array([1., 0., 0.]), jnp.array([1., 1.]))
  memory = dnd_write(memory, jnp.array([0., 1., 0.]), jnp.array([2., 2.]))
  memory = dnd_write(memory, jnp.array([0., 0., 5.]), jnp.array([3., 3.]), write=False)
  assert int(memory.size) == 2
  read = dnd_read(memory, jnp.array([0.1, 3.0, 0.0]))  # nearest by angle, not by length
  assert int(read.index) == 1
  np.testing.assert_allclose(read.value, [2., 2.])
  np.testing.assert_allclose(read.similarity, 3.0 / np.sqrt(9.01), rtol=1e-6)


def test_dnd_overwrites_the_oldest_when_full():
  memory = dnd_init(capacity=2, key_size=2, value_size=1)
  for k, key in enumerate([[1., 0.], [0., 1.], [1., 1.]]):
    memory = dnd_write(memory, jnp.array(key), jnp.array([float(k)]))
  assert int(memory.size) == 2 and int(memory.next) == 1
  np.testing.assert_allclose(memory.keys, [[1., 1.], [0., 1.]])  # slot 0 overwritten
  np.testing.assert_allclose(dnd_read(memory, jnp.array([1., 0.9])).value, [2.])


def test_no_gradient_flows_into_memory():
  def retrieved(value):
    memory = dnd_write(dnd_init(2, 2, 1), jnp.array([1., 0.]), value)
    return dnd_read(memory, jnp.array([1., 0.])).value.sum()
  assert float(jax.grad(retrieved)(jnp.array([3.]))[0]) == 0.0


def unroll(core_fn, xs, keys, writes, first):
  def f(xs, keys, writes, first):
    core = hk.ResetCore(core_fn())
    inputs = (EpisodicInputs(xs, keys, keys, writes), first)
    return hk.dynamic_unroll(core, inputs, core.initial_state(xs.shape[1]))
  return hk.without_apply_rng(hk.transform(f))


def sequence(T=6, B=3, D=4, K=5, seed=0):
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
  xs = jax.random.normal(k1, (T, B, D))
  keys = jnp.sign(jax.random.normal(k2, (T, B, K)))
  return xs, keys, jnp.ones((T, B), bool), jnp.zeros((T, B), bool).at[0].set(True)


def test_retrieval_off_equals_a_plain_lstm_with_the_same_weights():
  xs, keys, writes, first = sequence()
  episodic = unroll(lambda: EpisodicLSTM(8, 5, 10, retrieval=False, name='lstm'), xs, keys,
                    writes, first)
  params = episodic.init(jax.random.PRNGKey(1), xs, keys, writes, first)
  hs, _ = episodic.apply(params, xs, keys, writes, first)

  def plain(xs, first):
    core = hk.ResetCore(hk.LSTM(8, name='lstm'))
    return hk.dynamic_unroll(core, (xs, first), core.initial_state(xs.shape[1]))
  plain_t = hk.without_apply_rng(hk.transform(plain))
  lstm_params = {'lstm/linear': {'w': params['lstm/linear']['w'][:, :32],
                                 'b': params['lstm/linear']['b'][:32]}}
  expected, _ = plain_t.apply(lstm_params, xs, first)
  np.testing.assert_allclose(hs, expected, atol=1e-6)


def test_retrieval_reinstates_the_stored_cell_state_and_memory_clears_on_reset():
  xs, keys, writes, first = sequence(T=4, B=2)
  keys = keys.at[2].set(keys[0])  # step 2 presents step 0's context again
  writes = writes.at[2:].set(False)
  first = first.at[3].set(True)  # a new episode at step 3: memory cleared
  core = unroll(lambda: EpisodicLSTM(8, 5, 10, retrieval=True, name='lstm'), xs, keys,
                writes, first)
  params = core.init(jax.random.PRNGKey(1), xs, keys, writes, first)
  _, final = core.apply(params, xs, keys, writes, first)
  assert np.asarray(final.memory.size).tolist() == [0, 0]  # cleared at step 3, no writes

  # Step by step: the cell at step 2 adds sigmoid(r) * tanh(c_0) to the LSTM update.
  w, b = params['lstm/linear']['w'], params['lstm/linear']['b']
  h = c = jnp.zeros((2, 8))
  cells = []
  for t in range(3):
    gated = jnp.concatenate([xs[t], h], -1) @ w + b
    i, g, f, o, r = jnp.split(gated, 5, -1)
    c = jax.nn.sigmoid(f + 1) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    if t >= 1:  # step 1: step 0's cell is the only entry; step 2: its key matches exactly
      c = c + jax.nn.sigmoid(r) * jnp.tanh(cells[0])
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    cells.append(c)
  hs, _ = core.apply(params, xs[:3], keys[:3], writes[:3], first[:3])
  np.testing.assert_allclose(hs[2], h, atol=1e-5)


def test_episodic_core_jits_and_vmaps():
  xs, keys, writes, first = sequence()
  core = unroll(lambda: EpisodicLSTM(8, 5, 4), xs, keys, writes, first)
  params = core.init(jax.random.PRNGKey(0), xs, keys, writes, first)
  batched = jax.jit(jax.vmap(core.apply, in_axes=(None, 2, 2, 2, 2)))
  hs, _ = batched(params, xs[:, :, None], keys[:, :, None], writes[:, :, None],
                  first[:, :, None])
  assert hs.shape == (1, 6, 3, 8)


def test_episodic_policy_value_network_step_equals_unroll():
  from metarl.envs.episodic_two_step import EpisodicTwoStep
  from metarl.networks.policy_value import EpisodicConfig, make_policy_value_networks
  env = EpisodicTwoStep(trials_per_episode=8, context_size=4)
  nets = make_policy_value_networks(
      2, env.spec.observation_shape, hidden_size=6,
      episodic=EpisodicConfig(layout=env.layout, key_size=4, capacity=3))
  params = nets.init(jax.random.PRNGKey(0))
  B, T = 3, 12
  state, ts = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(1), B),
                                                      env.default_params())
  obs, first = [], []
  for t in range(T):  # real observations: keys and write flags as the env lays them out
    obs.append(ts.observation)
    first.append(ts.first)
    state, ts = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
        jax.random.split(jax.random.PRNGKey(10 + t), B), state, jnp.zeros(B, jnp.int32),
        env.default_params())
  obs, first = jnp.stack(obs), jnp.stack(first)
  full, _ = nets.unroll(params, obs, first, nets.initial_state(B))
  core_state = nets.initial_state(B)
  for t in range(T):
    out, core_state = nets.step(params, obs[t], first[t], core_state)
    np.testing.assert_allclose(out.logits, full.logits[t], atol=1e-5)
  assert int(core_state.memory.size.max()) == 3  # capacity reached, then overwritten
