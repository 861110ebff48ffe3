import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

# In-process runs use the persistent compilation cache as main.py does, so a test that
# trains the same config more than once (interrupt and resume) compiles it once.
from metarl.compilation import enable_compilation_cache  # noqa: E402

enable_compilation_cache()
