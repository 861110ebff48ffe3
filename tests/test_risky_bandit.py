"""The safe / risky task (Stopper et al. 2014; Wang et al. 2018, simulation 6) against a
numpy version of its rules, under jit and vmap: forced pulls in their drawn order whatever
the agent picks, then free choices; safe 1, risky 4 with the episode's probability."""

import jax
import jax.numpy as jnp
import numpy as np

from metarl.envs.risky_bandit import RISKY_PROBS, RiskyBandit


def numpy_reset(key, forced_trials):
  side_key, p_key, order_key = jax.random.split(key, 3)
  forced = np.asarray(jax.random.permutation(order_key, jnp.repeat(jnp.arange(2),
                                                                   forced_trials)))
  p = RISKY_PROBS[int(jax.random.randint(p_key, (), 0, 2))]
  return dict(side=int(jax.random.randint(side_key, (), 0, 2)), p=p, forced=forced, trial=0)


def there(ref, forced_trials):
  if ref['trial'] < 2 * forced_trials:
    return np.eye(2)[ref['forced'][ref['trial']]]
  return np.ones(2)


def test_matches_numpy_reference_under_jit_and_vmap():
  forced_trials, free_trials = 2, 3
  env = RiskyBandit('both', forced_trials, free_trials)
  batch, steps = 6, 40
  params = jax.tree_util.tree_map(lambda x: jnp.stack([x] * batch), env.default_params())
  reset_keys = jax.random.split(jax.random.PRNGKey(0), batch)
  state, ts = jax.jit(jax.vmap(env.reset))(reset_keys, params)
  refs = [numpy_reset(k, forced_trials) for k in reset_keys]
  for b in range(batch):
    np.testing.assert_array_equal(ts.observation[b], [0, 0, 0, *there(refs[b], forced_trials)])
  step = jax.jit(jax.vmap(env.step))
  rng = np.random.default_rng(0)
  for t in range(steps):
    keys = jax.random.split(jax.random.PRNGKey(50 + t), batch)
    actions = rng.integers(0, 2, batch)
    state, ts = step(keys, state, jnp.asarray(actions, jnp.int32), params)
    for b in range(batch):
      ref = refs[b]
      forced = ref['trial'] < 2 * forced_trials
      arm = ref['forced'][ref['trial']] if forced else actions[b]
      u = float(jax.random.uniform(jax.random.split(keys[b])[0]))
      reward = (4.0 if u < ref['p'] else 0.0) if arm == ref['side'] else 1.0
      ref['trial'] += 1
      last = ref['trial'] == 2 * forced_trials + free_trials
      assert ts.reward[b] == reward and bool(ts.last[b]) == last
      if last:
        refs[b] = numpy_reset(jax.random.split(keys[b])[1], forced_trials)
      else:
        np.testing.assert_allclose(ts.observation[b], [arm == 0, arm == 1, reward / 4,
                                                       *there(ref, forced_trials)])
      assert int(state.risky_side[b]) == refs[b]['side']
      assert float(state.p[b]) == refs[b]['p'] and int(state.trial[b]) == refs[b]['trial']
      np.testing.assert_array_equal(state.forced[b], refs[b]['forced'])


def test_episodes_draw_sides_probabilities_and_a_balanced_forced_order():
  env = RiskyBandit()
  keys = jax.random.split(jax.random.PRNGKey(1), 4000)
  state, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, env.default_params())
  assert abs(float(state.risky_side.mean()) - 0.5) < 0.03
  assert set(np.unique(np.asarray(state.p)).round(3)) == {0.125, 0.5}
  np.testing.assert_array_equal(np.asarray(state.forced).sum(1), 5)  # 5 of each arm
  assert len({tuple(f) for f in np.asarray(state.forced)}) > 100  # orders differ
  assert env.max_episode_steps == 30


def test_p_risky_counts_free_choices_of_the_risky_arm():
  env = RiskyBandit(forced_trials=1, free_trials=2)
  trial = jnp.array([[0], [1], [2], [3]])
  states = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (4, 1) + x.shape), env.reset(
      jax.random.PRNGKey(0), env.default_params())[0])
  states = states.replace(trial=trial, risky_side=jnp.ones((4, 1), jnp.int32))
  metrics = env.episode_metrics(states, jnp.array([[1], [1], [1], [0]]), jnp.zeros((4, 1)))
  assert float(metrics['p_risky']) == 0.5  # trials 2 and 3 free: risky, then safe
