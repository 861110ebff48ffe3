"""The two-step task with a step per stage (Miller et al. 2017; Wang et al. 2018,
simulation 4) against the numpy reference of two_step's rules, under jit and vmap, and the
second-stage RPE regression on synthetic agents whose RPE is known."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarl.analysis import two_step_rpe
from metarl.envs.two_step_stages import TwoStepStages, stage_1_steps
from tests.test_two_step_env import reference_trial


def test_steps_follow_the_reference_rules():
  trials, batch = 4, 6
  env = TwoStepStages(trials_per_episode=trials)
  params = env.default_params()
  state, ts = jax.vmap(env.reset, in_axes=(0, None))(
      jax.random.split(jax.random.PRNGKey(0), batch), params)
  step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
  rng = np.random.default_rng(0)
  pending = [None] * batch
  for t in range(3 * 2 * trials):
    actions = rng.integers(0, 2, batch)
    before = jax.device_get(state)
    state, ts = step(jax.random.split(jax.random.PRNGKey(10 + t), batch), state,
                     jnp.asarray(actions, jnp.int32), params)
    for b in range(batch):
      obs = np.asarray(ts.observation[b])
      if int(before.stage[b]) == 0:  # stage 1: the state reached is shown, no reward yet
        good, stage2, common, reward = reference_trial(
            before.good[b], before.u_swap[b], before.u_transition[b], before.u_reward[b],
            actions[b])
        pending[b] = (actions[b], reward)
        expected = np.zeros(7)
        expected[1 + stage2], expected[3 + actions[b]] = 1, 1
        expected[6] = before.trial[b] / trials
        np.testing.assert_allclose(obs, expected, rtol=1e-6)
        assert ts.reward[b] == 0 and not ts.last[b]
        assert int(state.good[b]) == good and int(state.stage[b]) == 1
      else:  # stage 2: whatever the action, the trial's reward; S0 shown again
        choice, reward = pending[b]
        assert ts.reward[b] == reward
        last = before.trial[b] == trials - 1
        assert bool(ts.last[b]) == last
        if last:
          np.testing.assert_array_equal(obs, [1, 0, 0, 0, 0, 0, 0])
        else:
          expected = np.zeros(7)
          expected[0], expected[3 + choice], expected[5] = 1, 1, reward
          expected[6] = (before.trial[b] + 1) / trials
          np.testing.assert_allclose(obs, expected, rtol=1e-6)
        assert int(state.stage[b]) == 0


def test_episode_metrics_are_two_steps_on_the_stage_1_steps():
  env = TwoStepStages(trials_per_episode=20)
  params = env.default_params()
  num = 16
  state, _ = jax.vmap(env.reset, in_axes=(0, None))(
      jax.random.split(jax.random.PRNGKey(1), num), params)
  step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
  states, actions, rewards = [], [], []
  for t in range(env.max_episode_steps):
    action = jax.random.randint(jax.random.PRNGKey(t), (num,), 0, 2)
    states.append(state)
    actions.append(action)
    state, ts = step(jax.random.split(jax.random.PRNGKey(500 + t), num), state, action,
                     params)
    rewards.append(ts.reward)
  stack = lambda xs: jax.tree_util.tree_map(lambda *x: jnp.stack(x), *xs)  # noqa: E731
  states, actions, rewards = stack(states), jnp.stack(actions), jnp.stack(rewards)
  metrics = env.episode_metrics(states, actions, rewards)
  first, choices = stage_1_steps(states, actions)
  assert np.all(np.asarray(first.stage) == 0) and choices.shape == (20, num)
  outcome = env.trial_outcomes(first, choices)
  np.testing.assert_allclose(outcome.reward, rewards[1::2])
  assert float(metrics['mean_reward_per_trial']) == pytest.approx(float(rewards[1::2].mean()))


def synthetic_trials(episodes=60, trials=100, seed=0):
  rng = np.random.default_rng(seed)
  choice = rng.integers(0, 2, (episodes, trials))
  common = rng.random((episodes, trials)) < 0.8
  stage2 = np.where(common, choice, 1 - choice)
  good = np.zeros((episodes, trials), int)
  for t in range(1, trials):
    swap = rng.random(episodes) < 0.025
    good[:, t] = np.where(swap, 1 - good[:, t - 1], good[:, t - 1])
  reward = (rng.random((episodes, trials)) < np.where(stage2 == good, 0.9, 0.1)).astype(int)
  return choice, stage2, reward


@pytest.mark.parametrize('kind', ['model-based planner', 'model-free learner'])
def test_an_agent_whose_rpe_is_a_learners_is_fitted_to_it(kind):
  choice, stage2, reward = synthetic_trials()
  agent = two_step_rpe.learner_rpes(choice, stage2, reward, 0.8, 0.3)[kind]
  agent = agent + np.random.default_rng(1).normal(0, 0.01, agent.shape)
  rows, _ = two_step_rpe.regression_rows(agent, choice, stage2, reward, 0.8)
  by = {r['learner']: r for r in rows}
  assert by[kind]['alpha'] == 0.3 and by[kind]['r2'] > 0.99
  assert by[kind]['slope'] == pytest.approx(1.0, abs=0.02)
  other = 'model-free learner' if kind == 'model-based planner' else 'model-based planner'
  assert by[other]['r2'] < 0.95  # the other learner explains less
  assert by[kind]['r2_beyond_other'] > by[other]['r2_beyond_other']


def test_the_learners_rpes_follow_their_rules_by_hand():
  # one episode, two trials: a = 0 -> S1 (common), rewarded; a = 0 -> S2 (uncommon)
  choice, stage2, reward = np.array([[0, 0]]), np.array([[0, 1]]), np.array([[1, 0]])
  rpes = two_step_rpe.learner_rpes(choice, stage2, reward, 0.8, 0.5)
  # trial 1: every value 0.5, no surprise for either
  assert rpes['model-based planner'][0, 0] == 0 and rpes['model-free learner'][0, 0] == 0
  # after it V2 = (0.75, 0.5), Q_free(0) = 0.75; trial 2 reaches S2 (V2 0.5):
  # model-based Q(0) = 0.8 * 0.75 + 0.2 * 0.5 = 0.7, RPE 0.5 - 0.7 = -0.2
  # model-free Q(0) = 0.75, RPE 0.5 - 0.75 = -0.25
  assert rpes['model-based planner'][0, 1] == pytest.approx(-0.2)
  assert rpes['model-free learner'][0, 1] == pytest.approx(-0.25)
