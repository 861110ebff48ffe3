"""Reading pickles that others may have written, without running what is in them.

A pickle names the functions that rebuild its objects, and `pickle.load` calls them: a
params file shared by e-mail could call `os.system`. metarl's own pickles (params,
checkpoints, analysis data) hold only builtin containers and scalars, numpy arrays and numpy
scalars, so `load` resolves only the numpy names that rebuild those (under the module names
numpy 1 and numpy 2 write) and refuses every other one; it refuses arrays of Python objects
too (their items would be pickles of their own). A refusal is an `UnsafePickle` naming
what was refused.
"""

import pickle
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np


class UnsafePickle(pickle.UnpicklingError):
  """The pickle asks for something metarl's own files never hold."""


def _dtype(*args) -> np.dtype:
  """np.dtype, refusing Python-object dtypes (and structures holding them)."""
  dtype = np.dtype(*args)
  if dtype.hasobject:
    raise UnsafePickle('an array of Python objects (dtype object)')
  return dtype


def _reconstruct(subtype, *args):
  """numpy's `_reconstruct` (arrays pickled by protocols < 5), for plain ndarrays only."""
  if subtype is not np.ndarray:
    raise UnsafePickle(f'an array of type {subtype!r}')
  return np.ndarray.__new__(np.ndarray, *args)


def _frombuffer(buf, dtype, shape, order, axis_order=None):
  """numpy's `_frombuffer` (arrays pickled by protocol 5)."""
  if not isinstance(dtype, np.dtype) or dtype.hasobject:
    raise UnsafePickle('an array of Python objects (dtype object)')
  array = np.frombuffer(buf, dtype=dtype)
  if order == 'K' and axis_order is not None:
    return array.reshape(shape, order='C').transpose(axis_order)
  return array.reshape(shape, order=order)


def _scalar(dtype, *args):
  """numpy's `scalar` (numpy scalars such as np.float32(1.5))."""
  if not isinstance(dtype, np.dtype) or dtype.hasobject:
    raise UnsafePickle('a numpy scalar of Python objects')
  return np.frombuffer(args[0], dtype=dtype)[0] if args else np.zeros((), dtype)[()]


def _latin1(text, encoding):
  """`_codecs.encode`, as protocol 2 writes bytes (str, 'latin1') and for nothing else."""
  if not isinstance(text, str) or encoding != 'latin1':
    raise UnsafePickle('_codecs.encode other than of text to latin1 bytes')
  return text.encode('latin1')


_NUMPY: dict[str, Callable] = {
    'dtype': _dtype, 'ndarray': np.ndarray, '_reconstruct': _reconstruct,
    '_frombuffer': _frombuffer, 'scalar': _scalar}
_NUMPY_MODULES = ('numpy', 'numpy.core.multiarray', 'numpy._core.multiarray',
                  'numpy.core.numeric', 'numpy._core.numeric')


def _no_sizes(kind: type) -> Callable:
  """`bytes`/`bytearray` from data, never from a size (bytes(10**12) would fill memory)."""
  def build(*args):
    if args and isinstance(args[0], int):
      raise UnsafePickle(f'{kind.__name__} of a size')
    return kind(*args)
  return build


_BUILTINS = {'complex': complex, 'set': set, 'frozenset': frozenset, 'slice': slice,
             'range': range, 'bytes': _no_sizes(bytes), 'bytearray': _no_sizes(bytearray)}


class _Unpickler(pickle.Unpickler):

  def find_class(self, module: str, name: str) -> Any:
    if module in _NUMPY_MODULES and name in _NUMPY:
      return _NUMPY[name]
    if module in ('builtins', '__builtin__') and name in _BUILTINS:
      return _BUILTINS[name]
    if (module, name) == ('_codecs', 'encode'):
      return _latin1
    raise UnsafePickle(f'{module}.{name}')

  def persistent_load(self, pid: Any) -> Any:
    raise UnsafePickle(f'a persistent id ({pid!r})')


def _refuse_object_arrays(obj: Any, depth: int = 0) -> None:
  """Refuses an array of Python objects anywhere in `obj`'s containers (and containers
  nested past any depth metarl writes, a loop of references included)."""
  if depth > 100:
    raise UnsafePickle('containers nested more than 100 deep')
  if isinstance(obj, np.ndarray):
    if obj.dtype.hasobject:
      raise UnsafePickle('an array of Python objects (dtype object)')
  elif isinstance(obj, dict):
    for k, v in obj.items():
      _refuse_object_arrays(k, depth + 1)
      _refuse_object_arrays(v, depth + 1)
  elif isinstance(obj, (list, tuple, set, frozenset)):
    for v in obj:
      _refuse_object_arrays(v, depth + 1)


def load(f: BinaryIO) -> Any:
  """What `pickle.load(f)` returns for metarl's own files; `UnsafePickle` (or another
  unpickling error) for anything else, before any of its code can run."""
  obj = _Unpickler(f).load()
  _refuse_object_arrays(obj)
  return obj
