import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

# In-process runs see the machine as main.py does: each CPU core an XLA device (so runs of
# several seeds spread over them), and the persistent compilation cache (a test that trains
# the same config more than once, or a config another test compiled, compiles it once).
from metarl import xla_setup  # noqa: E402

# The tests are bound by compilation, not by running what they compile: XLA compiles at
# its lowest backend optimisation level (about 40% less compile time; the programs compute
# the same, in slower machine code), and the cache keeps every program, the small ones that
# run op by op outside jit included, for the other test process and the main.py processes
# tests start (both inherit this environment). Flags the caller set win.
if '--xla_backend_optimization_level' not in os.environ.get('XLA_FLAGS', ''):
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '')
                             + ' --xla_backend_optimization_level=0').strip()
os.environ.setdefault(xla_setup.MIN_COMPILE_TIME_VARIABLE, '0')
xla_setup.expose_cpu_cores()
xla_setup.enable_compilation_cache()

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
