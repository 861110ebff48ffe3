"""metarl.runs: a run directory in one line, many runs in one table (on runs made here)."""

import os
import pickle

import jax
import numpy as np
import pytest

from configs import eval as eval_config
from launch.evaluator import run_offline_evaluation
from launch.manager import train
from metarl import runs
from metarl.io import RunFileError
from tests.test_checkpoints import small_config


@pytest.fixture(scope='module')
def two_runs(tmp_path_factory):
  base = tmp_path_factory.mktemp('runs')
  dirs = []
  for seed in (0, 1):
    config = small_config(str(base / f'seed_{seed}'))
    config.seed = seed
    config.checkpoint_every = 0
    dirs.append(train(config))
  return dirs


def test_load_reads_the_config_tables_and_params_of_a_run(two_runs):
  run = runs.load(two_runs[0])
  assert run.config.env.name == 'bandit' and run.config.seed == 0
  assert list(run.train['env_steps']) == [1200, 2400, 3600, 4000]
  assert list(run.eval['env_steps']) == [800, 1600, 2400, 3200, 4000]
  assert {'mean_reward_per_trial', 'mean_cumulative_regret'} <= set(run.eval.columns)
  with open(os.path.join(two_runs[0], 'params.pickle'), 'rb') as f:
    expected = jax.tree_util.tree_leaves(pickle.load(f)['params'])
  for a, b in zip(jax.tree_util.tree_leaves(run.params()), expected, strict=True):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(RunFileError, match='eval_data.pickle'):
    run.eval_data()  # a training run has no analysis files


def test_an_evaluation_directory_has_its_eval_data(two_runs, tmp_path):
  config = eval_config.get_config()
  config.params_path = os.path.join(two_runs[0], 'params.pickle')
  config.run_dir = str(tmp_path / 'eval')
  config.num_episodes = 8
  run = runs.load(run_offline_evaluation(config))
  assert run.train.empty and run.config.mode == 'eval'
  assert 'agent' in set(run.summary['method'])  # next to the baselines' rows
  assert run.eval_data()['actions'].shape[0] == 8


def test_compare_tags_every_row_with_its_run_and_seed(two_runs):
  table = runs.compare(two_runs)
  assert list(table.columns[:5]) == ['run', 'config', 'agent', 'env', 'seed']
  assert len(table) == 10 and sorted(set(table['seed'])) == [0, 1]
  assert set(table['agent']) == {'a3c'} and set(table['run']) == {'seed_0', 'seed_1'}
  per_run = table[table['seed'] == 1].drop(columns=['run', 'config', 'agent', 'env', 'seed'])
  assert per_run.reset_index(drop=True).equals(runs.load(two_runs[1]).eval)
  assert len(runs.compare(two_runs, table='train')) == 8


def test_a_directory_that_is_not_a_run_is_one_clear_error(tmp_path):
  with pytest.raises(RunFileError, match='not a run directory'):
    runs.load(str(tmp_path))
