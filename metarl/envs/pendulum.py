"""The inverted pendulum swing-up with gymnasium's Pendulum-v1 dynamics.

A pendulum of mass m = 1 and length l = 1 under gravity g = 10 starts at an angle
theta ~ U(-pi, pi) (0 is upright) with angular velocity theta_dot ~ U(-1, 1). The agent's
continuous action a in [-1, 1] (clipped) applies the torque u = 2 * a. Each step of
dt = 0.05 costs angle_normalize(theta)^2 + 0.1 * theta_dot^2 + 0.001 * u^2 (the reward is
minus that, computed on the state before the step), then

  theta_dot' = clip(theta_dot + (3 g / (2 l) sin(theta) + 3 / (m l^2) u) dt, -8, 8)
  theta' = theta + theta_dot' dt

(theta itself is not wrapped, as in gymnasium). The observation is
[cos theta, sin theta, theta_dot], or [cos theta, sin theta] with `observe_velocity=False`
(a partially observed variant that needs memory). An episode is truncated after
`episode_step_limit` steps (`last=True` with discount 1) and the same time step already
holds the next episode's first observation (`first=True`), as in `metarl.types.TimeStep`.

Random stream contract: at truncation `step(key)` returns `reset(key)` itself.

Config fields (`FIELDS`): observe_velocity, episode_step_limit.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from metarl import config_rules as rules
from metarl.envs import base
from metarl.envs.registry import register
from metarl.envs.words import Words
from metarl.types import Array, PRNGKey, TimeStep

GRAVITY = 10.0
MASS = 1.0
LENGTH = 1.0
DT = 0.05
MAX_SPEED = 8.0
MAX_TORQUE = 2.0


@base.env_params
class PendulumParams:
  """Pendulum-v1 has no per-copy settings: an empty pytree (jits, vmaps, batches)."""


class PendulumState(NamedTuple):
  theta: Array  # float32 angle (0 upright), not wrapped
  theta_dot: Array  # float32 angular velocity
  t: Array  # int32 steps already taken in this episode


def angle_normalize(x: Array) -> Array:
  """Wraps an angle into [-pi, pi)."""
  return ((x + math.pi) % (2 * math.pi)) - math.pi


class Pendulum(base.Environment):
  """Pendulum-v1 swing-up with actions in [-1, 1] and truncated episodes."""

  def __init__(self, observe_velocity: bool = True, episode_step_limit: int = 200):
    self.observe_velocity = observe_velocity
    self.episode_step_limit = episode_step_limit

  @property
  def spec(self) -> base.EnvSpec:
    return base.EnvSpec(observation_shape=(3 if self.observe_velocity else 2,),
                        num_actions=0, action_dim=1)

  @property
  def max_episode_steps(self) -> int:
    return self.episode_step_limit

  def default_params(self) -> PendulumParams:
    return PendulumParams()

  def observation(self, state: PendulumState) -> Array:
    """[cos theta, sin theta, theta_dot], without theta_dot if velocity is hidden."""
    parts = [jnp.cos(state.theta), jnp.sin(state.theta)]
    if self.observe_velocity:
      parts.append(state.theta_dot)
    return jnp.stack(parts).astype(jnp.float32)

  def reset(self, key: PRNGKey, params: PendulumParams) -> tuple[PendulumState, TimeStep]:
    del params
    theta_key, theta_dot_key = jax.random.split(key)
    state = PendulumState(
        theta=jax.random.uniform(theta_key, (), jnp.float32, -math.pi, math.pi),
        theta_dot=jax.random.uniform(theta_dot_key, (), jnp.float32, -1.0, 1.0),
        t=jnp.zeros((), jnp.int32))
    return state, base.restart(self.observation(state))

  def step_env(self, key: PRNGKey, state: PendulumState, action: Array,
               params: PendulumParams) -> tuple[PendulumState, TimeStep]:
    del key
    a = jnp.clip(jnp.reshape(action, (1,))[0].astype(jnp.float32), -1.0, 1.0)
    u = MAX_TORQUE * a
    th, thdot = state.theta, state.theta_dot
    cost = angle_normalize(th) ** 2 + 0.1 * thdot ** 2 + 0.001 * u ** 2
    acceleration = 3 * GRAVITY / (2 * LENGTH) * jnp.sin(th) + 3.0 / (MASS * LENGTH ** 2) * u
    new_thdot = jnp.clip(thdot + acceleration * DT, -MAX_SPEED, MAX_SPEED)
    new_th = th + new_thdot * DT
    t = state.t + 1
    last = t >= self.episode_step_limit
    next_state = PendulumState(theta=new_th, theta_dot=new_thdot, t=t)
    return next_state, TimeStep(observation=self.observation(next_state),
                                reward=(-cost).astype(jnp.float32),
                                discount=jnp.ones((), jnp.float32), first=last, last=last)

  def episode_metrics(self, states: PendulumState, actions: Array,
                      rewards: Array) -> dict[str, Array]:
    """Mean return of the episodes that ended in the record, and reward per step.

    Args:
      states: the states acted in, leaves [T, B]; a step ends its episode where
        `t == episode_step_limit - 1`.
      actions: [T, B, 1] actions taken.
      rewards: [T, B] rewards received.

    Returns:
      {'mean_return': sum of rewards / episodes finished (the number of env copies B when
      none finished), 'mean_reward_per_step'} scalars.
    """
    del actions
    finished = jnp.sum(states.t == self.episode_step_limit - 1)
    episodes = jnp.where(finished > 0, finished, rewards.shape[1])
    return {'mean_return': rewards.sum() / episodes,
            'mean_reward_per_step': rewards.mean()}


class PendulumWords(Words):
  """The angle in degrees (and the velocity when observed), torques and rewards."""

  def intro(self) -> str:
    env = self.env
    seen = ('the angle and the angular velocity' if env.observe_velocity else
            'the angle only (not its velocity)')
    return (f'Pendulum swing-up: you see {seen}. Type a torque from -1 to 1 (x 2 N m; '
            'positive turns the pendulum toward positive angles); bring it upright (angle 0) '
            'and keep it there. The reward is -(angle^2 + 0.1 velocity^2 + 0.001 torque^2), angle in '
            f'radians. {env.episode_step_limit} steps of 0.05 s per episode.')

  def situation(self, step, state, timestep) -> str:
    obs = np.asarray(timestep.observation)
    angle = math.degrees(math.atan2(float(obs[1]), float(obs[0])))
    text = f'step {step + 1}/{self.env.episode_step_limit}: angle {angle:+.0f} deg'
    if self.env.observe_velocity:
      text += f', velocity {float(obs[2]):+.2f} rad/s'
    return text

  def outcome(self, prev_state, action, timestep) -> str:
    return f'torque {float(np.ravel(action)[0]):+.2f}: reward {float(timestep.reward):.2f}'

  def prompt(self, state) -> str:
    return 'torque [-1 to 1]'


FIELDS = {
    'observe_velocity': rules.Bool(default=True),
    'episode_step_limit': rules.Int(1, default=200),
}

register('pendulum', Pendulum, FIELDS, words=PendulumWords)
