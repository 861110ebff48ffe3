import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

# In-process runs see the machine as main.py does: each CPU core an XLA device (so runs of
# several seeds spread over them), and the persistent compilation cache (a test that trains
# the same config more than once, or a config another test compiled, compiles it once).
from metarl.compilation import enable_compilation_cache, expose_cpu_cores  # noqa: E402

expose_cpu_cores()
enable_compilation_cache()

# The tests evaluate 8 episodes wherever the number does not matter (in training and
# offline): the programs that play them are then compiled once for the whole test run and
# read from the compilation cache by every other test of the same agent and task.


import importlib.util  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def hide_package(monkeypatch):
  """`hide_package(name)`: importlib.util.find_spec says `name` is not installed (how
  validation is told an optional package is missing) until the test ends."""
  real = importlib.util.find_spec

  def hide(name):
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda wanted, *a: None if wanted == name else real(wanted, *a))
  return hide
