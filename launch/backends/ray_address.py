"""Ray addresses a run or a sweep may join, checked before anything starts: their form,
whether a Ray head answers there (ray.init would retry for many minutes), and whether
joining another machine's cluster would go without token authentication. Sockets only:
nothing of Ray is imported.
"""

import ipaddress
import os
import re
import socket

# An HTTP/2 client's connection preface and an empty SETTINGS frame: every gRPC server,
# Ray's GCS and its client server among them, answers with a SETTINGS frame (type 4).
_HTTP2_PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_PROBE_S = 5.0


ADDRESSES = ("'' (start a local Ray instance), 'auto' (the cluster `ray start` started on this "
             'machine), HOST:PORT of a running cluster\'s head or ray://HOST:PORT of its Ray '
             'Client server')
_ADDRESS = re.compile(r'(?:ray://)?([^\s/:]+):(\d{1,5})')


def valid_address(address) -> bool:
  """Whether `address` is one of `ADDRESSES` in form (whether it answers: `unreachable`)."""
  return isinstance(address, str) and (address in ('', 'auto') or
                                       _ADDRESS.fullmatch(address) is not None)


def unauthenticated(address: str) -> str | None:
  """Why joining `address` would reach over the network a cluster without token
  authentication, or None: a loopback address, or a token set up as Ray reads it
  (RAY_AUTH_MODE=token, with RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token).
  Whoever reaches such a cluster can run code on it, and it runs this repository's."""
  host_port = _ADDRESS.fullmatch(address)
  if host_port is None:  # '' and 'auto': this machine
    return None
  try:
    infos = socket.getaddrinfo(host_port[1], None)
  except OSError:
    return None  # `unreachable` says so
  if all(ipaddress.ip_address(info[4][0].split('%')[0]).is_loopback for info in infos):
    return None
  token_file = os.environ.get('RAY_AUTH_TOKEN_PATH') or os.path.expanduser('~/.ray/auth_token')
  if os.environ.get('RAY_AUTH_MODE') == 'token' and (os.environ.get('RAY_AUTH_TOKEN') or
                                                     os.path.isfile(token_file)):
    return None
  return (f'{host_port[1]} is another machine and no Ray token authentication is set up '
          '(RAY_AUTH_MODE=token and RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, '
          'as the cluster was started with; docs/clusters.md): anyone who reaches the '
          'cluster can run code on it')


def unreachable(address: str) -> str | None:
  """Why no Ray head answers at a HOST:PORT (or ray://HOST:PORT) address, or None if one
  may ('auto' is not checked): nothing accepts the connection, or what does is not a gRPC
  server (Ray's GCS is one). ray.init would retry either for many minutes."""
  host_port = _ADDRESS.fullmatch(address)
  if host_port is None:
    return None
  try:
    connection = socket.create_connection((host_port[1], int(host_port[2])), timeout=10)
  except OSError as e:
    return f'nothing answers there ({e})'
  try:
    connection.settimeout(_PROBE_S)
    connection.sendall(_HTTP2_PREFACE)
    header = b''
    while len(header) < 9:
      chunk = connection.recv(9 - len(header))
      if not chunk:
        break
      header += chunk
  except OSError as e:  # a timeout included
    return (f'something accepts connections there but is not a Ray head (no gRPC answer '
            f'in {_PROBE_S:g}s: {e or type(e).__name__})')
  finally:
    connection.close()
  if len(header) < 9 or header[3] != 4:
    return ('something accepts connections there but is not a Ray head (it does not '
            'speak gRPC)')
  return None
