"""How fast configs/starkweather.py trains: seconds per epoch of its 12 seeds, on one CPU
device against the seeds split over this machine's cores, with Haiku's GRU against
PyTorch's (`network.init`), side by side in one run.

python benchmarks/starkweather_speed.py [--rounds=3]

Each round starts one process per device count (XLA shows 1 device, or one per core) and
times, for each GRU, one epoch (41 updates of 12 episodes of 20 trials for each of the 12
seeds) three times after the compilation; the table has the median over the rounds' times
and each setting's speed-up over Haiku's GRU on one device, and is written to
benchmarks/results/starkweather_speed.csv.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from metarl.io import save_csv  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
INITS = ('haiku', 'pytorch')
REPEATS = 3


def child(devices: int) -> None:
  """Prints one JSON line per GRU: the seconds of each timed epoch."""
  import jax

  import main
  from launch.trainers.seed_devices import SEED, SeedDevices
  from metarl.agents import registry as agents
  from metarl.envs import registry as envs
  for init in INITS:
    config = main.load_config(['main.py', '--config=configs/starkweather.py',
                               f'--config.network.init={init}'])
    env = envs.make(config.env)
    agent = agents.spec('td').make(config, env)
    params_keys, data_keys = agent.seed_keys(config.seed, config.num_seeds)
    state, data = agent.init(params_keys), agent.init_data(data_keys)
    split = SeedDevices(config.num_seeds)
    train = split.over_seeds(lambda s, d, agent=agent: agent.train_epochs(s, d, 1),
                             (SEED, SEED))
    state, data = split.spread((state, data))
    jax.block_until_ready(train(state, data))  # compiles
    seconds = []
    for _ in range(REPEATS):
      start = time.perf_counter()
      jax.block_until_ready(train(state, data))
      seconds.append(time.perf_counter() - start)
    print(json.dumps(dict(init=init, devices=len(jax.local_devices()), seconds=seconds)),
          flush=True)


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--child', type=int, default=0, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    child(args.child)
    return
  cores = min(len(os.sched_getaffinity(0)), 8)
  times = {}
  for _ in range(args.rounds):
    for devices in (1, cores):
      env = dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')
      out = subprocess.run([sys.executable, __file__, f'--child={devices}'], env=env,
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout
      for line in out.splitlines():
        if line.startswith('{'):
          row = json.loads(line)
          times.setdefault((row['init'], row['devices']), []).extend(row['seconds'])
  base = float(np.median(times[('haiku', 1)]))
  rows = [dict(gru=init, devices=devices, seeds=12,
               seconds_per_epoch=round(float(np.median(s)), 2), runs=len(s),
               speedup_over_haiku_one_device=round(base / float(np.median(s)), 2))
          for (init, devices), s in sorted(times.items())]
  path = os.path.join(RESULTS, 'starkweather_speed.csv')
  save_csv(path, rows)
  print(path)
  for row in rows:
    print('  '.join(f'{k}={v}' for k, v in row.items()))


if __name__ == '__main__':
  main()
