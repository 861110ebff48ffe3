"""A Ray cluster of several nodes on this machine: what the cluster tests and benchmarks run
on, and a way to try the cluster commands of docs/clusters.md before a real cluster.

    cluster = LocalCluster(nodes=3, cpus_per_node=2)   # a head and 2 worker nodes
    subprocess.run([..., '--config.launch.ray_address=' + cluster.address], env=cluster.env)
    cluster.kill_node(2)                                # SIGKILLs that node's raylet
    cluster.stop()

Each node is one `ray start --block` in a session of its own, as docs/clusters.md starts
the nodes of a real cluster: on 127.0.0.1, token authentication (a random token, in `env`
only), its own `--temp-dir` and a resource `node_<i>` (the head is node 0), no dashboard.
A node's id is read from its raylet's command line.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import psutil

from launch.backends.ray_instance import unreachable
from tests.tools import faults

_START_S = 60.0  # longest wait for the head, then for every node, to come up


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


class LocalCluster:
  """`nodes` Ray nodes on 127.0.0.1 (node 0 the head), `cpus_per_node` CPUs each."""

  def __init__(self, nodes: int = 3, cpus_per_node: float = 2, temp_root: str = ''):
    self.port = free_port()
    self.address = f'127.0.0.1:{self.port}'
    self.env = dict(os.environ, RAY_AUTH_MODE='token', RAY_AUTH_TOKEN=secrets.token_hex(32),
                    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER='1', RAY_USAGE_STATS_ENABLED='0')
    self.env.pop('RAY_ADDRESS', None)
    # short: Ray's socket paths under it must stay below the OS's limit
    self.temp_root = temp_root or tempfile.mkdtemp(prefix='mrc-', dir='/tmp')
    self._ray = os.path.join(os.path.dirname(sys.executable), 'ray')
    self._nodes: list[subprocess.Popen] = []
    try:
      self._start_node(0, nodes, cpus_per_node)
      deadline = time.monotonic() + _START_S
      while unreachable(self.address) is not None:
        if self._nodes[0].poll() is not None or time.monotonic() > deadline:
          raise RuntimeError(f'the head of the local cluster did not start (port '
                             f'{self.port}, files in {self.temp_root})')
        time.sleep(0.5)
      for i in range(1, nodes):
        self._start_node(i, nodes, cpus_per_node)
      deadline = time.monotonic() + _START_S
      while len(self.node_ids()) < nodes:
        if time.monotonic() > deadline or any(p.poll() is not None for p in self._nodes):
          raise RuntimeError(f'{nodes - len(self.node_ids())} node(s) of the local cluster '
                             f'did not start (files in {self.temp_root})')
        time.sleep(0.5)
      self.wait_registered(nodes)
    except BaseException:
      self.stop()
      raise

  def _start_node(self, i: int, nodes: int, cpus: float) -> None:
    args = [self._ray, 'start', '--block', '--node-ip-address=127.0.0.1',
            f'--num-cpus={cpus:g}', f'--resources={{"node_{i}": 1}}',
            f'--temp-dir={os.path.join(self.temp_root, f"n{i}")}', '--disable-usage-stats']
    if i == 0:
      args += ['--head', f'--port={self.port}', '--include-dashboard=false']
    else:
      args += [f'--address={self.address}']
    self._nodes.append(subprocess.Popen(
        args, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True))

  def wait_registered(self, nodes: int) -> None:
    """Waits until the head knows `nodes` live nodes (a process joins the cluster to ask)."""
    code = ('import sys, time, ray\n'
            'ray.init(address=sys.argv[1], logging_level="ERROR", configure_logging=False)\n'
            'deadline = time.monotonic() + float(sys.argv[3])\n'
            'while sum(n["Alive"] for n in ray.nodes()) < int(sys.argv[2]):\n'
            '  if time.monotonic() > deadline: sys.exit(1)\n'
            '  time.sleep(0.3)\n')
    result = subprocess.run([sys.executable, '-c', code, self.address, str(nodes),
                             str(_START_S)], env=self.env, capture_output=True, text=True,
                            timeout=_START_S + 60)
    if result.returncode != 0:
      raise RuntimeError(f'the head does not see {nodes} live nodes: {result.stderr[-2000:]}')

  def raylets(self) -> dict[int, psutil.Process]:
    """node index -> its raylet process (the live ones)."""
    found = {}
    for proc in psutil.process_iter(['cmdline']):
      cmdline = proc.info['cmdline'] or []
      if not cmdline or not cmdline[0].endswith('raylet'):
        continue
      try:
        if proc.status() == psutil.STATUS_ZOMBIE:
          continue
      except psutil.Error:
        continue
      for i in range(len(self._nodes)):
        if f'--temp_dir={os.path.join(self.temp_root, f"n{i}")}' in cmdline:
          found[i] = proc
    return found

  def node_ids(self) -> dict[int, str]:
    """node index -> its Ray node id (hex), for the nodes whose raylet runs."""
    ids = {}
    for i, proc in self.raylets().items():
      try:
        cmdline = proc.cmdline()
      except psutil.Error:
        continue
      for arg in cmdline:
        if arg.startswith('--node_id='):
          ids[i] = arg.split('=', 1)[1]
    return ids

  def index_of(self, node_id: str) -> int | None:
    """The index of the node with id (or id prefix) `node_id`."""
    return next((i for i, n in self.node_ids().items() if n.startswith(node_id)), None)

  def node_to_lose(self, run_dir: str) -> tuple[int, list[str]]:
    """A node other than the manager's that runs children of the run in `run_dir` (read
    from its log): its index, and the names of the children on it."""
    nodes = faults.child_nodes(run_dir)
    manager = self.index_of(faults.manager_node(run_dir))
    lost = next(self.index_of(n) for _, n in sorted(nodes.items())
                if self.index_of(n) != manager)
    return lost, [c for c, n in nodes.items() if self.index_of(n) == lost]

  def kill_node(self, i: int) -> None:
    """SIGKILLs node i's raylet and waits until it is gone (a killed process stays visible
    until it has died and been reaped): the node is lost with everything running on it."""
    raylet = self.raylets()[i]
    raylet.kill()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
      try:
        if raylet.status() == psutil.STATUS_ZOMBIE:
          return  # dead; its parent has not reaped it yet
      except psutil.NoSuchProcess:
        return
      time.sleep(0.05)

  def processes(self, node: int | None = None) -> list[int]:
    """The pids of every process of the cluster (or of node `node`) still alive: those in
    its nodes' sessions."""
    sessions = {p.pid for i, p in enumerate(self._nodes) if node is None or i == node}
    found = []
    for proc in psutil.process_iter():
      try:
        if os.getsid(proc.pid) in sessions and proc.status() != psutil.STATUS_ZOMBIE:
          found.append(proc.pid)
      except (OSError, psutil.Error):
        continue
    return found

  def stop(self) -> None:
    """Stops every node (SIGTERM, then SIGKILL after 10 s) and removes the temp folders."""
    for proc in self._nodes:
      try:
        os.killpg(proc.pid, signal.SIGTERM)
      except OSError:
        pass
    deadline = time.monotonic() + 10
    while self.processes() and time.monotonic() < deadline:
      time.sleep(0.3)
    for proc in self._nodes:
      try:
        os.killpg(proc.pid, signal.SIGKILL)
      except OSError:
        pass
      proc.wait()
    for pid in self.processes():  # a process that left its node's session group
      try:
        os.kill(pid, signal.SIGKILL)
      except OSError:
        pass
    shutil.rmtree(self.temp_root, ignore_errors=True)

  def __enter__(self) -> 'LocalCluster':
    return self

  def __exit__(self, *exc) -> None:
    self.stop()
