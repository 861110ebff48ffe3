"""XLA's persistent compilation cache, shared by main.py and the tests."""

import os


def enable_compilation_cache() -> None:
  """Keeps XLA's compiled programs on disk so that a run of a config compiled before (other
  seeds, a rerun, a resume) starts without compiling. METARL_COMPILATION_CACHE names the
  folder (default ~/.cache/metarl/jax); set it to an empty string to turn the cache off."""
  path = os.environ.get('METARL_COMPILATION_CACHE',
                        os.path.join(os.path.expanduser('~'), '.cache', 'metarl', 'jax'))
  if not path:
    return
  import jax
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.2)
