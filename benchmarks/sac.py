"""Recurrent SAC against RLtools, side by side in one run (issues 5 and 19).

python benchmarks/sac.py [--parts=a,b,c,d,e,f] [--before=REV] [--seeds=3]

RLtools (Eschmann et al.) is the C++ library whose recurrent SAC memory example metarl's
`rsac` agent reproduces. Its headers ship in the `rltools` pip package; part (a) builds
benchmarks/rltools/memory_sac.cpp (the example's settings) against them with the machine's
C++ compiler and the flags of RLtools' own build (-O3 -march=native -ffast-math), with
OpenBLAS where `-lblas` links (RLtools' own choice), single-threaded, and skips RLtools with
a message where no compiler or package is found.

(a) Memory task H=10, 200,000 env steps, seeds 0..N-1, RLtools and metarl
    (configs/memory_sac.py) alternating: process wall time from start to exit, CPU time
    (user + system, so CPU / wall is the cores used), final accuracy (200 random 50-step
    sequences). metarl also pinned to one core (taskset -c 0) for seed 0.
(b) Pendulum, configs/pendulum_sac.py (MLP 64x64, batch 100, 10,000 env steps), seeds
    0-4: metarl cold (empty compilation cache) and warm (the cache filled by an earlier run
    of the same config), final mean return (10 deterministic episodes); RLtools' pendulum
    SAC through its Python interface where `rltools` and gymnasium import (its module
    compiled once beforehand, so its runs are warm): wall time from start to the end of
    training, and the final policy's mean return on 10 episodes.
(c) ms per learner tick, per in-process env step and per acting step on the memory config
    (benchmarks/sac_step_costs.py), in this checkout and in a checkout of --before (the
    code before issue 19), median of 5 calls each, the two measured one after the other.
(d) (from a) the threads each tool runs and the cores it keeps busy.
(e) Pendulum with the velocity hidden, GRU, 50,000 steps, seeds 0-2: final mean return.
(f) Memory config for 12,000 env steps with 0, 1 and 2 worker processes: env-steps/s.

Prints a table; writes benchmarks/results/sac.csv (one row per run and one per summary).
"""

import argparse
import csv
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from metarl.io import save_csv  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results', 'sac.csv')
PENDULUM = os.path.join(ROOT, 'configs', 'pendulum_sac.py')
MEMORY = os.path.join(ROOT, 'configs', 'memory_sac.py')
RLTOOLS_SOURCE = os.path.join(ROOT, 'benchmarks', 'rltools', 'memory_sac.cpp')
BEFORE = '978e36b'  # the last commit before issue 19's changes
HIDDEN = ['env.observe_velocity=False', 'total_env_steps=50000', 'network.core=gru',
          'network.torso_sizes=(64,)', 'network.hidden_sizes=(64,)',
          'agent.batch_size=32', 'replay.sequence_length=20', 'replay.capacity=50000',
          'eval.every_env_steps=10000', 'log_every_env_steps=5000']
COLUMNS = ['part', 'tool', 'run', 'seed', 'wall_s', 'warm_wall_s', 'cpu_s', 'compile_s',
           'env_steps', 'mean_return', 'accuracy', 'env_steps_per_sec', 'ms_per_tick',
           'ms_per_env_step', 'ms_per_act', 'threads', 'ratio']


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def timed_process(command, env=None, cwd=ROOT):
  """Runs a command to its exit: (wall seconds, CPU seconds of it and its children, stdout,
  the peak thread count seen)."""
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  start = time.time()
  process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
  threads = 0
  while process.poll() is None:  # sample the thread count while it runs
    try:
      with open(f'/proc/{process.pid}/status') as f:
        found = re.search(r'^Threads:\s+(\d+)', f.read(), re.M)
      threads = max(threads, int(found.group(1)) if found else 0)
    except OSError:
      pass
    time.sleep(0.5)
  out = process.stdout.read()
  wall = time.time() - start
  if process.returncode != 0:
    raise subprocess.CalledProcessError(process.returncode, command)
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
  return wall, cpu, out, threads


