"""The one line the command line prints for a command it refuses, found in this process.

`main.py` parses and validates its command line in `launch.cli.load_config` (absl's app.run
prints the SystemExit that raises, and exits 1), then runs the config and turns the errors
of `launch.cli.STOPS` into one line; doing the same here gives the same line without the
seconds a new Python process and JAX take to start. Each file that checks refusals this way
also runs one through the real `main.py`, so the wiring stays checked."""

from launch.cli import STOPS, execute, load_config


def refusal(*args: str, run: bool = False) -> str:
  """The line `main.py ARGS` stops with: refused by validation, or with `run` also when the
  config runs (as play refuses an env it cannot play). Fails the test unless it is exactly
  one line starting 'metarl: '."""
  try:
    config = load_config(['main.py', *args])
    if run:
      execute(config)
  except SystemExit as e:
    message = str(e.code)
  except STOPS as e:
    message = f'metarl: {e}'
  else:
    raise AssertionError(f'main.py {" ".join(args)} was not refused')
  assert len(message.splitlines()) == 1 and message.startswith('metarl: '), message
  return message
