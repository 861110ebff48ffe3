"""Sequence replay: every sampling option on a hand-built buffer, against a numpy reading
of the rules (RLtools' BATCH_SAMPLING_PARAMETERS)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.replay import sequence as replay

CAP = 16
L = 5


def _row_episodes(lengths, truncated):
  """Logical steps of one row: episode ids, first/last flags and discounts."""
  ids, first, last, discount = [], [], [], []
  for e, (n, trunc) in enumerate(zip(lengths, truncated, strict=True)):
    for t in range(n):
      ids.append(e)
      first.append(t == 0)
      last.append(t == n - 1)
      discount.append(1.0 if (t < n - 1 or trunc) else 0.0)
  return (np.array(ids), np.array(first), np.array(last), np.array(discount, np.float32))


def build_buffer():
  """Row 0: 23 steps (wrapped: steps 7..22 stored), its newest step ends an episode by
  termination; row 1: 9 steps, its newest episode still running."""
  rows = {0: ([3, 6, 2, 4, 8], [False, True, False, True, False]),
          1: ([4, 7], [True, False])}
  counts = {0: 23, 1: 9}
  state = replay.init(2, CAP, observation_shape=(3,), action_dim=1)
  reference = {}
  for row, (lengths, truncated) in rows.items():
    ids, first, last, discount = _row_episodes(lengths, truncated)
    n = counts[row]
    ids, first, last, discount = ids[:n], first[:n], last[:n], discount[:n]
    obs = np.stack([np.full(n, row), np.arange(n), ids], axis=1).astype(np.float32)
    steps = replay.Steps(
        observation=obs[:, None], action=np.arange(n, dtype=np.float32)[:, None, None],
        reward=np.arange(n, dtype=np.float32)[:, None] * 0.5,
        discount=discount[:, None], first=first[:, None], last=last[:, None],
        prev_action=np.zeros((n, 1, 1), np.float32), prev_reward=np.zeros((n, 1), np.float32))
    for start in range(0, n, 4):  # chunks of 4, as workers would send them
      chunk = jax.tree_util.tree_map(lambda x, s=start: jnp.asarray(x[s:s + 4]), steps)
      state = replay.add(state, jnp.array([row]), chunk)
    reference[row] = dict(ids=ids, first=first, last=last, discount=discount, count=n)
  return state, reference


def expected_masks(ref, start, length, config):
  """Numpy reading of the rules for one sequence starting at logical step `start`."""
  valid = np.zeros(L + 1, bool)
  for k in range(L + 1):
    j = start + k
    valid[k] = j < ref['count'] and not ref['last'][start:j].any()
  critic = np.zeros(L, bool)
  actor = np.zeros(L, bool)
  for k in range(L):
    j = start + k
    if not (valid[k] and k < length):
      continue
    actor[k] = True
    terminated = ref['last'][j] and ref['discount'][j] == 0
    next_stored = (not ref['last'][j]) and j + 1 < ref['count']
    critic[k] = terminated or next_stored
  if config.mask_non_terminal:
    for m in (critic, actor):
      keep = np.flatnonzero(m)
      m[:] = False
      if keep.size:
        m[keep[-1]] = True
  return valid, critic, actor


def check_batch(batch, reference, config):
  obs = np.asarray(batch.steps.observation)
  for b in range(obs.shape[0]):
    row, start = int(obs[b, 0, 0]), int(obs[b, 0, 1])
    ref = reference[row]
    assert ref['count'] - CAP <= start < ref['count'], 'start outside the stored steps'
    length = int(batch.length[b])
    valid, critic, actor = expected_masks(ref, start, length, config)
    np.testing.assert_array_equal(np.asarray(batch.valid[b]), valid)
    np.testing.assert_array_equal(np.asarray(batch.critic_mask[b]) > 0, critic)
    np.testing.assert_array_equal(np.asarray(batch.actor_mask[b]) > 0, actor)
    for k in np.flatnonzero(valid):  # the window is the stored steps in order
      assert obs[b, k, 0] == row and obs[b, k, 1] == start + k
      assert obs[b, k, 2] == ref['ids'][start], 'a sequence mixed two episodes'
    if config.always_sample_from_initial_state:
      assert ref['first'][start]


def sample(config, n=400, seed=0):
  state, reference = build_buffer()
  batch = jax.jit(replay.sample, static_argnums=(2, 3))(
      jax.random.PRNGKey(seed), state, config, n)
  return batch, reference


def test_add_wraps_the_ring_and_counts():
  state, reference = build_buffer()
  np.testing.assert_array_equal(np.asarray(state.count), [23, 9])
  assert int(replay.size(state)) == CAP + 9
  obs = np.asarray(state.steps.observation)
  for j in range(23 - CAP, 23):  # row 0 keeps its newest 16 steps at slot j % 16
    assert obs[0, j % CAP, 1] == j


def test_all_rows_fast_path_matches_add():
  state = replay.init(3, 4, (2,), 1)
  fast = state
  for t in range(6):
    steps = replay.Steps(observation=jnp.full((1, 3, 2), t, jnp.float32),
                         action=jnp.full((1, 3, 1), t, jnp.float32),
                         reward=jnp.full((1, 3), t, jnp.float32), discount=jnp.ones((1, 3)),
                         first=jnp.zeros((1, 3), bool), last=jnp.zeros((1, 3), bool),
                         prev_action=jnp.zeros((1, 3, 1)), prev_reward=jnp.zeros((1, 3)))
    state = replay.add(state, jnp.arange(3), steps)
    fast = replay.add_to_all_rows(fast, steps)
  jax.tree_util.tree_map(np.testing.assert_array_equal, state, fast)


@pytest.mark.parametrize('config', [
    replay.ReplayConfig(sequence_length=L),
    replay.ReplayConfig(sequence_length=L, mask_non_terminal=True),
    replay.ReplayConfig(sequence_length=L, always_sample_from_initial_state=True),
    replay.ReplayConfig(sequence_length=L, random_seq_length=True,
                        nominal_seq_length_prob=0.5, mask_non_terminal=True),
    replay.ReplayConfig(sequence_length=L, include_first_step_in_targets=False),
], ids=['plain', 'mask_non_terminal', 'initial_state', 'random_length', 'no_first_target'])
def test_sampled_windows_and_masks_follow_the_rules(config):
  batch, reference = sample(config)
  assert batch.steps.observation.shape == (400, L + 1, 3)  # the L + 1 step window
  assert batch.critic_mask.shape == batch.actor_mask.shape == (400, L)
  check_batch(batch, reference, config)
  starts = {(int(o[0]), int(o[1])) for o in np.asarray(batch.steps.observation)[:, 0]}
  if config.always_sample_from_initial_state:
    initial = {(r, j) for r, ref in reference.items() for j in range(ref['count'])
               if ref['first'][j] and j >= ref['count'] - CAP}
    assert starts == initial  # every stored episode start, and only those
  else:
    assert len(starts) == CAP + 9  # every stored step is a possible start


def test_both_rows_and_boundaries_are_sampled():
  batch, reference = sample(replay.ReplayConfig(sequence_length=L), n=1000)
  rows = np.asarray(batch.steps.observation)[:, 0, 0]
  share = (rows == 0).mean()  # rows drawn in proportion to their stored steps
  assert abs(share - CAP / (CAP + 9)) < 0.06
  cut = np.asarray(batch.valid).sum(1) < L + 1
  assert cut.any() and (~cut).any()


def test_random_sequence_length_mixture():
  for p, check in ((0.5, lambda f: 0.44 < f < 0.56), (0.0, lambda f: f == 0.0),
                   (1.0, lambda f: f == 1.0)):
    config = replay.ReplayConfig(sequence_length=L, random_seq_length=True,
                                 nominal_seq_length_prob=p)
    batch, _ = sample(config, n=2000, seed=3)
    lengths = np.asarray(batch.length)
    assert check((lengths == L).mean()), (p, (lengths == L).mean())
    assert lengths.min() >= 1 and lengths.max() <= L
    if p < 1:  # the shorter ones are uniform over 1..L-1
      counts = np.bincount(lengths[lengths < L], minlength=L)[1:]
      assert counts.min() > 0.6 * counts.mean()
    # no position past the drawn length is trained on
    past = np.arange(L)[None, :] >= lengths[:, None]
    assert not np.asarray(batch.actor_mask)[past].any()
    assert not np.asarray(batch.critic_mask)[past].any()


def test_target_reset_positions():
  with_first, _ = sample(replay.ReplayConfig(sequence_length=L), n=8)
  without, _ = sample(replay.ReplayConfig(sequence_length=L,
                                          include_first_step_in_targets=False), n=8)
  np.testing.assert_array_equal(np.asarray(with_first.target_reset[0]),
                                [True] + [False] * L)
  np.testing.assert_array_equal(np.asarray(without.target_reset[0]),
                                [True, True] + [False] * (L - 1))


def test_truncated_and_newest_steps_leave_the_critic_loss():
  batch, reference = sample(replay.ReplayConfig(sequence_length=L), n=2000, seed=5)
  obs = np.asarray(batch.steps.observation)
  critic = np.asarray(batch.critic_mask)
  seen = set()
  for b in range(obs.shape[0]):
    row, start = int(obs[b, 0, 0]), int(obs[b, 0, 1])
    ref = reference[row]
    for k in range(L):
      j = start + k
      if not batch.valid[b, k]:
        continue
      if ref['last'][j] and ref['discount'][j] == 1:
        assert critic[b, k] == 0
        seen.add('truncated')
      elif ref['last'][j]:  # terminated: no next observation needed
        assert critic[b, k] == 1
        seen.add('terminated')
      elif j == ref['count'] - 1:
        assert critic[b, k] == 0
        seen.add('newest')
  assert seen == {'truncated', 'newest', 'terminated'}