def main_py(run_dir, config, overrides, seed, cache='', pin=False):
  """metarl's main.py to its exit; `cache`: the XLA compilation cache folder ('': none)."""
  command = [sys.executable, os.path.join(ROOT, 'main.py'), f'--config={config}',
             f'--config.run_dir={run_dir}', f'--config.seed={seed}',
             *[f'--config.{o}' for o in overrides]]
  if pin:
    command = ['taskset', '-c', '0'] + command
  return timed_process(command, env=dict(os.environ, METARL_COMPILATION_CACHE=cache))


def compile_seconds(run_dir):
  with open(os.path.join(run_dir, 'log.txt')) as f:
    found = re.findall(r'compiled the training call .* in ([0-9.]+)s', f.read())
  return sum(float(x) for x in found)


def steady_rate(run_dir):
  rows = read_csv(os.path.join(run_dir, 'train.csv'))[1:]
  return statistics.median(float(r['env_steps_per_sec']) for r in rows) if rows else 0.0


def build_rltools(tmp):
  """The RLtools memory binary, or (None, why not)."""
  try:
    import rltools  # noqa: F401  (only its headers are used)
  except ImportError:
    return None, 'the rltools pip package is not installed (pip install rltools)'
  include = os.path.join(os.path.dirname(rltools.__file__), 'external', 'rl_tools',
                         'include')
  compiler = shutil.which(os.environ.get('CXX', '') or 'g++') or shutil.which('c++')
  if compiler is None or not os.path.isdir(include):
    return None, 'no C++ compiler (g++ or c++) or no RLtools headers found'
  binary = os.path.join(tmp, 'rltools_memory')
  # the flags RLtools' own Python interface compiles with (rltools/src/compile.py)
  base = [compiler, '-O3', '-march=native', '-ffast-math', '-std=c++17', f'-I{include}',
          RLTOOLS_SOURCE, '-o', binary]
  blas = ['-DRL_TOOLS_BACKEND_ENABLE_OPENBLAS', '-DRL_TOOLS_DISABLE_UNALIGNED_MEMORY_ALLOCATIONS',
          '-I/usr/include/x86_64-linux-gnu', '-I/usr/include/openblas', '-lblas']
  if subprocess.run(base + blas, capture_output=True).returncode == 0:
    return binary, 'OpenBLAS, one thread'
  done = subprocess.run(base, capture_output=True, text=True)
  if done.returncode != 0:
    return None, f'the RLtools build failed: {done.stderr.strip().splitlines()[-1:]}'
  return binary, 'no BLAS found: RLtools\' generic CPU code'


