"""Folders and files metarl loads compiled code from (the native kernels' library, XLA's
compilation cache) must be this user's alone: whoever can write there can have their
code run by the next metarl process.
"""

import hashlib
import os
import stat

_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def _owned_and_private(st: os.stat_result, what: str) -> str | None:
  if st.st_uid != os.getuid():
    return f'{what} belongs to another user (uid {st.st_uid})'
  if st.st_mode & _OTHERS_WRITE:
    return f'{what} is writable by others (mode {stat.S_IMODE(st.st_mode):o})'
  return None


def ensure(path: str) -> str | None:
  """Makes `path` (mode 0700 if made here) and returns None if it is a directory that this
  user owns and no one else can write; else why it is not fit to load code from."""
  try:
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.stat(path)
  except OSError as e:
    return f'{path} cannot be made ({e.strerror or e})'
  if not stat.S_ISDIR(st.st_mode):
    return f'{path} is not a directory'
  return _owned_and_private(st, path)


def sha256(path: str) -> str:
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def check_file(path: str, expected_sha256: str | None) -> str | None:
  """None if `path` is a regular file (not a link) this user owns, no one else can write,
  with the given SHA-256; else why not."""
  try:
    st = os.lstat(path)
  except OSError as e:
    return f'{path} cannot be read ({e.strerror or e})'
  if not stat.S_ISREG(st.st_mode):
    return f'{path} is not a regular file'
  problem = _owned_and_private(st, path)
  if problem:
    return problem
  if expected_sha256 is None:
    return f'{path} has no recorded hash'
  if sha256(path) != expected_sha256:
    return f'{path} is not the library built here (its SHA-256 differs)'
  return None
