"""metarl's native CPU kernels: built from their C++ source on first use, then cached.

`gru_kernel.cc` runs the GRU stack of `metarl.networks.gru` over a whole sequence, forward
and backward, as one XLA call each (see that file for why); `linear_scan.cc` does the same
for the LRU's linear recurrence (`metarl.networks.lru`). They are compiled into one library
with the machine's C++ compiler against the XLA FFI headers that ship with jaxlib, once per
source,
jax version, compiler and CPU, into `$METARL_NATIVE_CACHE` (default
`~/.cache/metarl/native`, a folder that must be the user's alone), and registered with XLA
as a custom call.

Where no compiler is found, the build fails, the backend is not the CPU, or the
environment says `METARL_NATIVE=0`, `available()` is False and the networks use the same
computation written in JAX (`metarl.networks.gru`, `metarl.networks.lru`): same results to
float rounding, more time per step on a CPU. `status()` says which and why (log.txt records it for each run).
"""

import ctypes
import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading

import jax
from absl import logging

from metarl import private_dir
from metarl.io import atomic_write_bytes

SOURCES = tuple(os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
                for name in ('gru_kernel.cc', 'linear_scan.cc'))
FORWARD = 'metarl_gru_forward'
BACKWARD = 'metarl_gru_backward'
SCAN_FORWARD = 'metarl_linear_scan_forward'
SCAN_BACKWARD = 'metarl_linear_scan_backward'

_lock = threading.Lock()
_state = {'tried': False, 'ok': False, 'why': 'not tried yet'}


def cache_dir() -> str:
  return os.environ.get('METARL_NATIVE_CACHE') or os.path.join(
      os.path.expanduser('~'), '.cache', 'metarl', 'native')


def _cpu_signature() -> str:
  """What the compiled code may assume of the CPU (-march=native): its flags."""
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith(('flags', 'Features')):
          return line
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _compiler() -> str | None:
  for name in (os.environ.get('CXX'), 'c++', 'g++', 'clang++'):
    if name and shutil.which(name):
      return shutil.which(name)
  return None


def _compiler_version(cxx: str) -> str:
  try:
    return subprocess.run([cxx, '--version'], capture_output=True, text=True,
                          timeout=30).stdout
  except (OSError, subprocess.SubprocessError):
    return ''


def _flags() -> list:
  flags = ['-O3', '-std=c++17', '-shared', '-fPIC', '-fno-math-errno']
  machine = platform.machine()
  if machine in ('x86_64', 'AMD64'):
    flags += ['-march=native', '-mprefer-vector-width=512']
  elif machine in ('aarch64', 'arm64'):
    flags += ['-mcpu=native']
  return flags


def _recorded_hash(target: str) -> str | None:
  try:
    with open(target + '.sha256', encoding='ascii') as f:
      return f.read().strip()
  except OSError:
    return None


def _build(cxx: str) -> str:
  """The path of the compiled library, compiling it unless a trusted cached build exists.

  The cache folder must be this user's alone (made 0700; `private_dir`), else nothing is
  built or loaded there. A cached library is used only if it is a regular file this user
  owns, no one else can write, with the SHA-256 recorded when it was built here; any other
  is rebuilt. Builds hold the folder's lock, so concurrent processes build once.
  """
  sources = []
  for path in SOURCES:
    with open(path, 'rb') as f:
      sources.append(f.read())
  flags = _flags()
  key = hashlib.sha256(b'\0'.join([
      *sources, ' '.join(flags).encode(), jax.__version__.encode(),
      _compiler_version(cxx).encode(), _cpu_signature().encode(),
      platform.machine().encode()])).hexdigest()[:16]
  folder = cache_dir()
  problem = private_dir.ensure(folder)
  if problem:
    raise RuntimeError(f'the kernel cache {problem}: nothing is built or loaded there (set '
                       'METARL_NATIVE_CACHE to a folder of your own)')
  target = os.path.join(folder, f'kernels-{key}.so')
  lock = os.open(os.path.join(folder, '.build.lock'),
                 os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
  try:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if os.path.lexists(target):
      recorded = _recorded_hash(target)
      problem = private_dir.check_file(target, recorded)
      if problem is None:
        return target
      # a build of an older metarl has no recorded hash: rebuilt quietly; anything else is
      # a library metarl did not build here, worth a word
      (logging.info if recorded is None else logging.warning)(
          'native kernels: %s; building it again', problem)
      os.remove(target)
    _compile(cxx, flags, target)
  finally:
    os.close(lock)
  return target


def _compile(cxx: str, flags: list, target: str) -> None:
  """Compiles the sources into `target` and records its SHA-256 beside it."""
  fd, tmp = tempfile.mkstemp(suffix='.so', dir=os.path.dirname(target))
  os.close(fd)
  command = [cxx, *flags, f'-I{jax.ffi.include_dir()}', *SOURCES, '-o', tmp]
  try:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
      raise RuntimeError(f'{os.path.basename(cxx)} failed: '
                         f'{done.stderr.strip().splitlines()[-1:] or done.returncode}')
    os.chmod(tmp, 0o700)
    atomic_write_bytes(target + '.sha256', private_dir.sha256(tmp).encode())
    os.replace(tmp, target)  # whole or not at all
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def _load() -> None:
  if os.environ.get('METARL_NATIVE', '1') == '0':
    raise RuntimeError('METARL_NATIVE=0')
  if jax.default_backend() != 'cpu':
    raise RuntimeError(f'the default backend is {jax.default_backend()}, not the CPU')
  cxx = _compiler()
  if cxx is None:
    raise RuntimeError('no C++ compiler (c++, g++ or clang++) on the PATH')
  library = ctypes.cdll.LoadLibrary(_build(cxx))
  jax.ffi.register_ffi_target(FORWARD, jax.ffi.pycapsule(library.MetarlGruForward),
                              platform='cpu')
  jax.ffi.register_ffi_target(BACKWARD, jax.ffi.pycapsule(library.MetarlGruBackward),
                              platform='cpu')
  jax.ffi.register_ffi_target(SCAN_FORWARD, jax.ffi.pycapsule(library.MetarlLinearScanForward),
                              platform='cpu')
  jax.ffi.register_ffi_target(SCAN_BACKWARD,
                              jax.ffi.pycapsule(library.MetarlLinearScanBackward),
                              platform='cpu')


def available() -> bool:
  """Whether the native kernels are built and registered (tries once per process)."""
  with _lock:
    if not _state['tried']:
      _state['tried'] = True
      try:
        _load()
        _state.update(ok=True, why='built and registered')
      except Exception as e:  # any failure: the JAX implementation takes over
        _state.update(ok=False, why=str(e) or type(e).__name__)
      logging.info('native kernels (GRU, linear scan): %s', status())
  return _state['ok']


def status() -> str:
  """One line: whether the native kernels are used, and why not."""
  if not _state['tried']:
    return 'not tried yet'
  if _state['ok']:
    return 'in use'
  return f'not used ({_state["why"]}): GRUs and LRUs run as XLA scans'

