"""A short single-process training whose frozen agent beats random play by a wide margin."""

import os

import jax
import numpy as np

from configs import bandit_train
from launch.manager import train
from metarl import envs
from metarl.agents import a3c
from metarl.analysis.bandit_baselines import run_baseline
from metarl.checkpoint import load_params
from metarl.envs.bandit import Bandit, BanditParams, cumulative_regret
from metarl.evaluation import make_evaluator

EPISODES = 1000
# Uniform random play has a mean cumulative regret of ~16.7 over 100 trials (2 arms).
# After 3M env steps (seconds of training) the agent must be below 0.75x random's regret.
MARGIN = 0.75


def test_short_training_beats_random_play(tmp_path):
  config = bandit_train.get_config()
  config.run_dir = str(tmp_path / 'run')
  config.total_env_steps = 3_000_000
  config.launch.num_evaluators = 0  # evaluate inside this process
  config.eval.every_env_steps = 1_000_000
  config.eval.num_episodes = 200
  run_dir = train(config)
  assert os.path.exists(os.path.join(run_dir, 'eval.csv'))

  saved = load_params(os.path.join(run_dir, 'params.pickle'))
  params, train_config = saved.params, saved.config
  assert saved.env_steps >= 3_000_000
  env = envs.make(train_config.env)
  networks = a3c.make_networks(train_config, env)
  probs = jax.random.uniform(jax.random.PRNGKey(42), (EPISODES, 2))
  evaluate = make_evaluator(Bandit(2, 'fixed', 100), a3c.make_actor(networks), EPISODES,
                            env_params=BanditParams(fixed_probs=probs))
  traj = evaluate(params, jax.random.PRNGKey(7)).trajectory
  agent = float(np.asarray(cumulative_regret(probs[None], traj.action)).sum(0).mean())
  random = float(run_baseline('random', jax.random.PRNGKey(8), probs, 100)[2].sum(1).mean())
  assert 15.5 < random < 18.0
  assert agent < MARGIN * random, (agent, random)
