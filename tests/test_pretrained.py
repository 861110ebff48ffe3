"""The agents that ship with metarl (metarl/pretrained/): each evaluates through the eval
config, by `pretrained:NAME`, to the quality the README documents for it."""

import csv
import os

import pytest

import metarl
from metarl import pretrained

RANDOM_REGRET = 16.7  # uniform random play, 100 trials of two independent arms


def rows(folder, name):
  with open(os.path.join(folder, name)) as f:
    return {r[next(iter(r))]: r for r in csv.DictReader(f)}  # keyed by the first column


def test_the_shipped_agents_are_the_documented_ones():
  assert pretrained.names() == ['bandit', 'bandit_a3c', 'episodic_two_step', 'two_step']
  for name in pretrained.names():  # small enough to ship
    assert os.path.getsize(pretrained.resolve(f'pretrained:{name}')) < 500_000
    assert pretrained.name_of(pretrained.resolve(f'pretrained:{name}')) == name


@pytest.mark.slow  # end to end, over 10 s: the slow step of CI
def test_the_pretrained_bandit_agent_plays_near_the_bayes_optimal_player(tmp_path):
  evaluation = metarl.evaluate('pretrained:bandit', run_dir=str(tmp_path), num_episodes=500)
  summary = rows(evaluation.dir, 'eval_summary.csv')
  agent = float(summary['agent']['mean_cumulative_regret'])
  bayes = float(summary['bayes_optimal']['mean_cumulative_regret'])
  assert bayes < agent < 1.45 * bayes, summary['agent']  # README: BANDIT_RATIO on 2,000
  assert agent < float(summary['thompson']['mean_cumulative_regret'])


@pytest.mark.slow  # over 10 s: the slow step of CI
def test_the_pretrained_a3c_bandit_agent_plays_near_thompson_sampling(tmp_path):
  evaluation = metarl.evaluate('pretrained:bandit_a3c', run_dir=str(tmp_path),
                               num_episodes=500)
  summary = rows(evaluation.dir, 'eval_summary.csv')
  agent = float(summary['agent']['mean_cumulative_regret'])
  assert agent < 4.0, summary['agent']  # README: 3.24 on 2,000 episodes
  assert agent < 0.3 * RANDOM_REGRET and agent > float(
      summary['bayes_optimal']['mean_cumulative_regret'])


@pytest.mark.slow  # end to end, over 10 s: the slow step of CI
def test_the_pretrained_two_step_agent_shows_the_model_based_signature(tmp_path):
  evaluation = metarl.evaluate('pretrained:two_step', run_dir=str(tmp_path))
  stay = {k: float(v['stay_probability'])
          for k, v in rows(evaluation.dir, 'stay_probability.csv').items()}
  # after a rare transition the agent does the opposite of what reward alone would say
  assert stay['rewarded_common'] - stay['rewarded_uncommon'] > 0.15, stay
  assert stay['unrewarded_uncommon'] - stay['unrewarded_common'] > 0.15, stay


@pytest.mark.slow  # end to end, over 10 s: the slow step of CI
def test_the_pretrained_episodic_agent_earns_more_on_cued_trials(tmp_path):
  evaluation = metarl.evaluate('pretrained:episodic_two_step', run_dir=str(tmp_path))
  reward = {k: float(v['mean_reward'])
            for k, v in rows(evaluation.dir, 'reward_per_trial.csv').items()}
  assert reward['cued'] > reward['uncued'] + 0.015, reward  # README: 0.724 vs 0.697


def test_an_unknown_name_lists_the_shipped_ones(tmp_path):
  with pytest.raises(metarl.UsageError) as e:
    metarl.evaluate('pretrained:chess', run_dir=str(tmp_path))
  assert 'config.params_path' in str(e.value) and 'pretrained:NAME' in str(e.value)
  assert all(name in str(e.value) for name in pretrained.names())
