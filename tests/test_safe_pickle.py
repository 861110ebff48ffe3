"""Pickles from elsewhere are data: metarl's own payloads load exactly, anything that would
run code or hold Python objects is refused before it can run."""

import io
import os
import pickle

import numpy as np
import pytest

from metarl import checkpoint, safe_pickle
from metarl import io as metarl_io


def _payload():
  rng = np.random.default_rng(0)
  return dict(
      schema=2, agent='a3c', config={'env': {'name': 'bandit', 'probs': [0.1, 0.9]},
                                     'seed': 3, 'lr': 1e-3, 'flag': True, 'none': None},
      params={'lstm/~/linear': {'w': rng.normal(size=(4, 8)).astype(np.float32),
                                'b': np.zeros(8, np.float32)}},
      arrays={'strided': np.arange(12, dtype=np.int64)[::3],
              'fortran': np.asfortranarray(rng.normal(size=(3, 5))),
              'transposed': rng.normal(size=(2, 3, 4)).transpose(2, 0, 1),
              'scalar0d': np.zeros((), np.uint32), 'bools': np.array([True, False]),
              'empty': np.zeros((0, 3), np.float16), 'text': np.array(['ab', 'c']),
              'record': np.zeros(2, dtype=[('x', 'f4'), ('y', 'i2')]),
              'key': np.array([0, 42], np.uint32)},
      numbers=(np.float32(1.5), np.int64(-3), np.bool_(True), np.float64(np.nan), 2 + 1j),
      sets=[{1, 2}, frozenset({'a'}), b'raw', bytearray(b'xy')])


def _same(a, b):
  if isinstance(a, np.ndarray):
    return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and
            np.array_equal(a, b, equal_nan=a.dtype.kind == 'f'))
  if isinstance(a, dict):
    return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
  if isinstance(a, (list, tuple)):
    return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
  if isinstance(a, np.generic):
    return type(a) is type(b) and (a == b or (a != a and b != b))
  return type(a) is type(b) and a == b


@pytest.mark.parametrize('protocol', [2, 3, 4, 5])
def test_metarls_own_payloads_load_as_pickle_loads_them(protocol):
  blob = pickle.dumps(_payload(), protocol=protocol)
  assert _same(safe_pickle.load(io.BytesIO(blob)), pickle.loads(blob))


class _Planted:  # what a malicious params file would hold
  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (os.system, (f'touch {self.path}',))


class _Opener:
  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (open, (self.path, 'w'))


@pytest.mark.parametrize('make', [_Planted, _Opener])
def test_a_payload_that_runs_code_is_refused_and_nothing_runs(tmp_path, make):
  made = tmp_path / 'pwned'
  path = tmp_path / 'params.pickle'
  payload = _payload()
  payload['config']['env'] = make(str(made))  # hidden deep in the stored config
  path.write_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
  with pytest.raises(metarl_io.RunFileError) as e:
    checkpoint.load_params(str(path))
  assert not made.exists()
  message = str(e.value)
  assert message.startswith(f'{path}: refused') and '\n' not in message
  assert ('posix.system' in message or 'builtins.open' in message or 'io.open' in message)


def test_object_arrays_and_numpy_subclasses_are_refused(tmp_path):
  for bad, what in [(np.array([1, 'a', None], dtype=object), 'Python objects'),
                    (np.zeros(2, dtype=[('x', 'f4'), ('o', 'O')]), 'Python objects'),
                    (np.ma.masked_array([1.0, 2.0], mask=[0, 1]), 'numpy.ma'),
                    (np.array(['a'], dtype=object)[0:0], 'Python objects')]:
    for protocol in (2, 5):
      blob = pickle.dumps({'params': bad}, protocol=protocol)
      with pytest.raises(safe_pickle.UnsafePickle, match=what):
        safe_pickle.load(io.BytesIO(blob))
      path = tmp_path / 'x.pickle'
      path.write_bytes(blob)
      with pytest.raises(metarl_io.RunFileError, match=f'refused.*{what}'):
        metarl_io.load_pickle(str(path))


def test_truncated_and_foreign_files_are_one_line(tmp_path):
  path = tmp_path / 'params.pickle'
  blob = pickle.dumps(_payload(), protocol=5)
  path.write_bytes(blob[:len(blob) // 2])
  with pytest.raises(metarl_io.RunFileError, match='not a readable metarl pickle'):
    metarl_io.load_pickle(str(path))
  path.write_bytes(b'PK\x03\x04 a zip file')
  with pytest.raises(metarl_io.RunFileError, match='not a readable metarl pickle'):
    metarl_io.load_pickle(str(path))
