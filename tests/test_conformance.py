"""Conformance of every registered component, so that a new one is checked by being added.

Envs: each registered env builds from its registered defaults, runs under jit and vmap (over
keys and over batched `EnvParams`), auto-resets exactly as `Environment.step` promises (at
an episode's end the next episode's reset from `reset_key`, else `step_env` itself), and has
a test against a numpy reference of its rules (`NUMPY_REFERENCES` names it: a new env must
add one). Agents: each registered agent trains two updates through main.py's loader on
every registered env it says it supports (`configs/train.py:AGENT`), and its params
evaluate offline with configs/eval.py.
"""

import collections
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import main
from launch.evaluator import run_offline_evaluation
from launch.manager import train
from metarl.agents.registry import AGENTS
from metarl.envs import ENVS
from metarl.envs.base import batch_params
from metarl.envs.registry import defaults, make, register, second_defaults
from tests.examples import reinforce_agent, reversal_env  # noqa: F401  (register)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each env's test against a plain numpy version of its rules, fed the same random draws.
NUMPY_REFERENCES = {
    'bandit': 'tests/test_bandit_env.py::test_matches_numpy_reference_under_jit_and_vmap',
    'two_step': 'tests/test_two_step_env.py::test_steps_follow_the_reference_rules',
    'episodic_two_step': 'tests/test_episodic_two_step_env.py::'
                         'test_contexts_cues_and_recalled_rewards_follow_the_rules',
    'cue_reward': 'tests/test_cue_reward_env.py::test_trials_follow_the_reference_rules',
    'memory': 'tests/test_memory_env.py::test_steps_follow_the_reference_rules',
    'pendulum': 'tests/test_pendulum_env.py::test_steps_follow_gymnasium_pendulum',
    'class_query': 'tests/test_long_memory.py::test_class_query_follows_the_reference_rules',
    'baited_bandit': 'tests/test_baited_bandit.py::'
                     'test_matches_numpy_reference_under_jit_and_vmap',
    'volatile_bandit': 'tests/test_volatile_bandit.py::'
                       'test_matches_numpy_reference_under_jit_and_vmap',
    'risky_bandit': 'tests/test_risky_bandit.py::test_matches_numpy_reference_under_jit_and_vmap',
    'cue_reversal': 'tests/test_cue_reversal.py::'
                    'test_matches_numpy_reference_under_jit_and_vmap',
    'two_step_stages': 'tests/test_two_step_stages.py::test_steps_follow_the_reference_rules',
    'harlow': 'tests/test_harlow.py::test_matches_numpy_reference_under_jit_and_vmap',
    'reversal': 'tests/test_examples.py::'
                'test_reversal_matches_a_numpy_reference_under_jit_and_vmap',
}


def default_env(name):
  return make(defaults(name))


def random_actions(env, key, shape):
  if env.spec.num_actions:
    return jax.random.randint(key, shape, 0, env.spec.num_actions)
  if env.spec.action_dim:
    return jax.random.uniform(key, shape + (env.spec.action_dim,), minval=-1, maxval=1)
  return jnp.zeros(shape, jnp.int32)


def test_every_env_has_a_numpy_reference_test():
  missing = set(ENVS.names()) - set(NUMPY_REFERENCES)
  assert not missing, f'envs without a numpy reference test: {sorted(missing)}'
  for test in NUMPY_REFERENCES.values():
    path, function = test.split('::')
    with open(os.path.join(ROOT, path)) as f:
      assert f'def {function}(' in f.read(), test


@pytest.mark.parametrize('name', ENVS.names())
def test_env_runs_under_jit_and_vmap_and_auto_resets_as_promised(name):
  env = default_env(name)
  batch, steps = 4, 3 * (env.max_episode_steps or 30) + 2
  params = batch_params(env.default_params(), batch)
  reset = jax.jit(jax.vmap(env.reset))
  step = jax.jit(jax.vmap(env.step))
  step_env = jax.jit(jax.vmap(env.step_env))
  fresh = jax.jit(jax.vmap(lambda k, p: env.reset(env.reset_key(k), p)))
  state, ts = reset(jax.random.split(jax.random.PRNGKey(0), batch), params)
  assert ts.first.all() and not ts.last.any()
  assert ts.observation.shape == (batch,) + env.spec.observation_shape
  ends = 0
  for t in range(steps):
    keys = jax.random.split(jax.random.PRNGKey(t + 1), batch)
    action = random_actions(env, jax.random.PRNGKey(1000 + t), (batch,))
    new_state, new_ts = step(keys, state, action, params)
    moved, moved_ts = step_env(keys, state, action, params)
    restarted, restart_ts = fresh(keys, params)
    last = np.asarray(new_ts.last)
    np.testing.assert_array_equal(new_ts.first, last)
    np.testing.assert_array_equal(new_ts.reward, moved_ts.reward)
    np.testing.assert_array_equal(new_ts.discount, moved_ts.discount)
    expected_obs = np.where(last.reshape((-1,) + (1,) * len(env.spec.observation_shape)),
                            restart_ts.observation, moved_ts.observation)
    np.testing.assert_array_equal(new_ts.observation, expected_obs)
    for got, cont, reset_leaf in zip(jax.tree_util.tree_leaves(new_state),
                                     jax.tree_util.tree_leaves(moved),
                                     jax.tree_util.tree_leaves(restarted), strict=True):
      shaped = last.reshape((-1,) + (1,) * (np.ndim(got) - 1))
      np.testing.assert_array_equal(got, np.where(shaped, reset_leaf, cont))
    ends += int(last.sum())
    state = new_state
  if env.max_episode_steps:
    assert ends >= batch  # every copy finished an episode and started the next


