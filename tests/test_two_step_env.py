"""The two-step task against a numpy reference of its rules, and stay-probability counts
against a hand-built trial list."""

import jax
import jax.numpy as jnp
import numpy as np

from metarl.envs.two_step import TwoStep, stay_counts


def reference_trial(good, u_swap, u_transition, u_reward, action, common_prob=0.8,
                    reward_prob=0.9, swap_prob=0.025):
  """Daw 2011 / Wang 2018 rules in plain numpy: (good, stage2, common, reward)."""
  if u_swap < swap_prob:
    good = 1 - good
  common = u_transition < common_prob
  stage2 = action if common else 1 - action
  p = reward_prob if stage2 == good else 1 - reward_prob
  return good, stage2, common, float(u_reward < p)


def play(env, num_envs=64, steps=400, seed=0):
  """Random stage-1 actions; returns per-step states (before acting), actions, timesteps."""
  params = env.default_params()
  keys = jax.random.split(jax.random.PRNGKey(seed), num_envs)
  state, ts = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
  step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
  states, actions, timesteps = [], [], []
  for t in range(steps):
    key = jax.random.PRNGKey(1000 + t)
    action = jax.random.randint(key, (num_envs,), 0, 2)
    states.append(jax.device_get(state))
    actions.append(np.asarray(action))
    state, ts = step(jax.random.split(jax.random.fold_in(key, 1), num_envs), state, action,
                     params)
    timesteps.append(jax.device_get(ts))
  return states, actions, timesteps


def test_steps_follow_the_reference_rules():
  env = TwoStep(trials_per_episode=50)
  states, actions, timesteps = play(env, num_envs=8, steps=120)
  for s, a, ts in zip(states, actions, timesteps, strict=True):
    for b in range(8):
      good, stage2, common, reward = reference_trial(
          s.good[b], s.u_swap[b], s.u_transition[b], s.u_reward[b], a[b])
      assert ts.reward[b] == reward
      if not ts.last[b]:
        expected = np.zeros(7)
        expected[1 + stage2] = 1
        expected[3 + a[b]] = 1
        expected[5] = reward
        expected[6] = (s.trial[b] + 1) / 50
        np.testing.assert_allclose(ts.observation[b], expected, rtol=1e-6)
      else:  # the next episode's first observation: S0, nothing else
        np.testing.assert_array_equal(ts.observation[b], [1, 0, 0, 0, 0, 0, 0])
        assert ts.first[b] and ts.discount[b] == 0 and s.trial[b] == 49


def test_transition_reward_and_swap_statistics():
  env = TwoStep()
  states, actions, timesteps = play(env, num_envs=256, steps=300)
  outcomes = [env.trial_outcome(s, a, env.default_params())
              for s, a in zip(states, actions, strict=True)]
  common = np.concatenate([np.asarray(o.common) for o in outcomes])
  assert abs(common.mean() - 0.8) < 0.01
  good = np.stack([np.asarray(o.good) for o in outcomes])
  stage2 = np.stack([np.asarray(o.stage2) for o in outcomes])
  rewards = np.stack([np.asarray(ts.reward) for ts in timesteps])
  assert abs(rewards[stage2 == good].mean() - 0.9) < 0.01
  assert abs(rewards[stage2 != good].mean() - 0.1) < 0.01
  before = np.stack([np.asarray(s.good) for s in states])
  within = np.stack([np.asarray(s.trial) for s in states]) > 0
  swaps = (before != good)[within]
  assert abs(swaps.mean() - 0.025) < 0.005
  first_good = before[~within]
  assert abs(first_good.mean() - 0.5) < 0.05


def test_stay_counts_on_a_hand_built_trial_list():
  # One episode of 6 trials: (action, reward, common) per trial.
  actions = jnp.array([0, 0, 1, 1, 0, 0])
  rewards = jnp.array([1, 0, 1, 0, 1, 1])
  common = jnp.array([True, True, False, False, True, False])
  trial = jnp.arange(6)
  counts = stay_counts(actions, rewards, common, trial)
  # Pairs: (t=0: rew-com, stay) (1: unrew-com, switch) (2: rew-unc, stay)
  #        (3: unrew-unc, switch) (4: rew-com, stay)
  assert {k: (int(s), int(n)) for k, (s, n) in counts.items()} == {
      'rewarded_common': (2, 2), 'rewarded_uncommon': (1, 1),
      'unrewarded_common': (0, 1), 'unrewarded_uncommon': (0, 1)}
  # A pair across an episode boundary (trial index back to 0) is not counted.
  counts = stay_counts(actions, rewards, common, jnp.array([0, 1, 2, 0, 1, 2]))
  assert sum(int(n) for _, n in counts.values()) == 4
