"""metarl entry point: python main.py --config=configs/x.py [--config.a.b=v ...]

The config's `mode` picks what runs: 'train' (the manager and its processes) or 'eval'
(offline analysis of saved params). The config is validated in full before anything starts.
"""

import ast
import os
import re
import signal
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from launch.backends import ChildFailed
from launch.manager import TrainingDiverged
from metarl.io import RunFileError
from metarl.validation import ConfigError, validate

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py).', lock_config=True)
flags.mark_flags_as_required(['config'])


def parse_flags(argv):
  """absl flag parsing, with a one-line message for an unknown config field.

  ml_collections refuses overrides of fields the config does not have by raising inside
  flag parsing; absl would print that as a traceback.
  """
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f'metarl: {e}\nPass --helpfull to see the flags.')
  except (AttributeError, KeyError) as e:
    text = str(e)
    try:  # ml_collections nests the repr of its message
      text = str(ast.literal_eval(text))
    except (ValueError, SyntaxError):
      pass
    found = re.search(r"'([^']+)'", text)
    key = found.group(1) if found else text
    hint = text.split('\n', 1)[1] if '\n' in text else ''
    bad = [a.split('=')[0] for a in argv[1:]
           if a.startswith('--config.') and key in a.split('=')[0].split('.')]
    where = bad[0] if bad else 'a --config override'
    sys.exit(f'metarl: {where}: the config has no field {key!r}. {hint}'.strip())


def enable_compilation_cache() -> None:
  """Keeps XLA's compiled programs on disk so that a run of a config compiled before (other
  seeds, a rerun) starts without compiling. METARL_COMPILATION_CACHE names the folder
  (default ~/.cache/metarl/jax); set it to an empty string to turn the cache off."""
  path = os.environ.get('METARL_COMPILATION_CACHE',
                        os.path.join(os.path.expanduser('~'), '.cache', 'metarl', 'jax'))
  if not path:
    return
  import jax
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.2)


def _raise_interrupt(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  try:
    validate(config)
  except ConfigError as e:
    sys.exit(f'metarl: {e}')
  logging.set_verbosity(logging.INFO)
  enable_compilation_cache()
  signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` stops a run like Ctrl-C
  try:
    if config.mode == 'train':
      from launch.manager import train
      run_dir = train(config)
      print(f'run written to {run_dir}')
    else:
      from launch.evaluator import run_offline_evaluation
      out_dir = run_offline_evaluation(config)
      print(f'evaluation written to {out_dir}')
  except (RunFileError, ChildFailed, ConfigError, TrainingDiverged) as e:
    sys.exit(f'metarl: {e}')
  except KeyboardInterrupt:
    sys.exit('metarl: interrupted; children stopped, params saved')


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
