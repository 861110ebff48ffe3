"""Play mode: a person's scripted keystrokes, the words shown, and the files written.

The bandit and two-step tests go through main.py with the input piped in, as a person would
type it; the others call `launch.play.play` with the input in a string.
"""

import io
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import main
from launch.play import play
from metarl import runs
from metarl.analysis.two_step import PUBLISHED
from tests.command_line import refusal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def play_main(tmp_path, keys: str, *overrides: str):
  """Runs main.py with configs/play.py and `keys` as its input; returns (stdout, run_dir)."""
  run_dir = tmp_path / 'play'
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'main.py'), f'--config={ROOT}/configs/play.py',
       f'--config.run_dir={run_dir}', *overrides], input=keys, cwd=tmp_path,
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout, str(run_dir)


def load(run_dir: str, name: str):
  with open(os.path.join(run_dir, name), 'rb') as f:
    return pickle.load(f)


def test_bandit_play_scores_the_person_against_the_baselines_on_the_same_arms(tmp_path):
  # Two episodes of 5 trials. Bad input ('x', '7') is refused and asked again, an empty
  # line repeats the last arm, 'q' after the second episode stops.
  keys = 'x\n7\n1\n\n0\n1\n1\n0\n0\n\n\n1\nq\n'
  typed = [[1, 1, 0, 1, 1], [0, 0, 0, 0, 1]]
  stdout, run_dir = play_main(tmp_path, keys, '--config.env.trials_per_episode=5',
                              '--config.num_episodes=2', '--config.seed=3')
  assert stdout.count('type an integer from 0 to 1') == 2
  assert 'trial 5/5' in stdout and 'episode 2 over' in stdout
  paid = [int(m) for m in re.findall(r'arm \d paid (\d)', stdout)]
  data = load(run_dir, 'eval_data.pickle')
  np.testing.assert_array_equal(data['actions'], typed)
  np.testing.assert_array_equal(data['rewards'].ravel(), paid)
  probs = data['arm_probs']  # [2 episodes, 2 arms], hidden from the player
  assert probs.shape == (2, 2) and not np.allclose(probs[0], probs[1])
  regret = probs.max(axis=1)[:, None] - np.take_along_axis(probs, np.array(typed), axis=1)
  np.testing.assert_allclose(data['regret'], regret, rtol=1e-6)

  summary = runs.load(run_dir).summary.set_index('method')
  assert list(summary.index) == ['human', 'thompson', 'ucb1', 'random', 'oracle',
                                 'bayes_optimal']
  # the person's choices scored against the Bayes-optimal ones (no KL: no probabilities)
  assert 0.0 <= summary.loc['human', 'bayes_agreement'] <= 1.0
  assert np.isnan(summary.loc['human', 'kl_from_bayes'])
  assert summary.loc['bayes_optimal', 'ratio_to_bayes_optimal'] == 1.0
  assert summary.loc['human', 'mean_cumulative_regret'] == pytest.approx(
      regret.sum(axis=1).mean(), rel=1e-5)
  assert summary.loc['human', 'num_episodes'] == 2
  assert summary.loc['oracle', 'mean_cumulative_regret'] == 0
  # the baselines played the same arms (200 times each): random's expected regret is exact
  random_regret = (probs.max(axis=1) - probs.mean(axis=1)).sum() * 5 / 2
  assert summary.loc['random', 'mean_cumulative_regret'] == pytest.approx(random_regret,
                                                                          rel=0.15)
  for name in ('bandit_actions.png', 'regret.png', 'config.json'):
    assert os.path.getsize(os.path.join(run_dir, name)) > 0
  log = pd.read_csv(os.path.join(run_dir, 'play_log.csv'))
  assert len(log) == 10 and list(log['action']) == typed[0] + typed[1]
  assert list(log['reward']) == paid


