"""docs/guide.md's examples, run: the reversal env against a numpy reference of its rules,
in metarl's rollout with the A3C actor, and trained by A3C through main.py's command line
once registered; the REINFORCE example agent learning it; the guide's code blocks equal to
the example files; the train.csv / eval.csv columns documented in docs/outputs.md equal to
the headers of real runs."""

import csv
import functools
import os
import re
import shlex

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import main
from configs import value_td
from launch.evaluator import run_offline_evaluation
from launch.manager import train
from launch.validation import validate
from metarl.envs import ENVS
from metarl.envs.base import batch_params
from metarl.evaluation import make_evaluator
from tests.examples import reinforce_agent
from tests.examples.reversal_env import Reversal
from tests.test_checkpoints import small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the pages whose code blocks and tables these tests hold to the code
DOCS = [os.path.join(ROOT, 'docs', name) for name in ('guide.md', 'outputs.md')]


# docs helpers -----------------------------------------------------------------------------

def doc_with(marker: str) -> str:
  """From `marker` to the end of the one page of DOCS that has it."""
  found = []
  for path in DOCS:
    with open(path) as f:
      text = f.read()
    if marker in text:
      found.append(text[text.index(marker):])
  assert len(found) == 1, f'{marker} is on {len(found)} of the pages {DOCS}'
  return found[0]


def doc_block(marker: str) -> str:
  """The body of the first fenced code block after `marker` in the docs."""
  block = re.search(r'^```[a-z]*\n(.*?)^```$', doc_with(marker), re.S | re.M)
  return block.group(1)


def doc_columns(table: str, env: str = '') -> list:
  """The columns documented in the docs' table after `<!-- columns: table -->`, in order.

  A table's first cell names a column in backticks. A table with an `in` column lists only
  the rows whose `in` cell is `all` or names `env`.
  """
  lines = doc_with(f'<!-- columns: {table} -->').splitlines()[1:]
  lines = [line for line in lines if line.strip()]
  rows = []
  for line in lines:
    if not line.startswith('|'):
      break
    rows.append([cell.strip() for cell in line.strip().strip('|').split('|')])
  header, body = rows[0], rows[2:]
  where = header.index('in') if 'in' in header else None
  columns = []
  for row in body:
    name = re.fullmatch(r'`(\w+)`', row[0]).group(1)
    if where is None or row[where] == 'all' or env in re.findall(r'\w+', row[where]):
      columns.append(name)
  return columns


def header(path: str) -> list:
  with open(path) as f:
    return next(csv.reader(f))


@pytest.mark.parametrize('path', ['tests/examples/reversal_env.py',
                                  'tests/examples/reinforce_agent.py'])
def test_guide_shows_the_example_files_verbatim(path):
  with open(os.path.join(ROOT, path)) as f:
    assert doc_block(f'<!-- example: {path} -->') == f.read()


# Add an environment -----------------------------------------------------------------------

class NumpyReversal:
  """The rules of tests/examples/reversal_env.py in plain numpy, fed the same draws."""

  def __init__(self, trials: int):
    self.trials = trials

  def step(self, reward_prob, good, reversal, trial, action, u):
    """Returns (reward, good, trial, observation, last) after `action`; u ~ U(0, 1)."""
    p = reward_prob if action == good else 1.0 - reward_prob
    reward = float(u < p)
    trial += 1
    if trial == reversal:
      good = 1 - good
    last = trial >= self.trials
    observation = np.zeros(3, np.float32)
    if not last:
      observation[action], observation[2] = 1.0, reward
    return reward, good, trial, observation, last


def documented_draws(key, trials: int):
  """The env's documented random stream of one step: the reward's uniform draw, and the
  good arm and reversal trial of the episode a reset at this step would start."""
  reward_key, reset_key = jax.random.split(key)
  good_key, reversal_key = jax.random.split(reset_key)
  return (jax.random.uniform(reward_key), jax.random.randint(good_key, (), 0, 2),
          jax.random.randint(reversal_key, (), 1, trials))


