"""How metarl sets XLA up in a process before JAX starts: its persistent compilation cache,
shared by main.py and the tests, the CPU devices a run of several seeds spreads over, and how
processes share a GPU."""

import os

DEVICE_COUNT_FLAG = '--xla_force_host_platform_device_count'
MIN_COMPILE_TIME_VARIABLE = 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'


def expose_cpu_cores() -> None:
  """Makes XLA show each CPU core as a device of its own (up to 8), so that a run of several
  seeds (`num_seeds`) can put its seeds on different cores: XLA runs one program per device,
  each on its own thread. A single computation still runs on the first device, as before.
  Must run before JAX starts its CPU backend; XLA_FLAGS that already set the count win."""
  flags = os.environ.get('XLA_FLAGS', '')
  if DEVICE_COUNT_FLAG in flags:
    return
  cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  os.environ['XLA_FLAGS'] = f'{flags} {DEVICE_COUNT_FLAG}={max(1, min(cores or 1, 8))}'.strip()


def share_accelerators() -> None:
  """Has JAX allocate GPU memory as it needs it instead of reserving 75% of the GPU at
  start (XLA_PYTHON_CLIENT_PREALLOCATE=false), so a run's worker and evaluator processes
  and a sweep's parallel runs, which inherit this environment, fit on one GPU beside the
  manager. A value the user set (XLA_PYTHON_CLIENT_PREALLOCATE or
  XLA_PYTHON_CLIENT_MEM_FRACTION) wins. No effect on a CPU; must run before JAX starts."""
  if 'XLA_PYTHON_CLIENT_MEM_FRACTION' not in os.environ:
    os.environ.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')


def enable_compilation_cache() -> str | None:
  """Keeps XLA's compiled programs on disk so that a run of a config compiled before (other
  seeds, a rerun, a resume) starts without compiling. METARL_COMPILATION_CACHE names the
  folder (default ~/.cache/metarl/jax); set it to an empty string to turn the cache off.
  Compiled programs are code: a folder that is not this user's alone (`private_dir`; made
  0700 here) is not used, with a warning. Programs that compiled in under 0.2 s are not
  kept unless JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS says otherwise (the tests keep
  every one). Returns the folder in use, or None."""
  path = os.environ.get('METARL_COMPILATION_CACHE',
                        os.path.join(os.path.expanduser('~'), '.cache', 'metarl', 'jax'))
  if not path:
    return None
  from metarl import private_dir
  problem = private_dir.ensure(path)
  if problem:
    from absl import logging
    logging.warning('XLA compilation cache off: %s (set METARL_COMPILATION_CACHE to a '
                    'folder of your own)', problem)
    return None
  import jax
  jax.config.update('jax_compilation_cache_dir', path)
  if MIN_COMPILE_TIME_VARIABLE not in os.environ:
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.2)
  return path
