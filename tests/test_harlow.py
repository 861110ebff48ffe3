"""The abstract Harlow task (Harlow 1949; Wang et al. 2018, simulation 5) against a numpy
version of its rules, under jit and vmap, and the accuracy analysis on scripted players
whose accuracy per trial is known."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.analysis import harlow as harlow_analysis
from metarl.envs.harlow import Harlow, object_vectors


def numpy_reset(key, n):
  pair_key, side_key = jax.random.split(key)
  target_key, offset_key = jax.random.split(pair_key)
  target = int(jax.random.randint(target_key, (), 0, n))
  other = (target + int(jax.random.randint(offset_key, (), 1, n))) % n
  return dict(target=target, other=other, left=bool(jax.random.uniform(side_key) < 0.5),
              screen=0, trial=0)


def numpy_observation(ref, objects, action, reward, dim, at_outcome=False):
  left, right = np.zeros(dim), np.zeros(dim)
  if ref['screen'] == 1 or (at_outcome and ref['screen'] == 2):
    t, o = objects[ref['target']], objects[ref['other']]
    left, right = (t, o) if ref['left'] else (o, t)
  previous = np.eye(3)[action] if action >= 0 else np.zeros(3)
  return np.concatenate([np.eye(2)[ref['screen']] if ref['screen'] < 2 else np.zeros(2),
                         left, right, previous, [reward]])


@pytest.mark.parametrize('at_outcome', [False, True])
def test_matches_numpy_reference_under_jit_and_vmap(at_outcome):
  dim, n, trials, iti = 3, 5, 2, 2
  env = Harlow(object_dim=dim, num_objects=n, trials_per_episode=trials, iti_steps=iti,
               objects_at_outcome=at_outcome)
  objects = object_vectors(n, dim, 0)[0]
  batch, steps = 6, 40
  params = jax.tree_util.tree_map(lambda x: jnp.stack([x] * batch), env.default_params())
  keys = jax.random.split(jax.random.PRNGKey(0), batch)
  state, ts = jax.jit(jax.vmap(env.reset))(keys, params)
  refs = [numpy_reset(k, n) for k in keys]
  for b in range(batch):
    assert refs[b]['target'] != refs[b]['other']
    np.testing.assert_allclose(ts.observation[b], numpy_observation(refs[b], objects, -1,
                                                                    0.0, dim, at_outcome))
  step = jax.jit(jax.vmap(env.step))
  rng = np.random.default_rng(0)
  for t in range(steps):
    keys = jax.random.split(jax.random.PRNGKey(100 + t), batch)
    actions = rng.integers(0, 3, batch)
    state, ts = step(keys, state, jnp.asarray(actions, jnp.int32), params)
    for b in range(batch):
      ref, action = refs[b], int(actions[b])
      if ref['screen'] == 0:
        reward = 0.2 if action == 0 else 0.0
      elif ref['screen'] == 1:
        took_target = action == (1 if ref['left'] else 2)
        reward = 1.0 if took_target else -1.0
      else:
        reward = 0.0
      if ref['screen'] == 1 + iti:  # the interval's last step ends the trial
        ref['trial'] += 1
        ref['left'] = bool(jax.random.uniform(jax.random.split(keys[b])[0]) < 0.5)
      ref['screen'] = (ref['screen'] + 1) % (2 + iti)
      last = ref['trial'] == trials
      assert float(ts.reward[b]) == pytest.approx(reward) and bool(ts.last[b]) == last
      if last:
        refs[b] = ref = numpy_reset(jax.random.split(keys[b])[1], n)
        action, reward = -1, 0.0
      np.testing.assert_allclose(ts.observation[b],
                                 numpy_observation(ref, objects, action, reward, dim,
                                                   at_outcome),
                                 rtol=1e-6)
      assert int(state.target[b]) == ref['target'] and int(state.other[b]) == ref['other']
      assert bool(state.target_left[b]) == ref['left'] and int(state.trial[b]) == ref['trial']


def test_objects_at_outcome_needs_an_interval():
  with pytest.raises(ValueError, match='iti_steps must be at least 1'):
    Harlow(iti_steps=0, objects_at_outcome=True)


def test_held_out_objects_differ_from_the_training_ones_and_swap_in_through_params():
  env = Harlow(object_set='test')
  train, test = env.objects_of('train'), env.objects_of('test')
  assert train.shape == test.shape == (1000, 8)
  assert not np.isclose(train[:, None], test[None]).all(-1).any()  # no object in both
  np.testing.assert_array_equal(np.asarray(env.default_params().objects), test)


def fixed_actor(choice: int):
  """Holds on every screen but the choice, where it always takes `choice` (0: holds)."""
  from metarl.rollout import Actor

  def step(params, key, timestep, state):
    del params, key
    choosing = timestep.observation[:, 1] > 0.5
    return jnp.where(choosing, choice, 0).astype(jnp.int32), {}, state

  return Actor(initial_state=lambda batch: jnp.zeros((batch,)), step=step)


@pytest.mark.parametrize('object_set', ['train', 'test'])
def test_played_accuracy_is_the_share_of_targets_taken(object_set):
  env = Harlow()
  key = jax.random.PRNGKey(3)
  holding = harlow_analysis.play(env, fixed_actor(0), None, 200, key, object_set)
  assert holding.shape == (200, 6) and not holding.any()  # holding is never correct
  left = harlow_analysis.play(env, fixed_actor(1), None, 1000, key, object_set)
  right = harlow_analysis.play(env, fixed_actor(2), None, 1000, key, object_set)
  np.testing.assert_array_equal(left, ~right)  # same episodes: exactly one side is right
  assert abs(left.mean() - 0.5) < 0.03  # the target's side is a coin flip


def test_results_of_a_player_that_learns_from_trial_1(tmp_path):
  rng = np.random.default_rng(0)
  guess = rng.random((400, 1)) < 0.5
  learnt = np.concatenate([guess, np.ones((400, 5), bool)], 1)
  chance = rng.random((400, 6)) < 0.5
  summary = harlow_analysis.write_results(str(tmp_path), {'test': learnt, 'train': chance})
  assert summary['accuracy_trial_2_test'] == 1.0
  assert summary['accuracy_trial_1_test'] == pytest.approx(guess.mean())
  assert summary['learnt_to_learn'] == 1.0
  rows = harlow_analysis.accuracy_rows({'test': chance})
  assert [r['trial'] for r in rows] == [1, 2, 3, 4, 5, 6]
  assert all(abs(r['accuracy'] - 0.5) < 0.1 for r in rows)
  assert (tmp_path / 'harlow_accuracy.png').exists() and (tmp_path / 'harlow_accuracy.pdf').exists()
  never = harlow_analysis.write_results(str(tmp_path), {'test': chance, 'train': chance})
  assert never['learnt_to_learn'] == 0.0
