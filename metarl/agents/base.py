"""What an agent declares so that launch can run it without knowing it: `AgentSpec`.

An agent is one folder under `metarl/agents/` whose `__init__.py` ends with
`metarl.agents.registry.register(AgentSpec(...))`. The spec says which trainer kind runs it
and gives the kind the pieces it calls; launch dispatches once, on `spec.kind`:

  'gradients'  A3C-style: workers send gradients of on-policy rollouts, the manager applies
               them (single process: rollouts and updates fused in one jitted call).
               `make(config, env)` returns an object with the `GradientsAgent` members.
  'replay'     SAC-style: workers send chunks of steps into the manager's replay, the
               manager learns from it. `make(config, env)` returns the recurrent SAC pieces.
  'seeds'      TD-style: every seed trains in the manager, vmapped; no children.

Every agent also gives the policy its evaluation plays (`eval_policy`), so evaluation during
training and offline analysis work for every agent, and says which envs it can train on
(`supports(env)`: None, or the reason it cannot).
"""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from metarl.config_rules import Rule
from metarl.envs.base import Environment
from metarl.rollout import Actor

TRAINER_KINDS = ('gradients', 'replay', 'seeds')


class EvalPolicy(NamedTuple):
  """The frozen-weight policy evaluation plays.

  Attributes:
    actor: a `metarl.rollout.Actor` that acts with the params `select` gives (None for an
      agent that does not act, such as a value network).
    select: params as published to evaluators or saved in params.pickle (one seed) ->
      the params `actor` takes.
    value_evaluator: for agents that predict value instead of acting (td):
      `value_evaluator(env, gamma, num_trials) -> evaluate(params [S, ...], key)`, which
      returns (metrics, per-step values and activity, trials); None for acting agents.
    init: `init(key)` -> fresh params of the structure `select` gives (one seed): what
      saved params are checked against before they are used (`checkpoint.check_fit`).
  """
  actor: Actor | None
  select: Callable[[Any], Any]
  value_evaluator: Callable | None = None
  init: Callable[[Any], Any] | None = None


@dataclasses.dataclass(frozen=True)
class AgentSpec:
  """A registered agent.

  Attributes:
    name: the `config.agent.name` that selects it.
    kind: the trainer kind that runs it, one of `TRAINER_KINDS`.
    fields: its config sections and their fields: {'agent': {field: rule}, 'network':
      {...}, ...}; validation, defaults and command-line types derive from it ('agent'
      lists every field but `name`).
    make: `make(config, env)` -> the agent object of its trainer kind.
    eval_policy: `eval_policy(config, env, record)` -> `EvalPolicy`; with `record` the
      actor reports what analyses save (`hidden`, logits, ...) in its extras.
    supports: `supports(env)` -> None if the agent can train on `env`, else why not.
    check: optional `check(config, env)`: raises `ConfigError` (full field paths) for values
      that do not fit together or with the env.
    training_evaluator: optional `training_evaluator(config, env)` -> jitted
      `evaluate(published params, key) -> {metric: array}`, the evaluation of eval.csv when
      it is more than whole episodes of `eval_policy` (rsac's memory accuracy); None: the
      env's `episode_metrics` over `eval.num_episodes` episodes.
    shared_sections: sections of `fields` that hold other fields too (the run's `eval`
      section): their other fields are not refused as unknown.
  """
  name: str
  kind: str
  fields: Mapping[str, Mapping[str, Rule]]
  make: Callable[[Any, Environment], Any]
  eval_policy: Callable[[Any, Environment, bool], EvalPolicy]
  supports: Callable[[Environment], str | None]
  check: Callable[[Any, Environment], None] | None = None
  training_evaluator: Callable[[Any, Environment], Callable] | None = None
  shared_sections: tuple[str, ...] = ('eval',)

  def __post_init__(self):
    if self.kind not in TRAINER_KINDS:
      raise ValueError(f'agent {self.name!r}: kind must be one of {TRAINER_KINDS}, got '
                       f'{self.kind!r}')


def discrete_episodic(env: Environment) -> str | None:
  """`supports` of agents that sample discrete actions and evaluate whole episodes."""
  if not env.spec.num_actions:
    return 'it needs discrete actions (the env has none)'
  if not env.max_episode_steps:
    return 'it evaluates whole episodes: the env needs a fixed max_episode_steps'
  return None