def test_reversal_matches_a_numpy_reference_under_jit_and_vmap():
  trials, batch = 5, 6
  env = Reversal(trials_per_episode=trials)
  reward_prob = np.linspace(0.1, 0.9, batch).astype(np.float32)  # one per env copy
  params = batch_params(env.default_params(), batch).replace(reward_prob=reward_prob)
  reset, step = jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))
  draws = jax.jit(jax.vmap(functools.partial(documented_draws, trials=trials)))
  state, ts = reset(jax.random.split(jax.random.PRNGKey(0), batch), params)
  np.testing.assert_array_equal(ts.observation, 0.0)
  assert ts.first.all() and not ts.last.any()
  ref = NumpyReversal(trials)
  good, reversal = np.array(state.good), np.array(state.reversal)
  trial = np.zeros(batch, int)
  assert ((reversal >= 1) & (reversal < trials)).all()
  rng = np.random.default_rng(0)
  swaps = 0
  for t in range(4 * trials + 2):
    keys = jax.random.split(jax.random.PRNGKey(100 + t), batch)
    actions = rng.integers(0, 2, batch)
    u, next_good, next_reversal = (np.asarray(x) for x in draws(keys))
    state, ts = step(keys, state, jnp.asarray(actions, jnp.int32), params)
    for b in range(batch):
      before = good[b]
      reward, good[b], trial[b], obs, last = ref.step(reward_prob[b], good[b], reversal[b],
                                                      trial[b], actions[b], u[b])
      swaps += int(good[b] != before)
      assert ts.reward[b] == reward
      assert bool(ts.last[b]) == last and bool(ts.first[b]) == last
      assert ts.discount[b] == (0.0 if last else 1.0)
      np.testing.assert_array_equal(ts.observation[b], obs)
      if last:  # auto-reset: the next episode's arm and reversal trial
        good[b], reversal[b], trial[b] = next_good[b], next_reversal[b], 0
    np.testing.assert_array_equal(state.good, good)
    np.testing.assert_array_equal(state.reversal, reversal)
    np.testing.assert_array_equal(state.trial, trial)
  assert swaps >= batch  # every episode reverses once


def test_guide_rollout_snippet_runs_the_reversal_task_with_the_a3c_actor(capsys):
  namespace = {}
  exec(doc_block('<!-- snippet: reversal rollout -->'), namespace)
  rollout, params, state, traj = (namespace[name] for name in ('rollout', 'params', 'state',
                                                                'trajectory'))
  assert traj.observation.shape == (31, 16, 3) and traj.action.shape == (30, 16)
  t = np.arange(31)  # 20 trials per episode, all 16 copies reset together
  np.testing.assert_array_equal(traj.first, np.tile((t % 20 == 0)[:, None], (1, 16)))
  np.testing.assert_array_equal(traj.last, np.tile((t[:30] % 20 == 19)[:, None], (1, 16)))
  _, later = jax.jit(rollout.unroll)(params, state)  # goes on with the same episodes
  np.testing.assert_array_equal(later.first, np.tile((t % 20 == 10)[:, None], (1, 16)))
  action, reward = np.asarray(traj.action), np.asarray(traj.reward)
  seen = np.concatenate([np.eye(2)[action], reward[..., None]], axis=-1)
  seen[np.asarray(traj.last)] = 0.0  # after an episode's end: the next one's first obs
  np.testing.assert_array_equal(traj.observation[1:], seen)
  result = namespace['result']
  assert sorted(result.metrics) == ['good_choice_rate', 'mean_reward_per_trial']
  chosen = np.asarray(result.trajectory.action) == np.asarray(result.trajectory.env_state.good)
  np.testing.assert_allclose(result.metrics['good_choice_rate'], chosen.mean(), rtol=1e-6)
  assert 'good_choice_rate' in capsys.readouterr().out


@pytest.fixture(scope='module')
def reversal_run(tmp_path_factory):
  """The guide's reversal command line, shortened, once the env is registered: importing
  its module (at the top of this file) runs its last line, `register(...)`; metarl/envs/
  imports its own modules itself, the example lives in tests/."""
  assert 'reversal' in ENVS  # registered when this file imported tests.examples.reversal_env
  run_dir = str(tmp_path_factory.mktemp('reversal') / 'run')
  command = shlex.split(doc_block('<!-- command: reversal -->').replace('\\\n', ' '))
  assert command[:2] == ['python3', 'main.py']
  short = [f'--config.run_dir={run_dir}', '--config.total_env_steps=320000',
           '--config.network.hidden_size=32', '--config.agent.learning_rate=2e-3',
           '--config.agent.learning_rate_end=2e-3', '--config.launch.updates_per_call=50',
           '--config.launch.num_evaluators=0', '--config.log_every_env_steps=160000',
           '--config.eval.every_env_steps=160000', '--config.eval.num_episodes=200',
           '--config.checkpoint_every=0']
  config = main.load_config(['main.py', *command[2:], *short])
  assert config.env.name == 'reversal'
  return train(config)