def part_a(tmp, seeds):
  rows, threads = [], []
  binary, how = build_rltools(tmp)
  print(f'RLtools: {how}', flush=True)
  one_thread = dict(os.environ, OPENBLAS_NUM_THREADS='1', OMP_NUM_THREADS='1')
  for seed in range(seeds):
    if binary:
      wall, cpu, out, n = timed_process([binary, str(seed)], env=one_thread)
      result = json.loads(out.strip().splitlines()[-1])
      rows.append(dict(part='a_memory_h10_200k', tool='RLtools', run='seed', seed=seed,
                       wall_s=wall, cpu_s=cpu, env_steps=200000,
                       accuracy=result['accuracy'], threads=n))
      print(rows[-1], flush=True)
    run_dir = os.path.join(tmp, f'memory_{seed}')
    wall, cpu, _, n = main_py(run_dir, MEMORY, [], seed)
    final = read_csv(os.path.join(run_dir, 'eval.csv'))[-1]
    rows.append(dict(part='a_memory_h10_200k', tool='metarl', run='seed', seed=seed,
                     wall_s=wall, cpu_s=cpu, compile_s=compile_seconds(run_dir),
                     env_steps=int(final['env_steps']), accuracy=float(final['accuracy']),
                     mean_return=float(final['mean_return']),
                     env_steps_per_sec=steady_rate(run_dir), threads=n))
    print(rows[-1], flush=True)
  if shutil.which('taskset'):
    run_dir = os.path.join(tmp, 'memory_pinned')
    wall, cpu, _, n = main_py(run_dir, MEMORY, [], 0, pin=True)
    final = read_csv(os.path.join(run_dir, 'eval.csv'))[-1]
    rows.append(dict(part='a_memory_h10_200k', tool='metarl', run='pinned to 1 core',
                     seed=0, wall_s=wall, cpu_s=cpu, env_steps=int(final['env_steps']),
                     accuracy=float(final['accuracy']), threads=n))
    print(rows[-1], flush=True)
  summary = []
  for tool in ('RLtools', 'metarl'):
    runs = [r for r in rows if r['tool'] == tool and r['run'] == 'seed']
    if not runs:
      continue
    good = sum(r['accuracy'] >= 0.9 for r in runs)
    summary.append(dict(part='a_memory_h10_200k', tool=tool,
                        run=f'median (accuracy >= 0.9: {good} of {len(runs)})',
                        wall_s=statistics.median(r['wall_s'] for r in runs),
                        cpu_s=statistics.median(r['cpu_s'] for r in runs),
                        accuracy=statistics.median(r['accuracy'] for r in runs),
                        threads=max(r['threads'] for r in runs)))
  if len(summary) == 2:
    summary[1]['ratio'] = summary[1]['wall_s'] / summary[0]['wall_s']
    summary[1]['run'] += ', wall / RLtools\''
  threads = [dict(part='d_threads', tool=s['tool'], run='threads; cores busy = cpu / wall',
                  threads=s['threads'], ratio=s['cpu_s'] / s['wall_s']) for s in summary]
  return rows + summary, threads


RLTOOLS_PENDULUM = """
import sys, time
start = time.time()
import gymnasium as gym
from rltools import SAC
make = lambda: gym.wrappers.RescaleAction(gym.make('Pendulum-v1'), -1.0, 1.0)
sac = SAC(make)  # RLtools' defaults: 64x64 ReLU MLPs, batch 100, 10,000 steps
state = sac.State(int(sys.argv[1]))
while not state.step():
  pass
wall = time.time() - start
env, returns = make(), []
for episode in range(10):  # the final policy's mean return, as metarl's eval.csv has it
  obs, _ = env.reset(seed=1000 + episode)
  total, done = 0.0, False
  while not done:
    obs, reward, terminated, truncated, _ = env.step(state.action(obs))
    total, done = total + reward, terminated or truncated
  returns.append(total)
print(wall, sum(returns) / len(returns))
"""


def rltools_pendulum(seed):
  """RLtools' pendulum SAC through its Python interface (`rltools`, gymnasium's Pendulum-v1
  rescaled to actions in [-1, 1]): (wall s from start to the end of training, final mean
  return), or None where it does not import or build. Its first call compiles the module."""
  try:
    done = subprocess.run([sys.executable, '-c', RLTOOLS_PENDULUM, str(seed)],
                          capture_output=True, text=True, timeout=1800)
  except subprocess.TimeoutExpired:
    return None
  if done.returncode != 0:
    print(f'RLtools pendulum: not measured ({done.stderr.strip().splitlines()[-1:]})')
    return None
  wall, mean_return = done.stdout.strip().splitlines()[-1].split()
  return float(wall), float(mean_return)


