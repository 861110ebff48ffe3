"""The manager: trains as a config says, in this process and its children.

`train(config)` completes the config with its components' defaults, prepares the run
directory (config.json, log.txt), and runs the trainer of the agent's kind
(`launch.trainers`): the one place a run is dispatched. Files in `run_dir`: config.json,
log.txt, train.csv, eval.csv, params.pickle, checkpoints/ and, with `log.tensorboard`,
tensorboard/ (the numeric columns of train.csv and eval.csv as scalars).

What a run survives: a child that dies, raises or stays silent too long is replaced from the
newest params (up to launch.max_restarts; then a final checkpoint and a clear error);
Ctrl-C / SIGTERM take effect between compiled calls or messages, then params and a final
checkpoint are written and every child is stopped; updates with a NaN or Inf are skipped,
and config.max_bad_updates of them in a row stop the run (`TrainingDiverged`).
"""

import os

from absl import logging

from launch import validation
from launch.console import add_log_file
from launch.run_folder import prepare_run_dir
from launch.stopping import TrainingDiverged
from launch.trainers import make_trainer

__all__ = ['TrainingDiverged', 'prepare_run_dir', 'train']


def train(config) -> str:
  """Trains as `config` (validated) says; returns the run directory."""
  validation.complete(config)  # every default in the config (main.load_config did it too)
  folder = prepare_run_dir(config)  # held (locked) until the run ends
  handler = add_log_file(os.path.join(config.run_dir, 'log.txt'))
  try:
    return make_trainer(config).run()
  finally:
    logging.get_absl_logger().removeHandler(handler)
    handler.close()
    folder.release()
