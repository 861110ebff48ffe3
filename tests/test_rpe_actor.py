"""The actor that reads the critic's RPE (Wang et al. 2018, simulation 6): its unroll is the
step-by-step loop, the RPE it reads is s r + gamma V_t - V_{t-1} of the critic's own values
(0 at an episode's start), a perturbation sets it after a given reward, no policy gradient
reaches the critic; and the risky-choice analysis reads P(risky) per condition."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from metarl.agents import actor_critic
from metarl.analysis import risky_choice
from metarl.config_rules import ConfigError
from metarl.envs import make
from metarl.networks.policy_value import RpeConfig, make_policy_value_networks

T, B = 7, 3


def networks(override=None, gamma=0.9, reward_scale=1.0):
  return make_policy_value_networks(
      2, (5,), 'lstm', 8, value_core='rpe',
      rpe=RpeConfig(reward_index=2, reward_factor=4.0, gamma=gamma, reward_scale=reward_scale,
                    override=override))


def inputs():
  obs = jax.random.uniform(jax.random.PRNGKey(1), (T, B, 5))
  obs = obs.at[..., 2].set(jnp.array([0.0, 0.25, 1.0])[
      jax.random.randint(jax.random.PRNGKey(2), (T, B), 0, 3)])  # rewards 0, 1 or 4
  first = jnp.zeros((T, B), bool).at[0].set(True).at[4, 1].set(True)
  return obs, first


def test_the_unroll_is_the_step_by_step_loop():
  nets = networks()
  params = nets.init(jax.random.PRNGKey(0))
  obs, first = inputs()
  out, final = nets.unroll(params, obs, first, nets.initial_state(B))
  state, steps = nets.initial_state(B), []
  for t in range(T):
    o, state = nets.step(params, obs[t], first[t], state)
    steps.append(o)
  for name in ('logits', 'value', 'hidden'):
    np.testing.assert_allclose(np.stack([getattr(o, name) for o in steps]),
                               getattr(out, name), rtol=1e-5, atol=1e-6)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                         final, state)


@pytest.mark.parametrize('gamma,scale', [(0.9, 1.0), (0.5, 2.0)])
def test_the_actor_reads_the_critic_s_rpe_in_place_of_the_reward(gamma, scale):
  """Two observations that differ only in the reward entry give the same critic values;
  the actor's output then changes exactly as an actor fed delta = s r + gamma V - V_prev by
  hand does."""
  nets = networks(gamma=gamma, reward_scale=scale)
  params = nets.init(jax.random.PRNGKey(0))
  obs, first = inputs()
  out, _ = nets.unroll(params, obs, first, nets.initial_state(B))
  values = np.asarray(out.value)
  previous = np.concatenate([np.zeros((1, B)), values[:-1]])
  delta = scale * 4.0 * np.asarray(obs[..., 2]) + gamma * values - previous
  delta = np.where(np.asarray(first), 0.0, delta)
  # the same network with value_core 'separate' reads the raw observation: fed the RPE by
  # hand in the reward entry, its policy must match (its params are the same modules)
  plain = make_policy_value_networks(2, (5,), 'lstm', 8, value_core='separate')
  by_hand = obs.at[..., 2].set(jnp.asarray(delta, jnp.float32))
  plain_out, _ = plain.unroll(params, by_hand, first, plain.initial_state(B))
  np.testing.assert_allclose(plain_out.logits, out.logits, rtol=1e-4, atol=1e-5)


def test_a_perturbation_sets_the_rpe_after_its_reward():
  obs, first = inputs()
  params = networks().init(jax.random.PRNGKey(0))
  out, _ = networks(override=(4.0, -4.0)).unroll(params, obs, first,
                                                 networks().initial_state(B))
  values = np.asarray(out.value)
  previous = np.concatenate([np.zeros((1, B)), values[:-1]])
  reward = 4.0 * np.asarray(obs[..., 2])
  delta = np.where(np.isclose(reward, 4.0), -4.0, reward + 0.9 * values - previous)
  delta = np.where(np.asarray(first), 0.0, delta)
  plain = make_policy_value_networks(2, (5,), 'lstm', 8, value_core='separate')
  plain_out, _ = plain.unroll(params, obs.at[..., 2].set(jnp.asarray(delta, jnp.float32)),
                              first, plain.initial_state(B))
  np.testing.assert_allclose(plain_out.logits, out.logits, rtol=1e-4, atol=1e-5)


def test_no_policy_gradient_reaches_the_critic():
  nets = networks()
  params = nets.init(jax.random.PRNGKey(0))
  obs, first = inputs()
  grads = jax.grad(lambda p: nets.unroll(p, obs, first, nets.initial_state(B))[0]
                   .logits.sum())(params)
  for module in ('value', 'value_core/linear'):
    assert all(float(jnp.abs(g).max()) == 0.0 for g in grads[module].values()), module
  assert float(jnp.abs(grads['policy']['w']).max()) > 0


def test_the_rpe_network_needs_an_env_that_says_where_the_reward_is():
  config = ConfigDict(dict(network=dict(core='lstm', value_core='rpe', core_layers=1,
                                        init='haiku'),
                           agent=dict(name='a3c', gamma=0.9, reward_scale=1.0),
                           env=dict(name='two_step')))
  with pytest.raises(ConfigError, match='env.reward_slot'):
    actor_critic.check_network(config, make(ConfigDict({'name': 'two_step'})))
  actor_critic.check_network(config, make(ConfigDict({'name': 'risky_bandit'})))


def synthetic(p_risky_by_prob, episodes=200, seed=0):
  """Free choices of the risky arm with the given chance per risky probability."""
  rng = np.random.default_rng(seed)
  p = np.where(rng.uniform(size=episodes) < 0.5, 0.125, 0.5)[:, None] * np.ones((1, 30))
  side = rng.integers(0, 2, episodes)[:, None] * np.ones((1, 30), int)
  free = np.broadcast_to(np.arange(30) >= 10, (episodes, 30))
  chance = np.where(np.isclose(p, 0.125), p_risky_by_prob[0], p_risky_by_prob[1])
  risky = rng.uniform(size=(episodes, 30)) < chance
  arm = np.where(risky, side, 1 - side)
  return dict(action=arm, arm=arm, reward=np.zeros((episodes, 30)), risky_side=side, p=p,
              free=free)


def test_the_analysis_reads_p_risky_per_condition_and_its_direction(tmp_path):
  by_condition = {'control': synthetic((0.3, 0.6)),
                  'risky_reward': synthetic((0.1, 0.3), seed=1),
                  'safe_choice': synthetic((0.5, 0.8), seed=2),
                  'risky_loss': synthetic((0.2, 0.4), seed=3)}
  summary = risky_choice.write_results(str(tmp_path), by_condition)
  assert abs(summary['p_risky_control_0.125'] - 0.3) < 0.03
  assert abs(summary['p_risky_control_0.5'] - 0.6) < 0.03
  assert summary['perturbations_as_published'] == 2.0  # risky_loss went down, not up
  assert (tmp_path / 'risky_choice.png').exists() and (tmp_path / 'risky_choice.pdf').exists()