def part_b(tmp):
  rows = []
  cache = os.path.join(tmp, 'xla_cache')
  main_py(os.path.join(tmp, 'pendulum_fill'), PENDULUM, [], 0, cache=cache)  # fills it
  rltools_pendulum(0)  # RLtools compiles its module once (cached): its runs are warm
  for seed in range(5):
    run_dir = os.path.join(tmp, f'pendulum_{seed}')
    wall, cpu, _, _ = main_py(run_dir, PENDULUM, [], seed)  # cold: everything compiled
    warm, _, _, _ = main_py(run_dir + '_warm', PENDULUM, [], seed, cache=cache)
    final = read_csv(os.path.join(run_dir, 'eval.csv'))[-1]
    rows.append(dict(part='b_pendulum_mlp_10k', tool='metarl', run='seed', seed=seed,
                     wall_s=wall, warm_wall_s=warm, cpu_s=cpu,
                     compile_s=compile_seconds(run_dir), env_steps=int(final['env_steps']),
                     mean_return=float(final['mean_return']),
                     env_steps_per_sec=steady_rate(run_dir)))
    print(rows[-1], flush=True)
    rlt = rltools_pendulum(seed)
    if rlt is not None:
      rows.append(dict(part='b_pendulum_mlp_10k', tool='RLtools', run='seed', seed=seed,
                       wall_s=rlt[0], mean_return=rlt[1]))
      print(rows[-1], flush=True)
  runs = [r for r in rows if r['tool'] == 'metarl']
  good = sum(r['mean_return'] >= -200 for r in runs)
  rows.append(dict(part='b_pendulum_mlp_10k', tool='metarl',
                   run=f'median (return >= -200: {good} of 5)',
                   wall_s=statistics.median(r['wall_s'] for r in runs),
                   warm_wall_s=statistics.median(r['warm_wall_s'] for r in runs),
                   compile_s=statistics.median(r['compile_s'] for r in runs),
                   mean_return=statistics.median(r['mean_return'] for r in runs)))
  rlt = [r for r in rows if r['tool'] == 'RLtools' and r['run'] == 'seed']
  if rlt:
    metarl = rows[-1]
    rlt_median = dict(part='b_pendulum_mlp_10k', tool='RLtools', run='median',
                      wall_s=statistics.median(r['wall_s'] for r in rlt),
                      mean_return=statistics.median(r['mean_return'] for r in rlt))
    rows += [rlt_median,
             dict(part='b_pendulum_mlp_10k', tool='metarl', run='cold / RLtools',
                  ratio=metarl['wall_s'] / rlt_median['wall_s']),
             dict(part='b_pendulum_mlp_10k', tool='metarl', run='warm / RLtools',
                  ratio=metarl['warm_wall_s'] / rlt_median['wall_s'])]
  return rows


def part_c(tmp, before):
  """Step costs here and in a checkout of `before`, each measured twice, alternating."""
  old = os.path.join(tmp, 'before')
  subprocess.run(['git', 'worktree', 'add', '--detach', old, before], cwd=ROOT, check=True,
                 capture_output=True)
  script = os.path.join(ROOT, 'benchmarks', 'sac_step_costs.py')
  found = {'before': [], 'after': []}
  try:
    for _ in range(2):
      for label, root in (('before', old), ('after', ROOT)):
        out = subprocess.run([sys.executable, script, root], capture_output=True, text=True,
                             check=True, cwd=root).stdout
        found[label].append(json.loads(out.strip().splitlines()[-1]))
        print(label, found[label][-1], flush=True)
  finally:
    subprocess.run(['git', 'worktree', 'remove', '--force', old], cwd=ROOT,
                   capture_output=True)
  rows = []
  for label, revision in (('before', before), ('after', 'this checkout')):
    runs = found[label]
    rows.append(dict(part='c_step_costs', tool='metarl', run=f'{label} ({revision})',
                     ms_per_tick=statistics.median(r['ms_per_tick'] for r in runs),
                     ms_per_env_step=statistics.median(r['ms_per_env_step'] for r in runs),
                     ms_per_act=statistics.median(r['ms_per_act'] for r in runs)))
  rows[1]['ratio'] = rows[1]['ms_per_env_step'] / rows[0]['ms_per_env_step']
  rows[1]['run'] += ', env step / before'
  return rows