def test_registered_reversal_plays_with_scripted_input(reversal_run, tmp_path):
  del reversal_run  # registered by the fixture
  from tests.test_play import load_config, play_text
  config = load_config(tmp_path, '--config.env.name=reversal',
                       '--config.env.trials_per_episode=4', '--config.num_episodes=2')
  text, run_dir = play_text(config, '0\n1\n\n0\n1\n1\n0\n0\n')
  assert 'step 4/4' in text and 'episode 2 over' in text  # the generic words: raw numbers
  rows = read_rows(os.path.join(run_dir, 'play_log.csv'))
  assert [int(r['action']) for r in rows] == [0, 1, 1, 0, 1, 1, 0, 0]
  summary = read_rows(os.path.join(run_dir, 'eval_summary.csv'))[0]
  assert summary['method'] == 'human' and 0.0 <= float(summary['good_choice_rate']) <= 1.0


def test_a_bad_field_of_the_registered_reversal_gets_one_line(reversal_run):
  del reversal_run  # registered by the fixture
  for field, value, allowed in (('reward_prob', '1.5', 'a number >= 0.0 and <= 1.0'),
                                ('trials_per_episode', '1', 'an integer >= 2'),
                                ('num_arms', '3', 'the reversal env has no such field')):
    with pytest.raises(SystemExit) as exit_:
      main.load_config(['main.py', '--config=configs/train.py:a3c',
                        '--config.env.name=reversal', f'--config.env.{field}={value}'])
    message = exit_.value.code
    assert message.startswith(f'metarl: config.env.{field} = ') and allowed in message
    assert '\n' not in message


