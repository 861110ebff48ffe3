"""Offline analyses of trained agents and of people's play, registered by env name.

An analysis takes an `EvalRequest`: the env, the agent's evaluation policy
(`metarl.agents.base.EvalPolicy`, whatever the agent), the params it acts with and the
settings of the evaluation config; it never imports a particular agent. An env without an
analysis of its own gets the generic one: whole episodes played with the policy, their
record in eval_data.pickle and the env's `episode_metrics` in eval_summary.csv (the metrics
of eval.csv), so every agent on every env can be evaluated offline.
"""

import dataclasses
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from metarl.checkpoint import SavedParams
from metarl.envs.base import Environment, param_fields
from metarl.evaluation import make_evaluator
from metarl.io import save_csv, save_pickle, to_floats, to_numpy
from metarl.registry import Registry


class EvalRequest(NamedTuple):
  """What an analysis gets.

  Attributes:
    env: the env to evaluate on (the trained one, or a transfer the user asked for).
    policy: the agent's evaluation policy (`EvalPolicy`), built with `log_dynamics`.
    params: the params `policy.actor` takes ([seeds, ...] for an agent trained that way).
    saved: the params file read (the trained config, seeds, ...).
    num_episodes: episodes (or trials) to play.
    log_dynamics: save the network's activity (`hidden`) too.
    key: the PRNG key of the evaluation.
    out_dir: where the files go.
    options: the eval config, for analysis-specific fields (class_query's `delays`).
    offline: an evaluation of its own (False: the end-of-training analysis of a run).
  """
  env: Environment
  policy: Any
  params: Any
  saved: SavedParams | None
  num_episodes: int
  log_dynamics: bool
  key: Any
  out_dir: str
  options: Any = None
  offline: bool = True


@dataclasses.dataclass(frozen=True)
class Analysis:
  """A registered analysis.

  Attributes:
    env: the env name it analyses.
    analyze: `analyze(EvalRequest) -> summary dict`: plays and writes its files.
    played: optional `played(env, states, actions, rewards, out_dir, seed) -> summary`:
      the same files from a person's whole episodes (leaves [T, E]).
    num_episodes: its default number of episodes.
    log_dynamics: its default for saving the network's activity.
    summary_note: a line that says what its summary numbers are (shown after play).
  """
  env: str
  analyze: Callable[[EvalRequest], dict]
  played: Callable[..., dict] | None = None
  num_episodes: int = 1000
  log_dynamics: bool = True
  summary_note: str = ''


ANALYSES: Registry[Analysis] = Registry('analysis', builtin_package='metarl.analysis')


def register(analysis: Analysis) -> Analysis:
  return ANALYSES.register(analysis.env, analysis, module=analysis.analyze.__module__)


def analysis_for(env_name: str) -> Analysis:
  """The analysis registered for `env_name`, else the generic one."""
  if env_name in ANALYSES:
    return ANALYSES.get(env_name)
  return GENERIC


def recording_actor(request: EvalRequest):
  """An actor that reports the value, logits and activity of every step, for an analysis
  that reads the value whatever log_dynamics says: the request's policy when it records
  already (log_dynamics) or has no trained agent behind it, else the agent's evaluation
  policy built to record."""
  if request.log_dynamics or request.saved is None:
    return request.policy.actor
  from metarl.agents import registry as agent_registry  # the agents import analyses
  saved = request.saved
  return agent_registry.spec(saved.agent).eval_policy(saved.config, request.env, True).actor


def value_settings(saved: SavedParams | None) -> tuple[float, float] | None:
  """(gamma, reward_scale) with which an analysis reads a trained agent's value output as
  returns in reward units; None for params without an agent that has a gamma. An agent
  with no reward_scale field learns from the rewards as they are (scale 1)."""
  if saved is None or 'gamma' not in saved.config.agent:
    return None
  agent = saved.config.agent
  return float(agent.gamma), float(agent.reward_scale) if 'reward_scale' in agent else 1.0


# The generic analysis -----------------------------------------------------------------------

def batch_first(x) -> np.ndarray:
  """[T, E, ...] (a trajectory's layout) as [E, T, ...] (an analysis's episodes)."""
  return np.swapaxes(np.asarray(x), 0, 1)


def _write_generic(out_dir: str, who: str, states, actions, rewards, metrics,
                   hidden=None) -> dict:
  metrics = to_floats(metrics)
  states = to_numpy(states)
  data = dict(states={f: batch_first(getattr(states, f)) for f in param_fields(states)},
              actions=batch_first(actions), rewards=batch_first(rewards), metrics=metrics)
  if hidden is not None:
    data['hidden'] = hidden
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), data)
  save_csv(os.path.join(out_dir, 'eval_summary.csv'),
           [dict(method=who, num_episodes=np.asarray(rewards).shape[1], **metrics)])
  return metrics


def analyze_generic(request: EvalRequest) -> dict:
  """Whole episodes with the policy: eval_data.pickle (states, actions, rewards [E, T],
  metrics, and `hidden` [E, T, H] when recorded) and eval_summary.csv (the env's
  `episode_metrics`, method 'agent')."""
  if request.policy.actor is None:
    raise ValueError(f'the {request.saved.agent if request.saved else ""} agent does not act '
                     'and this env has no analysis of its own for it')
  evaluate = make_evaluator(request.env, request.policy.actor, request.num_episodes)
  result = jax.device_get(evaluate(request.params, request.key))
  traj = result.trajectory
  hidden = (batch_first(traj.extras['hidden']) if request.log_dynamics and
            'hidden' in traj.extras else None)
  return _write_generic(request.out_dir, 'agent', traj.env_state, traj.action, traj.reward,
                        result.metrics, hidden)


def played_generic(env, states, actions, rewards, out_dir: str, seed: int = 0) -> dict:
  """eval_data.pickle and eval_summary.csv (method 'human') of a person's episodes."""
  del seed
  return _write_generic(out_dir, 'human', states, actions, rewards,
                        env.episode_metrics(states, actions, rewards))


GENERIC = Analysis(env='', analyze=analyze_generic, played=played_generic,
                   num_episodes=100, log_dynamics=False)


def analyze_played(env_name: str, env, states, actions, rewards, out_dir: str,
                   seed: int = 0) -> dict:
  """Writes the files the agent's evaluation writes for `env_name`, from played episodes.

  The episodes are whole and of one length, recorded as the evaluator records an agent's:
  `states` the env states before each action (leaves [T, E]), `actions` [T, E, ...] and
  `rewards` [T, E].

  Returns:
    The analysis's summary numbers.
  """
  analysis = analysis_for(env_name)
  played = analysis.played or played_generic
  return played(env, states, actions, rewards, out_dir, seed)