def sweep_rows(part, out, config, overrides, seeds, threshold):
  if not os.path.isfile(os.path.join(out, 'runs.csv')):
    subprocess.run([sys.executable, os.path.join(ROOT, 'launch', 'sweep.py'),
                    f'--config={config}', f'--seeds={seeds}', '--parallel=1',
                    '--process_per_seed',  # a wall time per seed
                    '--metric=mean_return', f'--out={out}',
                    *[f'--set={o}' for o in overrides]], check=True, cwd=ROOT)
  rows = []
  for run in read_csv(os.path.join(out, 'runs.csv')):
    final = read_csv(os.path.join(run['run_dir'], 'eval.csv'))[-1]
    rows.append(dict(part=part, tool='metarl', run='seed', seed=int(run['seed']),
                     wall_s=float(run['wall_s']), env_steps=int(final['env_steps']),
                     mean_return=float(final['mean_return']),
                     env_steps_per_sec=steady_rate(run['run_dir'])))
    print(rows[-1], flush=True)
  good = sum(r['mean_return'] >= threshold for r in rows)
  rows.append(dict(part=part, tool='metarl',
                   run=f'median (return >= {threshold}: {good} of {len(rows)})',
                   wall_s=statistics.median(r['wall_s'] for r in rows),
                   mean_return=statistics.median(r['mean_return'] for r in rows)))
  return rows


def part_f(tmp):
  rows = []
  for workers in (0, 1, 2):
    run_dir = os.path.join(tmp, f'workers_{workers}')
    wall, _, _, _ = main_py(run_dir, MEMORY, [
        'total_env_steps=12000', 'log_every_env_steps=1000', 'eval.every_env_steps=12000',
        'agent.actor_warmup_steps=1000', f'launch.num_workers={workers}'], 0)
    rows.append(dict(part='f_memory_throughput', tool='metarl', run=f'{workers} workers',
                     seed=0, wall_s=wall, env_steps=12000,
                     env_steps_per_sec=steady_rate(run_dir)))
    print(rows[-1], flush=True)
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--parts', default='a,b,c,d,e,f')
  parser.add_argument('--seeds', type=int, default=3, help='seeds of part (a)')
  parser.add_argument('--before', default=BEFORE, help='the revision part (c) compares with')
  args = parser.parse_args()
  parts = args.parts.split(',')
  stamp = time.strftime('%Y%m%d_%H%M%S')
  rows = []
  old = [r for r in read_csv(RESULTS) if 'tool' in r] if os.path.isfile(RESULTS) else []

  def save(new_rows):  # after every part: a part that fails later loses nothing
    rows.extend(new_rows)
    done = {r['part'][0] for r in rows}
    save_csv(RESULTS, [r for r in old if r['part'][0] not in done] + rows, COLUMNS)

  with tempfile.TemporaryDirectory() as tmp:
    if 'a' in parts or 'd' in parts:
      found, threads = part_a(tmp, args.seeds)
      save(found + threads)
    if 'b' in parts:
      save(part_b(tmp))
    if 'c' in parts:
      save(part_c(tmp, args.before))
    if 'e' in parts:
      save(sweep_rows('e_pendulum_hidden_gru_50k',
                      os.path.join(ROOT, 'runs', f'{stamp}_bench_pendulum_gru'),
                      PENDULUM, HIDDEN, 3, -300))
    if 'f' in parts:
      save(part_f(tmp))
  done = {r['part'][0] for r in rows}
  old = [r for r in old if r['part'][0] not in done]
  print(f'\n{"part":22s} {"tool":8s} {"run":44s} {"wall_s":>8s} {"warm_s":>7s} '
        f'{"cpu_s":>7s} {"return":>8s} {"acc":>6s} {"ms/tick":>8s} {"ms/step":>8s} '
        f'{"ms/act":>7s} {"thr":>4s} {"ratio":>6s}')
  for r in old + rows:
    def num(k, fmt, r=r):
      v = r.get(k, '')
      return format(float(v), fmt) if v not in ('', None) else '-'
    seed = r.get('seed', '')
    print(f'{r["part"]:22s} {r.get("tool", ""):8s} '
          f'{str(r["run"]) + (" " + str(seed) if seed != "" else ""):44s} '
          f'{num("wall_s", "8.1f")} {num("warm_wall_s", "7.1f")} {num("cpu_s", "7.1f")} '
          f'{num("mean_return", "8.1f")} {num("accuracy", "6.3f")} '
          f'{num("ms_per_tick", "8.3f")} {num("ms_per_env_step", "8.3f")} '
          f'{num("ms_per_act", "7.4f")} {num("threads", "4.0f")} {num("ratio", "6.2f")}')
  print(f'written to {RESULTS}')


if __name__ == '__main__':
  main()
