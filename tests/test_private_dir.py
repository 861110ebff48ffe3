"""Compiled code is loaded only from folders and files that are the user's alone: the
native kernels' cache and XLA's compilation cache."""

import os

import pytest

from metarl import private_dir, xla_setup
from metarl.networks import native


def test_a_new_cache_folder_is_made_private_and_a_shared_one_refused(tmp_path, monkeypatch):
  fresh = tmp_path / 'a' / 'cache'
  assert private_dir.ensure(str(fresh)) is None
  assert (fresh.stat().st_mode & 0o777) == 0o700
  shared = tmp_path / 'shared'
  shared.mkdir()
  shared.chmod(0o777)
  assert 'writable by others (mode 777)' in private_dir.ensure(str(shared))
  shared.chmod(0o775)
  assert 'writable by others' in private_dir.ensure(str(shared))
  monkeypatch.setattr(os, 'getuid', lambda: os.stat(fresh).st_uid + 1)
  assert 'belongs to another user' in private_dir.ensure(str(fresh))


def test_a_library_is_trusted_only_if_private_and_of_the_recorded_hash(tmp_path):
  lib = tmp_path / 'kernels-x.so'
  lib.write_bytes(b'built here')
  lib.chmod(0o700)
  good = private_dir.sha256(str(lib))
  assert private_dir.check_file(str(lib), good) is None
  assert 'no recorded hash' in private_dir.check_file(str(lib), None)
  assert 'SHA-256 differs' in private_dir.check_file(str(lib), '0' * 64)
  lib.chmod(0o722)
  assert 'writable by others' in private_dir.check_file(str(lib), good)
  link = tmp_path / 'kernels-y.so'
  link.symlink_to(lib)
  assert 'not a regular file' in private_dir.check_file(str(link), good)


def _fake_compile(calls):
  def compile_(cxx, flags, target):
    calls.append(target)
    with open(target, 'wb') as f:
      f.write(b'compiled')
    os.chmod(target, 0o700)
    with open(target + '.sha256', 'w') as f:
      f.write(private_dir.sha256(target))
  return compile_


def test_a_planted_library_is_rebuilt_and_a_shared_cache_never_used(tmp_path, monkeypatch):
  calls = []
  monkeypatch.setattr(native, '_compile', _fake_compile(calls))
  monkeypatch.setenv('METARL_NATIVE_CACHE', str(tmp_path / 'native'))
  built = native._build('c++')
  assert calls == [built] and native._build('c++') == built and len(calls) == 1  # cached
  with open(built, 'wb') as f:  # someone's library under the name metarl computes
    f.write(b'planted')
  assert native._build('c++') == built and len(calls) == 2
  with open(built, 'rb') as f:
    assert f.read() == b'compiled'
  shared = tmp_path / 'shared'
  shared.mkdir()
  shared.chmod(0o777)
  monkeypatch.setenv('METARL_NATIVE_CACHE', str(shared))
  with pytest.raises(RuntimeError, match='writable by others'):
    native._build('c++')
  assert os.listdir(shared) == [] and len(calls) == 2


def test_the_xla_cache_is_not_used_in_a_shared_folder(tmp_path, monkeypatch):
  import jax
  updates = []
  monkeypatch.setattr(jax.config, 'update', lambda *a: updates.append(a))
  shared = tmp_path / 'shared'
  shared.mkdir()
  shared.chmod(0o757)
  monkeypatch.setenv('METARL_COMPILATION_CACHE', str(shared))
  assert xla_setup.enable_compilation_cache() is None and updates == []
  mine = tmp_path / 'mine'
  monkeypatch.setenv('METARL_COMPILATION_CACHE', str(mine))
  assert xla_setup.enable_compilation_cache() == str(mine)
  assert ('jax_compilation_cache_dir', str(mine)) in updates
  assert (mine.stat().st_mode & 0o777) == 0o700
  # programs of under 0.2 s are not kept, unless JAX's own variable says otherwise
  assert ('jax_persistent_cache_min_compile_time_secs', 0.2) not in updates  # the tests' 0
  monkeypatch.delenv(xla_setup.MIN_COMPILE_TIME_VARIABLE)
  xla_setup.enable_compilation_cache()
  assert ('jax_persistent_cache_min_compile_time_secs', 0.2) in updates