def test_two_step_play_words_and_stay_probabilities_match_a_numpy_reference(tmp_path):
  choices = [0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 1, 0]
  keys = ''.join(f'{c}\n' for c in choices)
  stdout, run_dir = play_main(tmp_path, keys, '--config.env.name=two_step',
                              '--config.env.trials_per_episode=12', '--config.seed=5')
  said = re.findall(r'you chose (\d) -> stage 2: state S(\d) \((common|uncommon) transition\)'
                    r', reward (\d)', stdout)
  assert [int(s[0]) for s in said] == choices
  assert 'trial 12/12: stage 1 (S0)' in stdout
  data = load(run_dir, 'eval_data.pickle')
  np.testing.assert_array_equal(data['action'][0], choices)
  np.testing.assert_array_equal(data['stage2'][0], [int(s[1]) - 1 for s in said])
  np.testing.assert_array_equal(data['common'][0], [s[2] == 'common' for s in said])
  np.testing.assert_array_equal(data['reward'][0], [int(s[3]) for s in said])
  # the rules: a common transition leads to the state the choice names
  np.testing.assert_array_equal(data['common'][0], data['stage2'][0] == data['action'][0])

  # stay probabilities, by hand from what the terminal said
  a = np.array(choices)
  r = np.array([int(s[3]) for s in said])
  c = np.array([s[2] == 'common' for s in said])
  table = pd.read_csv(os.path.join(run_dir, 'stay_probability.csv')).set_index('condition')
  for name, rewarded, common in (('rewarded_common', 1, True),
                                 ('rewarded_uncommon', 1, False),
                                 ('unrewarded_common', 0, True),
                                 ('unrewarded_uncommon', 0, False)):
    mask = (r[:-1] == rewarded) & (c[:-1] == common)
    assert table.loc[name, 'count'] == mask.sum()
    if mask.any():
      assert table.loc[name, 'stay_probability'] == pytest.approx(
          (a[1:] == a[:-1])[mask].mean())
    assert table.loc[name, 'published'] == PUBLISHED[name]
  assert os.path.getsize(os.path.join(run_dir, 'stay_probability.png')) > 0
  # the table an agent's evaluation writes, read as one: runs.compare(..., table='summary')
  tidy = runs.compare([run_dir], table='summary')
  assert list(tidy['condition']) == list(table.index)
  assert set(tidy['env']) == {'two_step'} and set(tidy['config']) == {'play'}
  np.testing.assert_allclose(tidy['stay_probability'], table['stay_probability'])


def test_play_config_can_set_every_env_field():
  # configs/play.py takes its env fields from the registry: every registered env's field,
  # and nothing else, can be set on the command line
  from configs import play as play_config
  from metarl.envs.registry import all_fields
  assert set(play_config.get_config().env.keys()) == set(all_fields()) | {'name'}


def load_config(tmp_path, *overrides: str):
  return main.load_config(['main.py', f'--config={ROOT}/configs/play.py',
                           f'--config.run_dir={tmp_path / "play"}', *overrides])


def play_text(config, keys: str):
  out = io.StringIO()
  run_dir = play(config, stdin=io.StringIO(keys), stdout=out)
  return out.getvalue(), run_dir


def test_class_query_play_waits_for_the_query_and_scores_it(tmp_path):
  config = load_config(tmp_path, '--config.env.name=class_query', '--config.env.delay=2',
                       '--config.num_episodes=2')
  # Enter through cue and delay (actions ignored there), then answer; episode 2 the same
  text, run_dir = play_text(config, '\n' * 7 + '1\n' + '\n' * 7 + '0\n')
  assert text.count('QUERY - which class') == 2 and text.count('(Enter)>') == 14
  answers = re.findall(r'you answered ([+-]1), the class was ([+-]1): reward ([-\d.]+)', text)
  assert len(answers) == 2 and [a[0] for a in answers] == ['+1', '-1']
  for answer, cls, reward in answers:
    assert float(reward) == (1.0 if answer == cls else -1.0)
  data = load(run_dir, 'eval_data.pickle')
  np.testing.assert_array_equal(data['answer'], [1, -1])
  np.testing.assert_array_equal(data['cls'], [int(a[1]) for a in answers])
  rows = pd.read_csv(os.path.join(run_dir, 'success_by_delay.csv'))
  assert list(rows['delay']) == [2] and list(rows['queries']) == [2]
  assert rows['success'][0] == pytest.approx(np.mean([a[0] == a[1] for a in answers]))


