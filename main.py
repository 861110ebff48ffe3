"""metarl entry point in a clone: python main.py --config=configs/x.py [--config.a.b=v ...]

The same as the `metarl` command an install gives (`launch/cli.py`).
"""

from launch.cli import load_config, run  # noqa: F401  (tests and scripts call load_config)

if __name__ == '__main__':
  run()
