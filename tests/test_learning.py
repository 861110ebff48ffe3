"""A short single-process training whose frozen agent beats random play by a wide margin, for
each agent the bandit config gives settings for."""

import os

import jax
import numpy as np
import pytest

from configs import bandit_train
from launch.manager import train
from metarl.agents.registry import AGENTS
from metarl.analysis.bandit_baselines import run_baseline
from metarl.checkpoint import load_params
from metarl.envs.bandit import Bandit, BanditParams, cumulative_regret
from metarl.evaluation import make_evaluator

EPISODES = 1000
# Uniform random play has a mean cumulative regret of ~16.7 over 100 trials (2 arms).
# After 3M env steps (seconds of training) the agent must be below this fraction of random's
# regret: a3c (nathanwispinski/meta-rl's settings) ~5.5 there, ppo (the default) ~3.5.
MARGIN = {'a3c': 0.75, 'ppo': 0.35}


@pytest.mark.slow  # end to end, over 10 s: the slow step of CI
@pytest.mark.parametrize('agent', sorted(MARGIN))
def test_short_training_beats_random_play(tmp_path, agent):
  config = bandit_train.get_config(agent)
  config.run_dir = str(tmp_path / 'run')
  config.total_env_steps = 3_000_000
  config.launch.num_evaluators = 0  # evaluate inside this process
  config.eval.every_env_steps = 1_000_000
  config.eval.num_episodes = 200
  run_dir = train(config)
  assert os.path.exists(os.path.join(run_dir, 'eval.csv'))

  saved = load_params(os.path.join(run_dir, 'params.pickle'))
  params, train_config = saved.params, saved.config
  assert saved.env_steps >= 3_000_000 and train_config.agent.name == agent
  probs = jax.random.uniform(jax.random.PRNGKey(42), (EPISODES, 2))
  env = Bandit(2, 'fixed', 100, observe_trial=train_config.env.observe_trial)
  actor = AGENTS.get(agent).eval_policy(train_config, env).actor
  evaluate = make_evaluator(env, actor, EPISODES, env_params=BanditParams(fixed_probs=probs))
  traj = evaluate(params, jax.random.PRNGKey(7)).trajectory
  regret = float(np.asarray(cumulative_regret(probs[None], traj.action)).sum(0).mean())
  random = float(run_baseline('random', jax.random.PRNGKey(8), probs, 100)[2].sum(1).mean())
  assert 15.5 < random < 18.0
  assert regret < MARGIN[agent] * random, (regret, random)
