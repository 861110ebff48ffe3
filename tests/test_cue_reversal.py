"""The cue-reversal task (Bromberg-Martin et al. 2010; Wang et al. 2018, simulation 3)
against a numpy version of its rules, under jit and vmap, and the cue-RPE analysis on
synthetic value outputs whose RPEs are known."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.analysis import inferred_value
from metarl.envs.cue_reversal import CueReversal


def numpy_reset(key):
  rewarded_key, cue_key = jax.random.split(key)
  return dict(rewarded=int(jax.random.randint(rewarded_key, (), 0, 2)), switched=False,
              cue=int(jax.random.randint(cue_key, (), 0, 2)), screen=0, trial=0, block=0)


def numpy_observation(ref, action, reward, cue_stays):
  screen = np.eye(4)[ref['screen']]
  shown = ref['screen'] != 0 if cue_stays else ref['screen'] == 1
  cue = np.eye(2)[ref['cue']] * shown
  previous = np.eye(3)[action] if action >= 0 else np.zeros(3)
  return np.concatenate([screen, cue, previous, [reward]])


@pytest.mark.parametrize('cue_stays,respond_to_cue', [(False, False), (True, False),
                                                      (False, True)])
def test_matches_numpy_reference_under_jit_and_vmap(cue_stays, respond_to_cue):
  trials, blocks = 2, 3
  env = CueReversal(trials_per_block=trials, blocks_per_episode=blocks, switch_prob=0.5,
                    cue_stays=cue_stays, respond_to_cue=respond_to_cue)
  batch, steps = 5, 60
  params = jax.tree_util.tree_map(lambda x: jnp.stack([x] * batch), env.default_params())
  keys = jax.random.split(jax.random.PRNGKey(0), batch)
  state, ts = jax.jit(jax.vmap(env.reset))(keys, params)
  refs = [numpy_reset(k) for k in keys]
  for b in range(batch):
    np.testing.assert_array_equal(ts.observation[b], numpy_observation(refs[b], -1, 0.0,
                                                                       cue_stays))
  step = jax.jit(jax.vmap(env.step))
  rng = np.random.default_rng(0)
  switches = 0
  for t in range(steps):
    keys = jax.random.split(jax.random.PRNGKey(100 + t), batch)
    actions = rng.choice(3, batch, p=[0.6, 0.2, 0.2])
    state, ts = step(keys, state, jnp.asarray(actions, jnp.int32), params)
    for b in range(batch):
      ref, action = refs[b], int(actions[b])
      response = action == 1 + ref['cue'] if respond_to_cue else action != 0
      valid = response if ref['screen'] == 2 else action == 0
      paid = ref['screen'] == 2 and ref['cue'] == ref['rewarded']
      reward = (1.0 if paid else 0.0) if valid else -1.0
      cue_key, switch_key = jax.random.split(jax.random.split(keys[b])[0])
      if ref['screen'] == 3:  # a trial ends
        ref['trial'] += 1
        ref['cue'] = int(jax.random.randint(cue_key, (), 0, 2))
        if ref['trial'] == trials:  # a block ends
          ref['trial'], ref['block'] = 0, ref['block'] + 1
          ref['switched'] = bool(float(jax.random.uniform(switch_key)) < 0.5)
          ref['rewarded'] = 1 - ref['rewarded'] if ref['switched'] else ref['rewarded']
          switches += ref['switched']
      ref['screen'] = (ref['screen'] + 1) % 4
      last = ref['block'] == blocks
      assert float(ts.reward[b]) == reward and bool(ts.last[b]) == last
      if last:
        refs[b] = ref = numpy_reset(jax.random.split(keys[b])[1])
        action, reward = -1, 0.0
      np.testing.assert_array_equal(ts.observation[b], numpy_observation(ref, action, reward,
                                                                         cue_stays))
      for field in ('rewarded', 'switched', 'cue', 'screen', 'trial', 'block'):
        assert int(getattr(state, field)[b]) == int(ref[field]), field
  assert switches > 0  # the switch rule was exercised


def synthetic_episodes(infers: bool, episodes=40, seed=0):
  """Cue-reversal episodes played by a scripted valuer: V at the cue screen is its belief
  that the cue pays (after a paid trial the cue just seen, after an unpaid one the other;
  `infers` False: only the cue just experienced is revalued, the other keeps its value),
  0.5 on the fixation screen; gamma 1 and no other rewards, so the cue RPE is V(cue) - 0.5."""
  env = CueReversal(trials_per_block=5, blocks_per_episode=8)
  rng = np.random.default_rng(seed)
  t_len = env.max_episode_steps
  data = {k: np.zeros((episodes, t_len), int) for k in
          ('screen', 'cue', 'rewarded', 'switched', 'trial', 'block', 'action')}
  data.update(reward=np.zeros((episodes, t_len)), value=np.zeros((episodes, t_len)))
  for e in range(episodes):
    rewarded, belief = rng.integers(2), np.array([0.5, 0.5])
    switched = False
    for block in range(8):
      if block:
        switched = rng.random() < 0.5
        rewarded = 1 - rewarded if switched else rewarded
      for trial in range(5):
        cue = rng.integers(2)
        for screen in range(4):
          t = 4 * (5 * block + trial) + screen
          for name, v in (('screen', screen), ('cue', cue), ('rewarded', rewarded),
                          ('switched', switched), ('trial', trial), ('block', block)):
            data[name][e, t] = v
          data['value'][e, t] = belief[cue] if screen == 1 else 0.5
        paid = float(cue == rewarded)
        belief[cue] = paid
        if infers:
          belief[1 - cue] = 1 - paid
  data['rpe'] = inferred_value.td_errors(data['reward'], data['value'], 1.0)
  return data


def test_cue_rpes_of_an_inferring_valuer_flip_for_both_cues_on_trial_2():
  rows = inferred_value.cue_rpe_rows(synthetic_episodes(infers=True))
  after = {(r['trial'], r['cue'], r['value']): r['rpe'] for r in rows if r['switched']}
  assert after[(1, 'both', 'rewarded')] == pytest.approx(-0.5)  # still the old contingency
  assert after[(1, 'both', 'unrewarded')] == pytest.approx(0.5)
  for kind in ('experienced', 'inferred'):
    assert after[(2, kind, 'rewarded')] == pytest.approx(0.5)
    assert after[(2, kind, 'unrewarded')] == pytest.approx(-0.5)
  summary = inferred_value.summary_of(rows)
  assert summary['sign_pattern_inferred'] == 1.0
  assert summary['inferred_over_experienced'] == pytest.approx(1.0)


def test_a_valuer_that_only_revalues_what_it_experienced_keeps_the_old_sign_when_inferring():
  rows = inferred_value.cue_rpe_rows(synthetic_episodes(infers=False))
  after = {(r['trial'], r['cue'], r['value']): r['rpe'] for r in rows if r['switched']}
  assert after[(2, 'experienced', 'rewarded')] == pytest.approx(0.5)
  assert after[(2, 'inferred', 'rewarded')] < 0 < after[(2, 'inferred', 'unrewarded')]
  summary = inferred_value.summary_of(rows)
  assert summary['sign_pattern_experienced'] == 1.0
  assert summary['sign_pattern_inferred'] == 0.0