def test_an_env_built_directly_is_the_task_its_defaults_give():
  """A default is written once, in the field table: an env class whose constructor
  defaults another value is refused at registration, naming the field and both values."""
  for name in ENVS.names():
    found = ENVS.get(name)
    assert second_defaults(found.cls, found.fields) == [], name
  class_query = ENVS.get('class_query')

  class LouderCue(class_query.cls):
    def __init__(self, cue_steps=5, noise_scale=0.5):
      super().__init__(cue_steps=cue_steps, noise_scale=noise_scale)

  with pytest.raises(TypeError, match=r"defaults noise_scale=0\.5 \(field: 1\.0\)"):
    register('louder_cue', LouderCue, class_query.fields)
  assert 'louder_cue' not in ENVS


def supported_pairs():
  pairs = []
  for agent, spec in AGENTS.items():
    for env_name in ENVS.names():
      if spec.supports(default_env(env_name)) is None:
        pairs.append((agent, env_name))
  return pairs


# Tiny budgets by trainer kind: two updates (gradients: two rollouts of 4 copies; replay:
# two learner calls after a 16-step warm-up; seeds: two epochs of one minibatch), evaluated
# in the training process (evaluator processes: tests/test_launch.py).
TWO_UPDATES = {
    'gradients': ['total_env_steps=1', 'agent.num_envs=4', 'launch.updates_per_call=1',
                  'eval.num_episodes=8', 'launch.num_evaluators=0'],
    'replay': ['total_env_steps=32', 'agent.warmup_steps=8', 'agent.critic_warmup_steps=8',
               'agent.actor_warmup_steps=8', 'agent.batch_size=2', 'replay.capacity=64',
               'replay.sequence_length=4', 'launch.updates_per_call=16',
               'eval.num_episodes=1', 'eval.num_sequences=4', 'env.episode_step_limit=20',
               'launch.num_evaluators=0'],
    'seeds': ['agent.epochs=2', 'agent.num_trials=4', 'agent.batch_size=4',
              'log_every_epochs=1', 'eval.every_epochs=1', 'eval.num_episodes=4',
              'eval.analyze_at_end=False'],
}


def covering(pairs):
  """A few of `pairs` that hold every env and every agent: for each env the agent used
  least so far (the last registered of those: a3c, the first, is the costliest to
  compile), then any agent still missing with its first env."""
  chosen, used = [], collections.Counter()
  for env_name in dict.fromkeys(e for _, e in pairs):
    agents = [a for a, e in pairs if e == env_name]
    agent = min(agents, key=lambda a: (used[a], -agents.index(a)))
    chosen.append((agent, env_name))
    used[agent] += 1
  chosen += [next(p for p in pairs if p[0] == agent)
             for agent in dict.fromkeys(a for a, _ in pairs) if not used[agent]]
  return chosen


def quick_or_slow(pairs):
  """The covering pairs in the quick suite, the rest in the slow step (all run in CI)."""
  quick = covering(pairs)
  return [pytest.param(*p, marks=() if p in quick else pytest.mark.slow) for p in pairs]


def test_the_quick_pairs_hold_every_agent_and_every_env():
  pairs = supported_pairs()
  quick = covering(pairs)
  assert {a for a, _ in quick} == set(AGENTS.names()) == {a for a, _ in pairs}
  assert {e for _, e in quick} == {e for _, e in pairs}
  assert len(quick) < len(pairs)


@pytest.mark.parametrize('agent,env_name', quick_or_slow(supported_pairs()))
def test_every_agent_trains_two_updates_on_every_env_it_supports(agent, env_name, tmp_path):
  spec = AGENTS.get(agent)
  overrides = list(TWO_UPDATES[spec.kind])
  if spec.kind == 'gradients':  # two updates of one whole rollout each
    unroll = 'agent.unroll_length' in spec.fields['agent']
    steps = 4 * (10 if unroll else default_env(env_name).max_episode_steps)
    overrides[0] = f'total_env_steps={2 * steps}'
  if env_name == 'pendulum':  # its default agent network has no memory: single steps
    overrides += ['network.core=mlp', 'replay.sequence_length=1']
  config = main.load_config(['main.py', f'--config={ROOT}/configs/train.py:{agent}',
                             f'--config.env.name={env_name}',
                             f'--config.run_dir={tmp_path / "run"}',
                             *[f'--config.{o}' for o in overrides]])
  run_dir = train(config)
  with open(os.path.join(run_dir, 'train.csv')) as f:
    rows = f.read().splitlines()
  assert len(rows) >= 2 and os.path.exists(os.path.join(run_dir, 'params.pickle'))
  out = run_offline_evaluation(main.load_config([
      'main.py', f'--config={ROOT}/configs/eval.py',
      f'--config.params_path={os.path.join(run_dir, "params.pickle")}',
      f'--config.run_dir={tmp_path / "eval"}', '--config.num_episodes=8']))
  assert os.listdir(out)
