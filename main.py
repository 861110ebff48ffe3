"""metarl entry point: python main.py --config=configs/x.py [--config.a.b=v ...]

The config's `mode` picks what runs: 'train' (the manager and its processes) or 'eval'
(offline analysis of saved params). The config is validated in full before anything starts.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from metarl.io import RunFileError
from metarl.validation import ConfigError, validate

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py).', lock_config=True)
flags.mark_flags_as_required(['config'])


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  try:
    validate(config)
  except ConfigError as e:
    sys.exit(f'metarl: {e}')
  logging.set_verbosity(logging.INFO)
  try:
    if config.mode == 'train':
      from launch.manager import train
      run_dir = train(config)
      print(f'run written to {run_dir}')
    else:
      from launch.evaluator import run_offline_evaluation
      out_dir = run_offline_evaluation(config)
      print(f'evaluation written to {out_dir}')
  except RunFileError as e:
    sys.exit(f'metarl: {e}')
  except KeyboardInterrupt:
    sys.exit('metarl: interrupted; children stopped, params saved')


if __name__ == '__main__':
  app.run(main)
