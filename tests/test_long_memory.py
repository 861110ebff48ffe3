"""Issue 6: the class-query env against a numpy reference, the advantage estimators against
hand numbers, truncated BPTT, the separate value core, fresh-episode unrolls, the curriculum
rule and its use in training (in-process run; worker and evaluator overrides)."""

import csv
import dataclasses
import math
import os
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import bandit_train, class_query, two_step_train
from launch import evaluator as evaluator_lib
from launch import manager
from launch import worker as worker_lib
from launch.backends.base import Params, Work
from launch.validation import validate
from metarl import envs
from metarl.agents import a3c
from metarl.agents import registry as agent_registry
from metarl.agents.a3c.losses import estimate
from metarl.config_rules import ConfigError
from metarl.curriculum import Curriculum
from metarl.envs.class_query import ClassQuery, ClassQueryState
from metarl.networks.policy_value import make_policy_value_networks
from metarl.rollout import set_env_params

# The environment ---------------------------------------------------------------------


class ReferenceClassQuery:
  """The seed's rules in numpy, fed the class and noise draws of the JAX env's keys."""

  def __init__(self, cue_steps, noise_scale, rewards):
    self.cue_steps, self.noise_scale, self.rewards = cue_steps, noise_scale, rewards

  def reset(self, key, delay):
    class_key, noise_key = jax.random.split(key)
    self.cls = 1 if bool(jax.random.bernoulli(class_key, 0.5)) else -1
    self.t, self.delay = 0, delay
    return self.observe(float(jax.random.normal(noise_key, ())))

  def observe(self, noise):
    if self.t == self.cue_steps + self.delay:
      return np.array([0.0, 1.0])
    cue = self.cls if self.t < self.cue_steps else 0
    return np.array([cue + self.noise_scale * noise, 0.0])

  def step(self, key, action, delay_for_next_episode):
    """Returns (observation, reward, discount, first)."""
    if self.t == self.cue_steps + self.delay:
      reward = self.rewards[0] if 2 * action - 1 == self.cls else self.rewards[1]
      return self.reset(key, delay_for_next_episode), reward, 0.0, True
    self.t += 1
    return self.observe(float(jax.random.normal(jax.random.fold_in(key, 1), ()))), 0.0, 1.0, \
        False


def test_class_query_follows_the_reference_rules():
  env = ClassQuery(cue_steps=3, delay=4, noise_scale=0.7, reward_correct=2.0,
                   reward_wrong=-0.5)
  params = env.default_params()
  step, reset = jax.jit(env.step), jax.jit(env.reset)
  ref = ReferenceClassQuery(3, 0.7, (2.0, -0.5))
  state, ts = reset(jax.random.PRNGKey(0), params)
  np.testing.assert_allclose(ts.observation, ref.reset(jax.random.PRNGKey(0), 4), rtol=1e-5)
  actions = np.random.default_rng(0).integers(0, 2, 200)
  rewards, ends = [], 0
  for t, action in enumerate(actions):
    if t == 100:  # a new delay applies from the next episode on, not to the current one
      params = params.replace(delay=jnp.int32(1))
    key = jax.random.PRNGKey(t + 1)
    state, ts = step(key, state, jnp.int32(action), params)
    obs, reward, discount, first = ref.step(key, int(action), int(params.delay))
    np.testing.assert_allclose(ts.observation, obs, rtol=1e-5, atol=1e-6)
    assert float(ts.reward) == reward and float(ts.discount) == discount
    assert bool(ts.first) == first == bool(ts.last)
    assert int(state.t) == ref.t and int(state.cls) == ref.cls
    assert int(state.delay) == ref.delay
    rewards.append(reward)
    ends += first
  assert ends > 30 and {2.0, -0.5} <= set(rewards)


def test_success_counts_only_queries_reached():
  env = ClassQuery(cue_steps=1, delay=1)
  # two columns of 4 steps: t = 0 1 2 | 0 (query at t = 2)
  states = ClassQueryState(cls=jnp.array([[1, -1]] * 4), t=jnp.array([[0, 0], [1, 1], [2, 2],
                                                                        [0, 0]]),
                           delay=jnp.ones((4, 2), jnp.int32))
  actions = jnp.array([[0, 0], [0, 0], [1, 1], [0, 0]])  # answers +1, +1 at the queries
  rewards = jnp.array([[0.0, 0.0], [0.0, 0.0], [1.0, -1.0], [0.0, 0.0]])
  m = env.episode_metrics(states, actions, rewards)
  assert float(m['success']) == 0.5 and float(m['queries']) == 2
  assert float(m['mean_episode_return']) == 0.0


