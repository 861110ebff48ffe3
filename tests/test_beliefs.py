"""Hennig et al. (2023)'s belief analysis: the belief filter against hand-computed beliefs,
the LSTD readout and the decoding R^2 on synthetic data, the belief model's RPEs against the
numbers of ../shared/SCIENCE.md, and the analysis end to end through main.py."""

import os
import subprocess

import jax
import numpy as np
import pandas as pd
import pytest

from metarl.analysis import beliefs
from metarl.analysis.beliefs import CUE, NOTHING, REWARD
from metarl.envs.cue_reward import CueReward
from tests.command_line import refusal
from tests.test_launch import ROOT, main_cmd

STARKWEATHER = dict(cue_delays=(10,), delay_offsets=tuple(range(-4, 5)),
                    delay_offset_probs=(.0477, .0835, .1246, .1584, .1716, .1584, .1246,
                                        .0835, .0477),
                    iti_distribution='geometric', iti_p=1 / 8, iti_min=10, iti_max=150,
                    omission_length='longest')


def small_model(omission_prob):
  # delays 2 and 3 steps (1/2 each): delay states 0, 1, 2; ITI states 3, 4 (iti_min 1)
  return beliefs.belief_model((2, 3), (0.5, 0.5), omission_prob, iti_min=1, iti_p=0.5)


def test_belief_filter_matches_hand_computed_beliefs():
  model = small_model(0.0)
  np.testing.assert_allclose(model.transitions.sum(axis=1), 1.0)
  seen = beliefs.filter_beliefs(model, [NOTHING, CUE, NOTHING, NOTHING, REWARD, NOTHING])
  # wait in the ITI; the cue: state 0; one step: 1; no reward at delay 2 (hazard 1/2 at
  # state 1): state 2; the reward (certain from 2): the ITI's start; then its next state
  np.testing.assert_allclose(seen, np.eye(5)[[4, 0, 1, 2, 3, 4]], atol=1e-12)


def test_belief_filter_with_omissions_splits_the_belief():
  model = small_model(0.5)
  seen = beliefs.filter_beliefs(model, [CUE, NOTHING, NOTHING])
  # the cue: a trial (state 0) or an omission (ITI start, 3), 1/2 each; then 1 or 4; then
  # no reward at state 1 (1/2 of it stays: state 2) and the ITI's wait (1/2 of it stays: 4)
  np.testing.assert_allclose(seen, [[.5, 0, 0, .5, 0], [0, .5, 0, 0, .5], [0, 0, .5, 0, .5]],
                             atol=1e-12)
  np.testing.assert_allclose(seen.sum(axis=1), 1.0)
  with pytest.raises(ValueError, match='impossible'):
    beliefs.filter_beliefs(small_model(0.0), [REWARD])


def test_lstd_recovers_a_linear_value():
  rng = np.random.default_rng(0)
  z = rng.standard_normal((500, 4))
  w, gamma = np.array([0.5, -1.0, 2.0, 0.25]), 0.9
  rewards = np.concatenate([[0.0], z[:-1] @ w - gamma * z[1:] @ w])  # V = w . z exactly
  np.testing.assert_allclose(beliefs.lstd_weights(z, rewards, gamma), w, atol=1e-8)
  np.testing.assert_allclose(beliefs.td_errors(z, rewards, w, gamma), 0.0, atol=1e-8)


def test_decoding_r2_near_one_on_the_target_and_near_zero_on_noise():
  rng = np.random.default_rng(1)
  target = rng.standard_normal((2000, 3))
  features = np.concatenate([target @ rng.standard_normal((3, 3)),
                             rng.standard_normal((2000, 5))], axis=1)
  assert beliefs.linear_r2(features[:1000], target[:1000], features[1000:],
                           target[1000:]) > 0.999
  noise = rng.standard_normal((2000, 8))
  assert abs(beliefs.linear_r2(noise[:1000], target[:1000], noise[1000:],
                               target[1000:])) < 0.03