def test_continuous_play_reads_numbers_and_keeps_only_whole_episodes(tmp_path):
  config = load_config(tmp_path, '--config.env.name=memory',
                       '--config.env.episode_step_limit=3', '--config.num_episodes=2')
  text, run_dir = play_text(config, '0.1\nabc\n1.5\n0.2\n\n0.1\nq\n')
  assert text.count('type 1 number(s) from -1 to 1') == 2 and '\nstopped' in text
  data = load(run_dir, 'eval_data.pickle')  # episode 2 was not finished: left out
  np.testing.assert_allclose(data['actions'][..., 0], [[0.1, 0.2, 0.2]], rtol=1e-6)
  truth = data['states']['window'].sum(axis=-1) / 10  # [1 episode, 3 steps]
  np.testing.assert_allclose(data['rewards'], -10 * np.abs(data['actions'][..., 0] - truth),
                             rtol=1e-5, atol=1e-6)
  summary = pd.read_csv(os.path.join(run_dir, 'eval_summary.csv'))
  assert summary['method'][0] == 'human' and summary['num_episodes'][0] == 1
  assert summary['mean_reward_per_step'][0] == pytest.approx(data['rewards'].mean(), abs=1e-5)
  assert len(pd.read_csv(os.path.join(run_dir, 'play_log.csv'))) == 4  # every step played

  config = load_config(tmp_path / 'p', '--config.env.name=pendulum',
                       '--config.env.observe_velocity=False',
                       '--config.env.episode_step_limit=3')
  text, run_dir = play_text(config, '0.5\n')  # the input ends mid-episode
  assert 'angle' in text and 'velocity' not in text.split('\n', 1)[1]
  assert 'no whole episode played' in text
  assert not os.path.exists(os.path.join(run_dir, 'eval_data.pickle'))
  assert len(pd.read_csv(os.path.join(run_dir, 'play_log.csv'))) == 1


REFUSED = [
    (('--config.env.name=cue_reward',), 'an env with actions is required'),
    (('--config.env.delay=3',), "a field of the bandit env is required; its fields are"),
    (('--config.env.num_arms=3', '--config.env.reward_structure=correlated'),
     'exactly 2 arms'),
]


def test_play_refuses_what_cannot_be_played_with_one_line(tmp_path):
  overrides, message = REFUSED[0]
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'main.py'), f'--config={ROOT}/configs/play.py',
       f'--config.run_dir={tmp_path / "play"}', *overrides], input='', cwd=tmp_path,
      capture_output=True, text=True, timeout=120)
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith('metarl: config.env.') and message in last, result.stderr[-2000:]
  assert not os.path.exists(tmp_path / 'play')  # nothing written


@pytest.mark.parametrize('overrides,message', REFUSED)
def test_each_env_that_cannot_be_played_is_refused(tmp_path, overrides, message):
  line = refusal(f'--config={ROOT}/configs/play.py', f'--config.run_dir={tmp_path / "play"}',
                 *overrides, run=True)
  assert line.startswith('metarl: config.env.') and message in line


@pytest.mark.parametrize('overrides,keys,words,files', [
    (['--config.env.name=baited_bandit', '--config.env.min_trials=3',
      '--config.env.max_trials=3'], '0\n1\n1\nq\n', ['grows while you leave it alone', 'left paid', 'right paid'],
     ['reward_by_set.csv', 'choice_regression.csv', 'action_history.png']),
    (['--config.env.name=volatile_bandit', '--config.env.trials_per_episode=3'],
     '0\n1\n1\nq\n', ['arm 0 offers', 'arm 1 paid'], ['eval_summary.csv']),
    (['--config.env.name=risky_bandit', '--config.env.forced_trials=1',
      '--config.env.free_trials=2'], '0\n0\n1\n1\nq\n',
     ['forced: only arm', 'free choice', 'paid'], ['eval_summary.csv']),
    (['--config.env.name=cue_reversal', '--config.env.trials_per_block=1',
      '--config.env.blocks_per_episode=1'], '0\n0\n1\n0\nq\n',
     ['block 1/1, trial 1/1: fixation', 'cue ', 'respond [1-2]'], ['eval_summary.csv']),
    (['--config.env.name=two_step_stages', '--config.env.trials_per_episode=2'],
     '0\n1\n1\n0\nq\n', ['trial 1/2: stage 1 (S0)', 'stage 2, state S', 'reward'],
     ['stay_probability.csv', 'trial_history.csv']),
    (['--config.env.name=harlow', '--config.env.trials_per_episode=1',
      '--config.env.iti_steps=0'], '0\n1\nq\n', ['trial 1/1: fixation', 'left object #'],
     ['eval_summary.csv']),
])
def test_wang_2018_tasks_can_be_played(tmp_path, overrides, keys, words, files):
  """One episode of each of Wang et al. 2018's tasks played by a person: the task's own
  words, and the files of its analysis (or the generic ones)."""
  out, run_dir = play_main(tmp_path, keys, '--config.num_episodes=1', *overrides)
  for word in words:
    assert word in out, (word, out[-2000:])
  for name in files:
    assert os.path.getsize(os.path.join(run_dir, name)) > 0, name