# Advantage estimators -------------------------------------------------------------------

# T = 4: rewards [1, 0, 2, 1]; the episode ends after step 1 (discount 0 there);
# gamma = 0.5, so the discounts are [0.5, 0, 0.5, 0.5]; values V0..V4 = [1, 2, 0.5, 1, 4].
R = jnp.array([1.0, 0.0, 2.0, 1.0])
D = jnp.array([0.5, 0.0, 0.5, 0.5])
V = jnp.array([1.0, 2.0, 0.5, 1.0, 4.0])
# Returns to the episode end or the chunk end (bootstrapping V4 = 4):
#   G3 = 1 + .5*4 = 3, G2 = 2 + .5*3 = 3.5, G1 = 0, G0 = 1 + .5*0 = 1.
MC = [1.0, 0.0, 3.5, 3.0]


@pytest.mark.parametrize('advantage,psi,target', [
    ('mc', MC, MC),
    ('baseline', [0.0, -2.0, 3.0, 2.0], MC),
    ('immediate', [1.0, 0.0, 2.0, 1.0], MC),
    # K = 1: y_t = r_t + d_t V_{t+1} = [1 + .5*2, 0, 2 + .5*1, 1 + .5*4] = [2, 0, 2.5, 3]
    ('kstep', [1.0, -2.0, 2.0, 2.0], [2.0, 0.0, 2.5, 3.0]),
])
def test_estimators_match_hand_numbers(advantage, psi, target):
  got_psi, got_target = estimate(advantage, R, D, V, n_step=1)
  np.testing.assert_allclose(got_psi, psi, rtol=1e-6)
  np.testing.assert_allclose(got_target, target, rtol=1e-6)


def test_gae_matches_hand_numbers():
  # delta_t = r_t + d_t V_{t+1} - V_t = [2-1, 0-2, 2.5-0.5, 3-1] = [1, -2, 2, 2];
  # A_t = delta_t + d_t * lambda * A_{t+1} with lambda = 0.5:
  #   A3 = 2, A2 = 2 + .25*2 = 2.5, A1 = -2, A0 = 1 + .25*(-2) = 0.5
  psi, target = estimate('gae', R, D, V, gae_lambda=0.5)
  np.testing.assert_allclose(psi, [0.5, -2.0, 2.5, 2.0], rtol=1e-6)
  np.testing.assert_allclose(target, [1.5, 0.0, 3.0, 3.0], rtol=1e-6)
  # lambda = 1 is the baselined Monte-Carlo estimate, lambda = 0 the one-step TD error
  np.testing.assert_allclose(estimate('gae', R, D, V, gae_lambda=1.0)[0],
                             estimate('baseline', R, D, V)[0], rtol=1e-6)
  np.testing.assert_allclose(estimate('gae', R, D, V, gae_lambda=0.0)[0],
                             estimate('kstep', R, D, V, n_step=1)[0], rtol=1e-6)


def test_k_of_the_episode_length_is_monte_carlo():
  key = jax.random.PRNGKey(3)
  r = jax.random.normal(key, (12,))
  d = jnp.where(jnp.arange(12) == 5, 0.0, 0.9)  # an episode ends after step 5
  v = jax.random.normal(jax.random.fold_in(key, 1), (13,))
  for k in (12, 50):
    np.testing.assert_allclose(estimate('kstep', r, d, v, n_step=k)[0],
                               estimate('baseline', r, d, v)[0], rtol=1e-5, atol=1e-6)
  # the first episode (steps 0-5) never needs more than 6 steps
  np.testing.assert_allclose(estimate('kstep', r, d, v, n_step=6)[0][:6],
                             estimate('baseline', r, d, v)[0][:6], rtol=1e-5, atol=1e-6)


# Networks and unrolls --------------------------------------------------------------------


def small_config(**agent):
  config = class_query.get_config()
  config.env.cue_steps, config.env.delay = 2, 6
  config.network.hidden_size = 8
  config.agent.num_envs, config.agent.unroll_length = 3, 5
  config.agent.reset_each_unroll = False
  config.agent.update(agent)
  config.curriculum.enabled = False
  return config