def read_rows(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def test_registered_reversal_trains_with_a3c_beyond_a_fixed_choice(reversal_run):
  # Always choosing one arm (or choosing at random) picks the good arm on half the trials
  # and earns 0.5 per trial.
  final = read_rows(os.path.join(reversal_run, 'eval.csv'))[-1]
  assert float(final['good_choice_rate']) > 0.65, final
  assert float(final['mean_reward_per_trial']) > 0.6, final


# Add an agent -----------------------------------------------------------------------------

def reinforce_config(run_dir, *overrides):
  """configs/train.py:reinforce on the reversal task (both registered by this file's
  imports of tests.examples), 150 updates of 64 whole episodes unless overridden."""
  return main.load_config(['main.py', f'--config={ROOT}/configs/train.py:reinforce',
                           '--config.env.name=reversal', f'--config.run_dir={run_dir}',
                           '--config.total_env_steps=192000',
                           '--config.log_every_env_steps=64000',
                           '--config.eval.every_env_steps=192000',
                           '--config.eval.num_episodes=500', '--config.checkpoint_every=0',
                           '--config.launch.updates_per_call=10', *overrides])


def test_reinforce_learns_the_reversal_task_beyond_its_untrained_policy(tmp_path):
  config = reinforce_config(tmp_path / 'run')
  assert config.agent.name == 'reinforce' and config.launch.num_workers == 0
  run_dir = train(config)
  trained = read_rows(os.path.join(run_dir, 'eval.csv'))[-1]
  env = Reversal()
  policy = reinforce_agent.eval_policy(config, env)
  untrained = make_evaluator(env, policy.actor, num_episodes=500)(
      reinforce_agent.make_networks(env).init(jax.random.PRNGKey(0)),
      jax.random.PRNGKey(1)).metrics
  assert abs(float(untrained['good_choice_rate']) - 0.5) < 0.05
  assert float(trained['good_choice_rate']) > 0.65, trained
  assert float(trained['mean_reward_per_trial']) > 0.6, trained


@pytest.mark.slow
def test_reinforce_runs_with_workers_and_an_evaluator_checkpoints_and_resumes(tmp_path,
                                                                            bandit_run):
  # Spawned children know the agent and the task because they import the modules that
  # registered them (tests.examples), which the manager names for them.
  def config(run_dir, *more):
    return reinforce_config(run_dir, '--config.launch.num_workers=2',
                            '--config.launch.num_evaluators=1',
                            '--config.total_env_steps=38400',
                            '--config.checkpoint_every=12800',
                            '--config.log_every_env_steps=12800',
                            '--config.eval.every_env_steps=12800',
                            '--config.eval.num_episodes=50', *more)
  run_dir = train(config(tmp_path / 'run'))
  assert sorted(os.listdir(run_dir)) == sorted(os.listdir(bandit_run))  # a3c's files
  assert header(os.path.join(run_dir, 'eval.csv')) == doc_columns('a3c eval.csv',
                                                                     'reversal')
  assert int(read_rows(os.path.join(run_dir, 'train.csv'))[-1]['env_steps']) >= 38400
  with open(os.path.join(run_dir, 'log.txt')) as f:
    log = f.read()
  assert 'started worker-1' in log and 'started evaluator-0' in log
  # A resume from the middle of the run goes on to its end.
  paths = sorted(os.listdir(os.path.join(run_dir, 'checkpoints')))
  os.unlink(os.path.join(run_dir, 'checkpoints', paths[-1]))
  os.unlink(os.path.join(run_dir, 'params.pickle'))
  resumed = train(config(run_dir, '--config.resume=True'))
  assert int(read_rows(os.path.join(resumed, 'train.csv'))[-1]['env_steps']) >= 38400
  assert os.path.exists(os.path.join(resumed, 'params.pickle'))
  assert 'resumed from' in open(os.path.join(run_dir, 'log.txt')).read()


# Output files -----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def bandit_run(tmp_path_factory):
  """The small bandit run of tests/test_checkpoints.py (its programs are likely cached)."""
  return train(small_config(str(tmp_path_factory.mktemp('bandit') / 'run')))


@pytest.fixture(scope='module')
def td_run(tmp_path_factory):
  """A value_td run the size of tests/test_value_td_launch.py's, without the final analysis
  (value_data.pickle and the figures: that test checks them)."""
  config = value_td.get_config()
  config.run_dir = str(tmp_path_factory.mktemp('td') / 'run')
  config.num_seeds, config.agent.epochs, config.log_every_epochs = 2, 40, 20
  config.eval.every_epochs, config.eval.num_episodes = 20, 40
  config.eval.analyze_at_end = False
  return train(config)


def test_documented_a3c_columns_are_those_of_real_runs(bandit_run, reversal_run):
  for run_dir, env in ((bandit_run, 'bandit'), (reversal_run, 'reversal')):
    assert header(os.path.join(run_dir, 'train.csv')) == doc_columns('a3c train.csv', env)
    assert header(os.path.join(run_dir, 'eval.csv')) == doc_columns('a3c eval.csv', env)
  assert sorted(os.listdir(bandit_run)) == ['.metarl.lock', 'checkpoints', 'config.json',
                                            'eval.csv', 'log.txt', 'params.pickle',
                                            'train.csv']


@pytest.mark.slow
def test_documented_bandit_summary_columns_are_those_of_a_real_evaluation(bandit_run,
                                                                         tmp_path):
  from configs import eval as eval_config
  config = eval_config.get_config()
  config.params_path = os.path.join(bandit_run, 'params.pickle')
  config.run_dir = str(tmp_path / 'eval')
  config.num_episodes = 8
  out = run_offline_evaluation(config)
  figures = ['bandit_actions', 'bayes_agreement', 'bayes_value_lost', 'choice_kernel', 'pca',
             'posterior_decoding', 'regret']
  assert sorted(os.listdir(out)) == sorted(
      [f'{f}.{ext}' for f in figures for ext in ('png', 'pdf')] +
      ['bayes_value_lost.csv', 'choice_kernel.csv', 'config.json', 'eval_data.pickle',
       'eval_summary.csv', 'pca.csv', 'posterior_decoding.csv'])
  assert header(os.path.join(out, 'eval_summary.csv')) == doc_columns('eval_summary.csv')
  assert (header(os.path.join(out, 'bayes_value_lost.csv'))
          == doc_columns('bayes_value_lost.csv'))


def test_documented_td_columns_are_those_of_a_real_run(td_run):
  assert header(os.path.join(td_run, 'train.csv')) == doc_columns('td train.csv')
  assert header(os.path.join(td_run, 'eval.csv')) == doc_columns('td eval.csv')
  assert sorted(os.listdir(td_run)) == ['.metarl.lock', 'checkpoints', 'config.json',
                                        'eval.csv', 'log.txt', 'params.pickle', 'train.csv']


@pytest.mark.slow
@pytest.mark.parametrize('config_name,env', [('memory_sac', 'memory'),
                                             ('pendulum_sac', 'pendulum')])
def test_documented_rsac_columns_are_those_of_real_runs(config_name, env, tmp_path):
  from tests.test_sac_launch import load
  config = load(os.path.join(ROOT, 'configs', f'{config_name}.py'), tmp_path / 'run',
                total_env_steps=400, log_every_env_steps=200, eval__every_env_steps=400,
                launch__updates_per_call=100, checkpoint_every=0, eval__num_episodes=1,
                agent__warmup_steps=100, agent__critic_warmup_steps=100,
                agent__actor_warmup_steps=200, env__episode_step_limit=50,
                replay__sequence_length=8 if env == 'memory' else 1)
  validate(config)
  run_dir = train(config)
  assert header(os.path.join(run_dir, 'train.csv')) == doc_columns('rsac train.csv', env)
  assert header(os.path.join(run_dir, 'eval.csv')) == doc_columns('rsac eval.csv', env)
