"""Ray addresses are checked before anything starts, without Ray: their form, whether a head
answers, and that another machine's cluster is joined only with token authentication
(unless asked for)."""

import socket
import threading

import ml_collections
import pytest

import main
from launch.backends import ray_address, ray_instance
from metarl.config_rules import ConfigError


@pytest.mark.parametrize('address', ['ray://', 'ray://head', 'ray://head:port', 'head',
                                     'http://head:6379', 'head:6379/x', 'head:1234567'])
def test_addresses_of_no_known_form_are_refused_before_anything(address):
  with pytest.raises(SystemExit) as e:
    main.load_config(['main.py', '--config=configs/bandit_train.py:a3c',
                      f'--config.launch.ray_address={address}'])
  assert str(e.value).startswith('metarl: config.launch.ray_address = ')
  assert 'ray://HOST:PORT' in str(e.value)


def test_a_ray_client_address_is_probed_like_a_head(tmp_path):
  listener = socket.socket()
  listener.bind(('127.0.0.1', 0))
  listener.listen()
  port = listener.getsockname()[1]
  threading.Thread(target=lambda: listener.accept()[0].close(), daemon=True).start()
  assert 'not a Ray head' in ray_address.unreachable(f'ray://127.0.0.1:{port}')
  listener.close()
  assert 'nothing answers there' in ray_address.unreachable(f'ray://127.0.0.1:{port}')


def test_another_machines_cluster_needs_token_authentication(monkeypatch):
  for name in ('RAY_AUTH_MODE', 'RAY_AUTH_TOKEN', 'RAY_AUTH_TOKEN_PATH'):
    monkeypatch.delenv(name, raising=False)
  monkeypatch.setenv('HOME', '/nonexistent')
  for loopback in ('127.0.0.1:6379', 'localhost:6379', 'ray://127.0.0.2:10001', 'auto', ''):
    assert ray_address.unauthenticated(loopback) is None, loopback
  said = ray_address.unauthenticated('ray://10.1.2.3:10001')
  assert '10.1.2.3 is another machine' in said and 'RAY_AUTH_MODE=token' in said
  launch = ml_collections.ConfigDict(dict(ray_address='10.1.2.3:6379', num_workers=2,
                                          num_evaluators=0, ray_allow_unauthenticated=False))
  monkeypatch.setattr(ray_instance, 'unreachable', lambda address: None)  # a head answers
  with pytest.raises(ConfigError, match='launch.ray_allow_unauthenticated=True'):
    ray_instance.check_launch(launch)
  launch.ray_allow_unauthenticated = True
  ray_instance.check_launch(launch)  # asked for
  launch.ray_allow_unauthenticated = False
  monkeypatch.setenv('RAY_AUTH_MODE', 'token')
  monkeypatch.setenv('RAY_AUTH_TOKEN', 'x' * 64)
  ray_instance.check_launch(launch)  # token authentication set up