def test_truncated_bptt_stops_gradients_and_carries_the_state():
  config = small_config()
  env = envs.make(config.env)
  agent = a3c.make_agent(config, env)
  params = agent.networks.init(jax.random.PRNGKey(0))
  unroll, net_unroll = jax.jit(agent.rollout.unroll), jax.jit(agent.networks.unroll)
  state1, chunk1 = unroll(params, agent.rollout.init(jax.random.PRNGKey(1)))
  _, chunk2 = unroll(params, state1)
  obs = jnp.concatenate([chunk1.observation[:-1], chunk2.observation])
  first = jnp.concatenate([chunk1.first[:-1], chunk2.first])
  # the state chunk 2 starts from is the state of one long unroll after chunk 1's steps
  long_out, _ = net_unroll(params, obs, first, chunk1.core_state)
  _, carried = net_unroll(params, chunk1.observation[:-1], chunk1.first[:-1],
                          chunk1.core_state)
  for a, b in zip(jax.tree_util.tree_leaves(carried),
                  jax.tree_util.tree_leaves(chunk2.core_state), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  out2, _ = net_unroll(params, chunk2.observation, chunk2.first, carried)
  np.testing.assert_allclose(out2.logits, long_out.logits[5:], rtol=1e-5, atol=1e-6)

  def chunk2_loss(chunk1_obs):  # chunk 2's loss through the state chunk 1's inputs made
    _, state = agent.networks.unroll(params, chunk1_obs, chunk1.first[:-1],
                                     chunk1.core_state)
    return agent.loss_fn(params, chunk2._replace(core_state=state), 0)[0]

  grad = jax.jit(jax.grad(chunk2_loss))(chunk1.observation[:-1])
  assert np.all(np.asarray(grad) == 0.0)
  # without the stop at the boundary the same path does carry gradient
  leak = jax.jit(jax.grad(lambda o: jnp.sum(agent.networks.unroll(
      params, o, chunk1.first[:-1], chunk1.core_state)[1][0][0])))(chunk1.observation[:-1])
  assert np.any(np.asarray(leak) != 0.0)


def test_separate_value_core_has_its_own_memory():
  nets = make_policy_value_networks(num_actions=2, observation_shape=(2,), hidden_size=4,
                                    value_core='separate')
  params = nets.init(jax.random.PRNGKey(0))
  obs = jax.random.normal(jax.random.PRNGKey(1), (6, 2, 2))
  first = jnp.zeros((6, 2), bool).at[0].set(True)
  state = nets.initial_state(2)
  assert len(state) == 2  # (policy state, value state)
  value_names = [m for m in params if 'value_core' in m]
  policy_core = [m for m in params if 'lstm' in m and 'value_core' not in m]
  assert value_names and policy_core

  def outputs(p):
    out, _ = nets.unroll(p, obs, first, state)
    return out.value.sum(), out.logits.sum()

  value_grads = jax.jit(jax.grad(lambda p: outputs(p)[0]))(params)
  logit_grads = jax.jit(jax.grad(lambda p: outputs(p)[1]))(params)
  for m in policy_core:  # value regression does not shape the policy's memory ...
    assert all(np.all(np.asarray(g) == 0) for g in value_grads[m].values())
  for m in value_names:  # ... nor the policy gradient the value's
    assert all(np.all(np.asarray(g) == 0) for g in logit_grads[m].values())
  # step by step equals the unroll, with resets
  step_values, step = [], jax.jit(nets.step)
  for t in range(6):
    out, state = step(params, obs[t], first[t], state)
    step_values.append(out.value)
  np.testing.assert_allclose(np.stack(step_values), nets.unroll(
      params, obs, first, nets.initial_state(2))[0].value, rtol=1e-5, atol=1e-6)


def test_reset_each_unroll_starts_every_chunk_with_new_episodes():
  config = small_config(reset_each_unroll=True, unroll_length=4)  # episodes of 9 steps
  agent = a3c.make_agent(config, envs.make(config.env))
  params = agent.networks.init(jax.random.PRNGKey(0))
  state, unroll = agent.rollout.init(jax.random.PRNGKey(1)), jax.jit(agent.rollout.unroll)
  for _ in range(3):
    state, chunk = unroll(params, state)
    assert np.all(np.asarray(chunk.first[0]))
    assert all(np.all(np.asarray(x) == 0) for x in jax.tree_util.tree_leaves(
        chunk.core_state))
    assert not np.any(np.asarray(chunk.first[1:]))  # cut before any episode ends


# Curriculum -------------------------------------------------------------------------------


def test_curriculum_steps_on_a_scripted_success_sequence():
  c = Curriculum('delay', start=2, target=10, threshold=0.8, window=2, growth_factor=1.5,
                 min_increment=2)
  script = [(0.9, False), (0.6, False), (0.9, False), (0.9, True),  # mean .75, .75, .9
            (0.95, False), (0.95, True),  # 2 -> 4 above, 4 -> 6 here (4 * 1.5 = 6)
            (1.0, False), (1.0, True),  # 6 -> 9
            (1.0, False), (1.0, True),  # 9 -> 10 (capped at the target)
            (1.0, False), (1.0, False)]  # done
  values = []
  for success, grows in script:
    assert c.update({'success': success, 'delay': c.value}) == grows
    values.append(c.value)
  assert values == [2, 2, 2, 4, 4, 6, 6, 9, 9, 10, 10, 10] and c.done
  # a checkpoint's copy goes on where the curriculum stood
  restored = Curriculum('delay', start=2, target=10, threshold=0.8, window=2,
                        growth_factor=1.5, min_increment=2)
  restored.restore(c.save())
  assert restored.value == 10 and restored.done and restored.save() == c.save()
  # an evaluation made at an older value does not count
  c = Curriculum('delay', start=2, target=10, threshold=0.5, window=1)
  assert not c.update({'success': 1.0, 'delay': 1}) and c.value == 2
  assert c.update({'success': 1.0, 'delay': 2}) and c.value == 3


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


@pytest.mark.slow  # end to end, over 10 s: the slow step of CI
def test_curriculum_training_grows_the_delay_and_learns(tmp_path):
  config = class_query.get_config()
  config.run_dir = str(tmp_path / 'run')
  config.env.delay = 20
  config.agent.unroll_length = 26
  config.agent.num_envs = 16
  config.total_env_steps = 1_200_000
  config.log_every_env_steps = 100_000
  config.eval.every_env_steps = 50_000
  config.eval.num_episodes = 200
  config.curriculum.threshold = 0.85
  config.launch.updates_per_call = 10
  validate(config)
  manager.train(config)
  train, evals = (read_csv(os.path.join(config.run_dir, f)) for f in ('train.csv',
                                                                       'eval.csv'))
  delays = [int(r['delay']) for r in evals]
  assert delays[0] == 1 and delays[-1] == 20 and delays == sorted(delays)
  assert int(train[0]['delay']) >= 1 and int(train[-1]['delay']) == 20
  with open(os.path.join(config.run_dir, 'params.pickle'), 'rb') as f:
    assert pickle.load(f)['extra']['env_overrides'] == {'delay': 20}  # the curriculum's end
  # learned: the answer at the target delay beats chance (0.5) by a wide margin
  final = np.mean([float(r['target_success']) for r in evals[-3:]])
  assert final >= 0.85, final


# Workers and evaluators follow the curriculum --------------------------------------------


class FakeContext:
  def __init__(self, message, sends):
    self.message, self.sends, self.sent = message, sends, []

  def first_params(self, timeout):
    return self.message

  def should_stop(self):
    return len(self.sent) >= self.sends

  def send(self, message):
    self.sent.append(message)
    return True

  def poll_params(self):
    return None


def test_worker_and_evaluator_use_the_published_delay():
  config = small_config()
  config.curriculum.enabled, config.curriculum.start = True, 2
  agent = a3c.make_agent(config, envs.make(config.env))
  seen = []

  def spy_make_agent(cfg, env):
    def compute_gradients(params, rollout_state, step):
      seen.append(np.asarray(rollout_state.env_params.delay))
      return agent.compute_gradients(params, rollout_state, step)
    return agent._replace(compute_gradients=compute_gradients)

  spy = dataclasses.replace(agent_registry.spec('a3c'), make=spy_make_agent)
  params = agent.networks.init(jax.random.PRNGKey(0))
  ctx = FakeContext(Params(params=params, version=0, env_steps=0, wall_time=0.0,
                           env_overrides={'delay': 5}), sends=2)
  with agent_registry.AGENTS.replaced('a3c', spy):  # the worker builds the spy's agent
    worker_lib.run_worker(ctx, config, 0)
  assert len(ctx.sent) == 2 and all(np.all(d == 5) for d in seen)
  assert all(isinstance(m, Work) and m.version == 0 for m in ctx.sent)
  assert len(seen[0]) == config.agent.num_envs

  evaluate = evaluator_lib.make_training_evaluator(config)
  m = evaluate(params, jax.random.PRNGKey(0), {'delay': 1})
  assert m['delay'] == 1 and {'success', 'target_success', 'queries'} <= set(m)
  # a window of 2 cue + 6 delay + 1 query = 9 steps: one episode at the target delay, two
  # of 4 steps at delay 1
  assert m['target_queries'] == config.eval.num_episodes
  assert m['queries'] == 2 * config.eval.num_episodes


def test_training_starts_at_the_curriculum_start():
  config = small_config()
  config.curriculum.enabled, config.curriculum.start = True, 3
  agent = a3c.make_agent(config, envs.make(config.env))
  state = agent.rollout.init(jax.random.PRNGKey(0))
  assert np.all(np.asarray(state.env_params.delay) == 3)
  assert np.all(np.asarray(state.env_state.delay) == 3)
  state = set_env_params(state, {'delay': 6})
  assert np.all(np.asarray(state.env_params.delay) == 6)
  assert np.all(np.asarray(state.env_state.delay) == 3)  # episodes in progress keep theirs


# The same options on the meta-RL agents ---------------------------------------------------


@pytest.mark.parametrize('module,overrides', [
    (bandit_train, dict(value_core='separate', advantage='gae', reset_each_unroll=True)),
    (two_step_train, dict(value_core='shared', advantage='mc', reset_each_unroll=False)),
])
def test_options_work_for_the_meta_rl_agents(module, overrides):
  config = module.get_config('a3c')
  config.network.value_core = overrides.pop('value_core')
  config.agent.update(overrides)
  config.agent.num_envs, config.launch.updates_per_call = 4, 2
  validate(config)
  agent = a3c.make_agent(config, envs.make(config.env))
  ts = agent.init(jax.random.PRNGKey(0))
  rs = agent.rollout.init(jax.random.PRNGKey(1))
  new_ts, _, metrics = agent.train_many(agent.init(jax.random.PRNGKey(0)), rs)
  assert all(math.isfinite(float(v)) for v in metrics.values())
  changed = jax.tree_util.tree_map(lambda a, b: bool(jnp.any(a != b)), ts.params,
                                   new_ts.params)
  assert all(jax.tree_util.tree_leaves(changed))


@pytest.mark.parametrize('field,value,message', [
    ('network.value_core', 'both', 'allowed values'),
    ('agent.advantage', 'td0', 'allowed values'),
    ('agent.gae_lambda', 1.5, '<= 1.0'),
    ('curriculum.field', 'cue_steps', 'allowed values'),
    ('curriculum.start', 101, 'from 0 to the target'),
    ('curriculum.metric', 'accuracy', 'allowed values'),
    ('curriculum.growth_factor', 0.5, '>= 1.0'),
])
def test_bad_fields_are_named(field, value, message):
  config = class_query.get_config()
  section, name = field.split('.')
  config[section][name] = value
  with pytest.raises(ConfigError, match=message) as e:
    validate(config)
  assert e.value.field == field


def test_curriculum_needs_an_integer_env_parameter():
  config = bandit_train.get_config('a3c')
  with config.unlocked():
    config.curriculum = class_query.get_config().curriculum
  with pytest.raises(ConfigError, match="no integer parameter"):
    validate(config)


@pytest.mark.slow
def test_the_lstm_answers_at_delay_1000_after_a_short_curriculum(tmp_path):
  """configs/class_query_long.py: a memory learnt in the first curriculum stages already
  answers at delay 1,000 (benchmarks/memory_cores.py part d: >= 95% on 200 episodes after
  2.6M env steps, ~13 s of training, for each of 3 seeds). Chance is 0.5."""
  from configs import class_query_long
  config = class_query_long.get_config()
  config.run_dir = str(tmp_path / 'run')
  config.total_env_steps = 4_000_000
  # the config's linear decay over 150M steps is still >= 97% of its start at 4M; over 4M
  # it would fall to 0 within the test
  config.agent.learning_rate_schedule = 'constant'
  config.checkpoint_every = 0
  validate(config)
  manager.train(config)
  evals = read_csv(os.path.join(config.run_dir, 'eval.csv'))
  assert int(evals[0]['target_queries']) == 200  # episodes at delay 1,000
  best = max(float(r['target_success']) for r in evals)
  assert best >= 0.9, [r['target_success'] for r in evals]