def test_spearman_rho():
  assert beliefs.spearman_rho([1, 2, 3, 4], [10, 7, 5, 1]) == pytest.approx(-1.0)
  assert beliefs.spearman_rho([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def numpy_session(rng, num_trials, omission_prob):
  """A session by the rules of Hennig et al.'s belief model: ITI 10 + (Geometric(1/8) - 1)
  empty steps, the cue, then the reward 6..14 steps later; an omitted trial ends at its cue
  (the belief model's assumption; the env lets it last the longest delay)."""
  probs = np.asarray(STARKWEATHER['delay_offset_probs'])
  x = []
  for _ in range(num_trials):
    x += [NOTHING] * (10 + rng.geometric(1 / 8) - 1) + [CUE]
    if rng.uniform() >= omission_prob:
      x += [NOTHING] * (rng.choice(np.arange(6, 15), p=probs / probs.sum()) - 1) + [REWARD]
  x = np.asarray(x)
  return x, (x == REWARD).astype(np.float64)


def belief_rpes_by_delay(omission_prob, seed=0):
  delays = 10 + np.arange(-4, 5)
  model = beliefs.belief_model(delays, STARKWEATHER['delay_offset_probs'], omission_prob,
                               iti_min=10, iti_p=1 / 8)
  rng = np.random.default_rng(seed)
  (train_x, train_r), (test_x, test_r) = [numpy_session(rng, 5000, omission_prob)
                                          for _ in range(2)]
  rpe = beliefs.readout_rpes(beliefs.filter_beliefs(model, train_x), train_r,
                             beliefs.filter_beliefs(model, test_x), test_r, gamma=0.93)
  steps, delay, _ = beliefs.trial_steps(test_x, delays)
  return beliefs.rpe_by_delay(rpe, steps, delay, delays)


@pytest.mark.parametrize('omission_prob, published', [
    (0.0, [.288, .235, .188, .151, .116, .084, .056, .031, .000]),  # Task 1
    (0.1, [.347, .297, .262, .234, .223, .238, .287, .349, .503]),  # Task 2
])
def test_belief_model_rpes_match_the_published_ones(omission_prob, published):
  # SCIENCE.md: an independent implementation's belief-model RPEs at the reward, by delay,
  # from 1,000-trial sessions (~50 trials of each late delay: +-0.07 at 2.8 s from session to
  # session); 5,000-trial sessions here, within 0.03
  np.testing.assert_allclose(belief_rpes_by_delay(omission_prob), published, atol=0.03)


def test_env_sessions_follow_the_belief_model():
  # the env's sessions are possible under the belief model (no impossible observation), and
  # with Task 1's rules its belief RPEs are those above
  env = CueReward(trials_per_episode=1000, **STARKWEATHER)
  delays = 10 + np.arange(-4, 5)
  model = beliefs.belief_model(delays, STARKWEATHER['delay_offset_probs'], 0.0, iti_min=10,
                               iti_p=1 / 8)
  (train_x, train_r), (test_x, test_r) = [beliefs.session_events(jax.device_get(
      env.sample_trials(jax.random.PRNGKey(seed), 1))) for seed in (0, 1)]
  rpe = beliefs.readout_rpes(beliefs.filter_beliefs(model, train_x), train_r,
                             beliefs.filter_beliefs(model, test_x), test_r, gamma=0.93)
  steps, delay, _ = beliefs.trial_steps(test_x, delays)
  np.testing.assert_allclose(beliefs.rpe_by_delay(rpe, steps, delay, delays),
                             [.288, .235, .188, .151, .116, .084, .056, .031, .000], atol=0.04)


def test_trial_steps_find_rewards_and_omissions():
  x = np.array([NOTHING, CUE, NOTHING, REWARD, NOTHING, CUE] + [NOTHING] * 5 + [CUE, REWARD])
  steps, delay, omitted = beliefs.trial_steps(x, np.array([2, 3]))
  np.testing.assert_array_equal(steps, [3, 12])
  np.testing.assert_array_equal(delay, [2, 1])
  np.testing.assert_array_equal(omitted, [5])


@pytest.mark.slow  # end to end, over 10 s: the slow step of CI
def test_starkweather_study_analyses_the_sessions_configs_eval_analyses(tmp_path):
  """The study's own command analyses two 1,000-trial sessions at its end (not the 20-trial
  episodes it trains on), and configs/eval.py on its params.pickle writes the same
  tables."""
  run_dir = str(tmp_path / 'run')
  subprocess.run(main_cmd(
      os.path.join(ROOT, 'configs', 'starkweather.py'), '--config.num_seeds=2',
      '--config.agent.epochs=2', '--config.agent.num_trials=24',
      '--config.log_every_epochs=1', '--config.eval.every_epochs=2',
      '--config.eval.num_episodes=2', f'--config.run_dir={run_dir}'), check=True,
      timeout=600, capture_output=True)
  rows = pd.read_csv(os.path.join(run_dir, 'beliefs.csv'))
  assert sorted(rows.network.unique()) == ['trained', 'untrained']
  assert list(rows.seed.unique()) == [0, 1]
  assert rows.rpe_mse.gt(0).all() and rows.belief_r2.lt(1).all()
  # the noise on the activity hides what tiny components of it could tell
  assert (rows.belief_r2 < rows.belief_r2_noise_free - 0.05).all()
  summary = pd.read_csv(os.path.join(run_dir, 'beliefs_summary.csv'))
  assert list(summary.network) == ['trained', 'untrained', 'belief model']
  by_delay = pd.read_csv(os.path.join(run_dir, 'rpe_by_delay.csv'))
  assert len(by_delay) == 9 * (1 + 2 * 2) and by_delay.rpe.notna().all()
  for name in ('rpe_by_delay', 'beliefs_strip', 'rpe_omission'):
    for ext in ('png', 'pdf'):
      assert os.path.getsize(os.path.join(run_dir, f'{name}.{ext}')) > 1000
  from metarl.io import load_pickle
  data = load_pickle(os.path.join(run_dir, 'beliefs_data.pickle'))
  cues = int(np.sum(data['observations'] == CUE))
  assert cues == beliefs.SESSION_TRIALS - 1  # its first trial left out
  assert data['first_step'] >= 10 and data['rpe_trained'].shape == (2, len(data['rewards']))
  eval_dir = str(tmp_path / 'eval')
  subprocess.run(main_cmd(
      os.path.join(ROOT, 'configs', 'eval.py'),
      f'--config.params_path={os.path.join(run_dir, "params.pickle")}',
      f'--config.run_dir={eval_dir}'), check=True, timeout=600, capture_output=True)
  for name in ('beliefs.csv', 'beliefs_summary.csv', 'rpe_by_delay.csv', 'rpe_omission.csv'):
    with open(os.path.join(run_dir, name)) as f, open(os.path.join(eval_dir, name)) as g:
      assert f.read() == g.read(), name


def test_the_untrained_control_is_each_network_s_own_initial_weights():
  """Seed 4 of a run of seeds 3 and 4 started from the weights a run of seed 4 alone
  starts from; the analysis's untrained networks are those."""
  import main
  from metarl.agents import registry as agent_registry
  from metarl.envs import registry as env_registry
  config = main.load_config(['main.py', '--config=configs/starkweather.py',
                             '--config.num_seeds=2', '--config.seed=3'])
  env = env_registry.make(config.env)
  agent = agent_registry.spec('td').make(config, env)
  started = agent.init(agent.seed_keys(3, 2)[0]).params
  untrained = beliefs.initial_params('td', config, env, [4, 3])
  for a, b in zip(jax.tree_util.tree_leaves(started), jax.tree_util.tree_leaves(untrained),
                  strict=True):
    np.testing.assert_array_equal(a[::-1], b)


def test_the_readout_noise_is_5_percent_of_each_unit_s_sd():
  rng = np.random.default_rng(0)
  z = rng.standard_normal((20000, 3)) * np.array([1.0, 10.0, 0.0])
  added = beliefs.with_noise(z, np.random.default_rng(1)) - z
  np.testing.assert_allclose(added.std(axis=0), [0.05, 0.5, 0.0], rtol=0.03)


@pytest.mark.parametrize('arg, omission, name', [('', 0.1, 'starkweather_task2'),
                                                  (':1', 0.0, 'starkweather_task1')])
def test_starkweather_config_tasks(arg, omission, name):
  import main
  config = main.load_config(['main.py', f'--config=configs/starkweather.py{arg}'])
  assert config.env.omission_prob == omission and config.name == name
  assert config.num_seeds == 12 and config.network.core == 'gru'
  assert config.network.init == 'pytorch'
  assert config.network.hidden_size == 50 and config.agent.keep_best


def test_an_unknown_starkweather_task_is_refused_in_one_line():
  line = refusal('--config=' + os.path.join(ROOT, 'configs', 'starkweather.py') + ':3')
  assert "Starkweather's tasks are 1 and 2" in line
