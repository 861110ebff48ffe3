"""The trainer kinds, one module each, and the one place a run picks its trainer: by the
kind its agent's spec declares (`metarl.agents.base.TRAINER_KINDS`)."""

from launch.trainers.base import Trainer
from launch.trainers.gradients import GradientsTrainer
from launch.trainers.replay import ReplayTrainer
from launch.trainers.seeds import SeedsTrainer
from metarl import envs
from metarl.agents import registry as agent_registry

TRAINERS = {'gradients': GradientsTrainer, 'replay': ReplayTrainer, 'seeds': SeedsTrainer}


def make_trainer(config) -> Trainer:
  """The trainer of `config` (validated and completed): its agent's kind, built for its env."""
  spec = agent_registry.spec(config.agent.name)
  return TRAINERS[spec.kind](config, spec, envs.make(config.env))


__all__ = ['GradientsTrainer', 'ReplayTrainer', 'SeedsTrainer', 'TRAINERS', 'Trainer',
           'make_trainer']
