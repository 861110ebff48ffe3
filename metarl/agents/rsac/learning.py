"""The recurrent SAC learner: separate actor, critic and temperature optimizers, Polyak
targets, update intervals and warm-ups, and `n` training ticks fused in one `lax.scan`.

A tick is one chance to update: the critic trains on ticks divisible by
`critic_update_interval` once `critic_warmup_steps` env steps were collected, the actor and
the temperature on ticks divisible by `actor_update_interval` after `actor_warmup_steps`
(RLtools: every step and every 2nd step, after 1000 and 10000 steps). Critic and actor
draw their own sequence batches. After every critic update the target critics move by
`tau` toward the online ones. An update whose loss or gradient holds a NaN or an Inf is
skipped (that network, its optimizer and its update count stay as they were) and counted.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from metarl.agents.optim import all_finite
from metarl.agents.rsac import losses
from metarl.networks.sac import SACNetworks
from metarl.replay import sequence as replay_lib
from metarl.types import Array, Params, PRNGKey

METRICS = ('critic_loss', 'q_mean', 'target_mean', 'actor_loss', 'entropy', 'alpha_loss',
           'alpha')


class SACParams(NamedTuple):
  actor: Params
  critic: Params  # twin critics stacked on a leading axis of 2
  target_critic: Params
  log_alpha: Array


class LearnerState(NamedTuple):
  params: SACParams
  actor_opt: Any
  critic_opt: Any
  alpha_opt: Any
  ticks: Array  # int32: ticks done
  critic_updates: Array
  actor_updates: Array
  bad_streak: Array  # int32: skipped updates (NaN or Inf) since a tick without one


class LearnerConfig(NamedTuple):
  loss: losses.LossConfig
  replay: replay_lib.ReplayConfig
  batch_size: int = 4
  tau: float = 0.005
  initial_alpha: float = 1.0
  adaptive_alpha: bool = True
  critic_update_interval: int = 1
  actor_update_interval: int = 2
  critic_warmup_steps: int = 1000
  actor_warmup_steps: int = 1000
  actor_lr: float = 1e-4
  critic_lr: float = 1e-3
  alpha_lr: float = 1e-3
  max_grad_norm: float = 0.0  # 0: no clipping


class Learner(NamedTuple):
  init: Callable[[PRNGKey], LearnerState]
  train: Callable[..., Any]  # (state, replay, env_steps, key) -> (state, metrics)
  # (state, replay, env_steps, keys [n]) -> (state, per-tick metrics [n]), not jitted
  run_ticks: Callable[..., Any]


def _adam(lr: float, max_grad_norm: float) -> optax.GradientTransformation:
  if max_grad_norm > 0:
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(lr))
  return optax.adam(lr)


def make_learner(networks: SACNetworks, config: LearnerConfig, num_ticks: int) -> Learner:
  """Builds `init` and the jitted `train` that runs `num_ticks` ticks on one replay."""
  actor_opt = _adam(config.actor_lr, config.max_grad_norm)
  critic_opt = _adam(config.critic_lr, config.max_grad_norm)
  alpha_opt = optax.adam(config.alpha_lr)

  def init(key: PRNGKey) -> LearnerState:
    actor_key, critic_key = jax.random.split(key)
    actor = networks.actor_init(actor_key)
    critic = networks.critic_init(critic_key)
    log_alpha = jnp.asarray(jnp.log(config.initial_alpha), jnp.float32)
    params = SACParams(actor=actor, critic=critic, target_critic=critic, log_alpha=log_alpha)
    zero = jnp.zeros((), jnp.int32)
    return LearnerState(params=params, actor_opt=actor_opt.init(actor),
                        critic_opt=critic_opt.init(critic), alpha_opt=alpha_opt.init(log_alpha),
                        ticks=zero, critic_updates=zero, actor_updates=zero,
                        bad_streak=zero)

  # A skipped update keeps the state through a cond, not a select per leaf: the selects
  # were ~50 extra kernels per update.
  def critic_update(state: LearnerState, batch, key) -> tuple[LearnerState, dict[str, Array]]:
    p = state.params
    grads, metrics = jax.grad(losses.critic_loss, has_aux=True)(
        p.critic, p.actor, p.target_critic, p.log_alpha, batch, key, networks, config.loss)
    ok = all_finite(grads, metrics['critic_loss'])

    def apply(s: LearnerState) -> LearnerState:
      updates, opt = critic_opt.update(grads, s.critic_opt, s.params.critic)
      critic = optax.apply_updates(s.params.critic, updates)
      target = optax.incremental_update(critic, s.params.target_critic, config.tau)
      return s._replace(params=s.params._replace(critic=critic, target_critic=target),
                        critic_opt=opt, critic_updates=s.critic_updates + 1)

    state = jax.lax.cond(ok, apply, lambda s: s, state)
    return state, dict(metrics, critic_skipped=_skipped(ok))

  def actor_update(state: LearnerState, batch, key) -> tuple[LearnerState, dict[str, Array]]:
    p = state.params
    grads, metrics = jax.grad(losses.actor_loss, has_aux=True)(
        p.actor, p.critic, p.log_alpha, batch, key, networks, config.loss)
    log_alpha, a_opt = p.log_alpha, state.alpha_opt
    a_loss = losses.alpha_loss(log_alpha, metrics['logp_mean'], config.loss.target_entropy)
    if config.adaptive_alpha:
      a_grad = jax.grad(losses.alpha_loss)(log_alpha, metrics['logp_mean'],
                                           config.loss.target_entropy)
      a_updates, a_opt = alpha_opt.update(a_grad, a_opt, log_alpha)
      log_alpha = optax.apply_updates(log_alpha, a_updates)
    out = {'actor_loss': metrics['actor_loss'], 'entropy': metrics['entropy'],
           'alpha_loss': a_loss}
    ok = all_finite(grads, metrics['actor_loss'], log_alpha)

    def apply(s: LearnerState) -> LearnerState:
      updates, opt = actor_opt.update(grads, s.actor_opt, s.params.actor)
      actor = optax.apply_updates(s.params.actor, updates)
      return s._replace(params=s.params._replace(actor=actor, log_alpha=log_alpha),
                        actor_opt=opt, alpha_opt=a_opt, actor_updates=s.actor_updates + 1)

    state = jax.lax.cond(ok, apply, lambda s: s, state)
    return state, dict(out, actor_skipped=_skipped(ok))

  def tick(state: LearnerState, replay: replay_lib.ReplayState, env_steps: Array,
           key: PRNGKey) -> tuple[LearnerState, dict[str, Array]]:
    keys = jax.random.split(key, 4)
    do_critic = ((state.ticks % config.critic_update_interval == 0)
                 & (env_steps >= config.critic_warmup_steps))
    do_actor = ((state.ticks % config.actor_update_interval == 0)
                & (env_steps >= config.actor_warmup_steps))

    def run_critic(s):
      batch = losses.time_major(replay_lib.sample(keys[0], replay, config.replay,
                                                  config.batch_size))
      return critic_update(s, batch, keys[1])

    def skip_critic(s):
      return s, {k: jnp.zeros(()) for k in ('critic_loss', 'q_mean', 'target_mean',
                                            'critic_skipped')}

    def run_actor(s):
      batch = losses.time_major(replay_lib.sample(keys[2], replay, config.replay,
                                                  config.batch_size))
      return actor_update(s, batch, keys[3])

    def skip_actor(s):
      return s, {k: jnp.zeros(()) for k in ('actor_loss', 'entropy', 'alpha_loss',
                                            'actor_skipped')}

    state, c_metrics = jax.lax.cond(do_critic, run_critic, skip_critic, state)
    state, a_metrics = jax.lax.cond(do_actor, run_actor, skip_actor, state)
    skipped = c_metrics.pop('critic_skipped') + a_metrics.pop('actor_skipped')
    # the streak ends with a tick whose updates all went through (a critic that keeps
    # failing is not hidden by a healthy actor)
    streak = jnp.where(skipped > 0, state.bad_streak + skipped.astype(jnp.int32),
                       jnp.where(do_critic | do_actor, 0, state.bad_streak))
    state = state._replace(bad_streak=streak)
    metrics = dict(c_metrics, **a_metrics, alpha=jnp.exp(state.params.log_alpha),
                   skipped_updates=skipped,
                   did_critic=do_critic.astype(jnp.float32),
                   did_actor=do_actor.astype(jnp.float32))
    return state._replace(ticks=state.ticks + 1), metrics

  def run_ticks(state: LearnerState, replay: replay_lib.ReplayState, env_steps: Array,
                keys: Array) -> tuple[LearnerState, dict[str, Array]]:
    def body(s, k):
      return tick(s, replay, env_steps, k)
    return jax.lax.scan(body, state, keys)

  def train(state: LearnerState, replay: replay_lib.ReplayState, env_steps: Array,
            key: PRNGKey) -> tuple[LearnerState, dict[str, Array]]:
    state, metrics = run_ticks(state, replay, env_steps, jax.random.split(key, num_ticks))
    return state, summarize(metrics)

  return Learner(init=jax.jit(init), train=jax.jit(train), run_ticks=run_ticks)


def summarize(metrics: dict[str, Array]) -> dict[str, Array]:
  """Means of per-tick metrics over the ticks that updated (sums of the update counts)."""
  critic_n = metrics['did_critic'].sum()
  actor_n = metrics['did_actor'].sum()
  out = {}
  for k in ('critic_loss', 'q_mean', 'target_mean'):
    out[k] = metrics[k].sum() / jnp.maximum(critic_n, 1)
  for k in ('actor_loss', 'entropy', 'alpha_loss'):
    out[k] = metrics[k].sum() / jnp.maximum(actor_n, 1)
  out['alpha'] = metrics['alpha'][-1]
  out['critic_updates'] = critic_n
  out['actor_updates'] = actor_n
  out['skipped_updates'] = metrics['skipped_updates'].sum()
  return out


def _skipped(ok: Array) -> Array:
  return 1.0 - ok.astype(jnp.float32)
