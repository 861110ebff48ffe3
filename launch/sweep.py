"""Many seeds (and variants) of an experiment, run side by side, with aggregated results.

    python launch/sweep.py --config=configs/two_step_train.py --seeds=8
    python launch/sweep.py --seeds=8 \
        --config=configs/episodic_two_step_train.py \
        --config=configs/episodic_two_step_train.py --config.agent.retrieval=False \
        --set=total_env_steps=5000000

Each --config=FILE is a variant, and the --config.FIELD=VALUE arguments after it are its
overrides, exactly as main.py takes them (one argument each, so a value may hold commas:
--config.network.hidden_sizes=64,64); --set=FIELD=VALUE overrides apply to every variant.
Every run's config is built by main.py's own loader (the same parser and checks) before any
process starts, and every run is `main.py` with those arguments in its own process,
evaluation inline, at most --parallel at a time. The --seeds seeds of a variant
(--first_seed, --first_seed + 1, ...) train in one process as one run with num_seeds =
--seeds (one start-up and compilation, the seeds spread over the cores) where the run
allows it (a single-process a3c or rsac run without a curriculum);
--process_per_seed, workers or a curriculum give one run per seed instead. An agent whose
config already trains `num_seeds` seeds per run (td) gets --seeds runs of them, run i from
--first_seed + i * num_seeds, so seeds never overlap.
Writes into --out (default runs/<time>_sweep):
  runs.csv             variant, seed (the run's first), num_seeds, run_dir, exit code, wall
                       seconds, node (the Ray node it ran on; empty on this machine's
                       processes)
  eval_all.csv         every eval.csv row of every run (`metarl.runs.compare`), with
                       `variant` and `seed` columns
  summary.csv          per variant and eval metric, over seeds at their last evaluation:
                       mean, std (sample, ddof=1), sem, min, max, seeds, failed_seeds
                       (the seeds whose runs failed: never silently missing)
  training_curves.png  mean (line) and spread (band: min to max) over seeds of --metric
                       against env steps, one line per variant
Ctrl-C or SIGTERM stops every run (each saves its params) and leaves no process behind.

On Ray (needs requirements-ray.txt; the executor is launch/sweep_ray.py), each run is one
Ray task that reserves --cpus_per_run CPUs and runs the same `main.py` command line in a
subprocess on whichever node Ray places it (--process_per_seed spreads the seeds of a
variant over the cluster; without it they train together in one run on one node):

    python launch/sweep.py --backend=ray --parallel=8 --config=configs/bandit_train.py
    python launch/sweep.py --backend=ray --ray_address=HEAD_HOST:6379 --cpus_per_run=2 \
        --seeds=32 --process_per_seed --config=configs/bandit_train.py

Without --ray_address the sweep starts a Ray instance of --parallel CPUs on 127.0.0.1 (token
authentication with a random token, session files in a new /tmp/metarl-ray-* folder, no
dashboard, a watchdog that ends the instance if the sweep is killed) and stops it at the end.
With --ray_address=HOST:PORT (or `auto`: the cluster `ray start` started on this machine)
it joins that cluster (its token from Ray's own RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH /
~/.ray/auth_token), ships this repository to it as the job's working directory (runs use
that copy of main.py, and of a config inside the repository) and submits every run at
once: the cluster's free CPUs decide how many run at a time. A run placed on the sweep's
own Ray node writes its run directory in place; one placed on another node runs in a
temporary folder there and sends the run directory (as a tar.gz) and its log back, which
the sweep unpacks into the planned run directory (its config.json and log.txt name that
folder), so a cluster works with or without a shared filesystem. A run whose Ray task
fails (its node lost, its worker killed) is started again, up to --max_retries times
(default 1), what the lost attempt left set aside as `<run_dir>.lost<n>` and
`<run_dir>.log.lost<n>`; past that it counts as failed (exit code -1). runs.csv (with the
node each run ran on), eval_all.csv, summary.csv (failed_seeds: the seeds of the runs that
failed) and the plot are as above. Ctrl-C or SIGTERM cancels every task:
each run gets SIGINT and saves its params (killed if it takes more than `RUN_STOP_S`
seconds), and the sweep stops the instance it started.
"""

import argparse
import hashlib
import importlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
if __name__ == '__main__':  # run as a script, this module is launch.sweep too (one copy)
  sys.modules.setdefault('launch.sweep', sys.modules[__name__])

from launch.backends import BACKENDS  # noqa: E402
from launch.process_pool import run_pool  # noqa: E402
from metarl import io  # noqa: E402

RUN_STOP_S = 60.0  # how long a stopped run may take to save its params before it is killed
_CANCEL_GRACE_S = 20.0  # on top of RUN_STOP_S: how long the sweep waits for cancelled tasks


# runs.csv: a row per run as it ends (node: the Ray node it ran on; '' on this machine's
# processes)
RUNS_COLUMNS = ('variant', 'seed', 'num_seeds', 'run_dir', 'exit_code', 'wall_s', 'node')


class SweepError(Exception):
  """A sweep argument that cannot run."""


class Variant(NamedTuple):
  """One --config of the sweep and the --config.FIELD=VALUE overrides that followed it."""
  config: str
  overrides: tuple[str, ...]

  @property
  def name(self) -> str:
    base = os.path.splitext(os.path.basename(self.config.partition(':')[0]))[0]
    arg = self.config.partition(':')[2]
    return base + (f'[{arg}]' if arg else '') + ''.join(f'[{o}]' for o in self.overrides)

  @property
  def folder(self) -> str:
    """`name` as one folder name: characters other than letters, digits and `._,=+-[]`
    become '_' (no '/', no '..' path), and a long name is cut, with a hash of the whole
    name kept so that two long names stay apart."""
    name = _UNSAFE.sub('_', self.name)
    if len(name) > 100:
      name = name[:80] + '_' + hashlib.sha256(self.name.encode()).hexdigest()[:12]
    return name


_UNSAFE = re.compile(r'[^A-Za-z0-9._,=+\-\[\]]')


def under(path: str, out: str) -> str:
  """`path` if it lies inside the folder `out` (links resolved), else a SweepError."""
  real_out, real = os.path.realpath(out), os.path.realpath(path)
  if real == real_out or os.path.commonpath([real_out, real]) != real_out:
    raise SweepError(f'{path}: outside --out ({out}); a sweep writes only inside it')
  return path


_CONFIG = re.compile(r'^--?config(?:=(.*))?$')
_OVERRIDE = re.compile(r'^--?config\.(.+)$')


def split_variants(argv: Sequence[str]) -> tuple[list[Variant], list[str]]:
  """The variants of a sweep command line and its other arguments.

  `--config=FILE` (or `--config FILE`; FILE may end in `:ARG`, as for main.py) starts a
  variant; each `--config.FIELD=VALUE` after it is one override of that variant, one
  command-line argument each, exactly as main.py takes them: no separator is needed, so a
  value may hold anything (`--config.network.hidden_sizes=64,64`).
  """
  variants: list[tuple[str, list[str]]] = []
  rest: list[str] = []
  tokens = list(argv)
  i = 0
  while i < len(tokens):
    token = tokens[i]
    start, override = _CONFIG.match(token), _OVERRIDE.match(token)
    if start:
      path = start.group(1)
      if path is None:
        if i + 1 >= len(tokens):
          raise SweepError('--config needs a file')
        i, path = i + 1, tokens[i + 1]
      variants.append((path, []))
    elif override:
      if not variants:
        raise SweepError(f'{token}: an override belongs to the --config before it (use '
                         '--set=FIELD=VALUE for every variant)')
      variants[-1][1].append(override.group(1))
    else:
      rest.append(token)
    i += 1
  return [Variant(path, tuple(o)) for path, o in variants], rest


def load_run_config(config: str, overrides: Sequence[str]):
  """The config main.py builds from `--config=config --config.OVERRIDE ...` (its loader:
  the same parser, types and checks); a bad one is a SweepError with main.py's line."""
  from launch import cli  # here: it imports JAX, which Ray tasks skip
  try:
    return cli.load_config(['metarl', f'--config={config}',
                            *[f'--config.{o}' for o in overrides]])
  except SystemExit as e:
    raise SweepError(f'--config={config}: {str(e.code).removeprefix("metarl: ")}') from e


def seeds_together(config) -> bool:
  """Whether a one-seed run of `config` can train several seeds in one process
  (`num_seeds`)."""
  from metarl import curriculum
  from metarl.agents import registry as agent_registry
  return (agent_registry.spec(config.agent.name).kind != 'seeds' and
          config.num_seeds == 1 and not config.launch.num_workers and
          not curriculum.enabled(config))


def plan(variants: list[Variant], args) -> list[dict]:
  """Every run of the sweep, each config built and validated by main.py's loader; raises
  SweepError first. A variant's seeds are one run of num_seeds = --seeds where
  `seeds_together` allows it (and not --process_per_seed); an agent that trains several
  seeds per run already (td's `num_seeds`) gets disjoint seed ranges: run i starts at
  first_seed + i * num_seeds."""
  runs = []
  names = set()
  for number, variant in enumerate(variants):
    if variant.folder in names:
      raise SweepError(f'--config {variant.name}: given twice (or a variant of the same '
                       f'folder name, {variant.folder})')
    names.add(variant.folder)
    overrides = list(args.set) + list(variant.overrides)
    from launch.cli import resolve_config  # a config by name, from any directory
    path = resolve_config(variant.config)
    if args.seeds > 1 and not args.process_per_seed:
      first, last = args.first_seed, args.first_seed + args.seeds - 1
      run_dir = under(os.path.join(args.out, f'{number:02d}_{variant.folder}',
                                   f'seeds_{first}-{last}'), args.out)
      run_overrides = overrides + [f'seed={first}', f'num_seeds={args.seeds}',
                                   f'run_dir={run_dir}', 'launch.num_evaluators=0']
      probe = load_run_config(path, overrides + [f'seed={first}'])
      if probe.mode == 'train' and seeds_together(probe):
        load_run_config(path, run_overrides)  # checked as it will run
        runs.append(dict(variant=variant.name, seed=first, num_seeds=args.seeds,
                         run_dir=run_dir, path=path, overrides=run_overrides))
        continue
    stride = None
    for i in range(args.seeds):
      seed = args.first_seed + i * (stride or 1)
      run_dir = under(os.path.join(args.out, f'{number:02d}_{variant.folder}', f'seed_{seed}'),
                      args.out)
      run_overrides = overrides + [f'seed={seed}', f'run_dir={run_dir}',
                                   'launch.num_evaluators=0']
      config = load_run_config(path, run_overrides)
      if config.mode != 'train':
        raise SweepError(f'--config {variant.config}: a training config is required')
      if stride is None:  # the first run trains seeds seed .. seed + num_seeds - 1
        stride = config.num_seeds
      runs.append(dict(variant=variant.name, seed=seed, num_seeds=stride, run_dir=run_dir,
                       path=path, overrides=run_overrides))
  return runs


def entry(repo: str) -> list[str]:
  """How to start a run from `repo`: its main.py in a clone, else the installed command's
  module."""
  main = os.path.join(repo, 'main.py')
  return [main] if os.path.isfile(main) else ['-m', 'launch.cli']


def command(run: dict) -> list[str]:
  return ([sys.executable, *entry(ROOT), f'--config={run["path"]}'] +
          [f'--config.{o}' for o in run['overrides']])


def execute(runs: list[dict], parallel: int, log) -> None:
  """Runs at most `parallel` processes at a time (`process_pool.run_pool`); on Ctrl-C stops
  them all."""
  outputs = {}

  def start(run: dict) -> subprocess.Popen:
    os.makedirs(os.path.dirname(run['run_dir']), exist_ok=True)
    out = outputs[id(run)] = open(run['run_dir'] + '.log', 'w')
    proc = subprocess.Popen(command(run), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    print(f'started {run["variant"]} seed {run["seed"]} (pid {proc.pid})', flush=True)
    return proc

  def finished(run: dict, exit_code: int, wall_s: float) -> None:
    outputs.pop(id(run)).close()
    run.update(exit_code=exit_code, wall_s=round(wall_s, 1))
    log.write({k: run.get(k, '') for k in RUNS_COLUMNS})
    status = 'done' if exit_code == 0 else f'FAILED (see {run["run_dir"]}.log)'
    print(f'{status}: {run["variant"]} seed {run["seed"]} in {run["wall_s"]}s', flush=True)

  try:
    run_pool(runs, parallel, start, finished, stop_timeout_s=RUN_STOP_S)
  finally:
    for out in outputs.values():
      out.close()


def aggregate(runs: list[dict], out: str, metric: str) -> dict[str, dict]:
  """Writes eval_all.csv, summary.csv and training_curves.png; returns the summary.

  The rows come from `metarl.runs.compare` (a row's own seed where a run trains several, as
  td does); a seed's final evaluation is its last row. summary.csv has per variant and
  metric the mean, the sample standard deviation (ddof=1; empty for one seed), the standard
  error of the mean, min, max, the number of seeds and the seeds of the variant whose runs
  failed (`failed_seeds`, space-separated; a variant none of whose runs finished gets one
  row with an empty metric), so a lost run is never silently missing.
  """
  import numpy as np

  from metarl import runs as runs_lib
  done = [r for r in runs if r.get('exit_code') == 0 and
          os.path.isfile(os.path.join(r['run_dir'], 'eval.csv'))]
  if not done:
    raise SweepError('no run finished with an eval.csv')
  failed_seeds: dict[str, list[int]] = {}
  for run in runs:
    failed_seeds.setdefault(run['variant'], [])
    if run not in done:
      failed_seeds[run['variant']] += list(range(run['seed'], run['seed'] +
                                                 run['num_seeds']))
  frames = []
  for run in done:
    frame = runs_lib.compare([run['run_dir']], table='eval')
    frame = frame.drop(columns=['run', 'config', 'agent', 'env'])
    frame.insert(0, 'variant', run['variant'])
    frames.append(frame)
  table = pd_concat(frames)
  io.save_csv(os.path.join(out, 'eval_all.csv'), table.to_dict('records'),
              list(table.columns))
  skip = {'variant', 'seed', 'env_steps', 'updates', 'wall_time', 'epoch'}
  summary, curves = {}, {}
  for variant, rows in table.groupby('variant', sort=False):
    finals = rows.groupby('seed', sort=False).tail(1)  # rows are in time order per seed
    summary[variant] = {}
    for key in [c for c in table.columns if c not in skip]:
      values = finals[key].dropna().astype(float).to_numpy()
      if len(values):
        std = values.std(ddof=1) if len(values) > 1 else float('nan')
        summary[variant][key] = dict(mean=values.mean(), std=std,
                                     sem=std / np.sqrt(len(values)), min=values.min(),
                                     max=values.max(), seeds=len(values))
    if metric in rows:
      pivot = rows.pivot_table(index='seed', columns='env_steps', values=metric,
                               aggfunc='last', sort=False)
      curves[variant] = (pivot.columns.to_numpy(), pivot.to_numpy())
  log = io.CsvLog(os.path.join(out, 'summary.csv'),
                  ['variant', 'metric', 'mean', 'std', 'sem', 'min', 'max', 'seeds',
                   'failed_seeds'])
  for variant, failed in failed_seeds.items():
    failed = ' '.join(str(seed) for seed in failed)
    for key, stats in summary.get(variant, {'': dict(seeds=0)}).items():
      log.write(dict(variant=variant, metric=key, failed_seeds=failed, **{
          k: ('' if isinstance(v, float) and np.isnan(v) else v) for k, v in stats.items()}))
  log.close()
  plot_training_curves(os.path.join(out, 'training_curves.png'), curves, metric)
  return summary


def pd_concat(frames):
  import pandas as pd
  return pd.concat(frames, ignore_index=True, sort=False)


def raise_interrupt(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0], usage=USAGE)
  parser.add_argument('--seeds', type=int, default=8)
  parser.add_argument('--first_seed', type=int, default=0)
  parser.add_argument('--process_per_seed', action='store_true',
                      help='one process (run) per seed, even where the seeds of a variant '
                           'could train together in one (num_seeds)')
  parser.add_argument('--set', action='append', default=[],
                      help='FIELD=VALUE override for every variant (repeatable)')
  parser.add_argument('--parallel', type=int, default=os.cpu_count() or 1,
                      help='runs at a time (default: the number of CPU cores); ray: the CPUs '
                           'of the local instance (a cluster runs as many as its CPUs allow)')
  parser.add_argument('--metric', default='mean_reward_per_trial',
                      help='eval.csv column drawn in training_curves.png')
  parser.add_argument('--out', default='')
  parser.add_argument('--backend', choices=tuple(BACKENDS), default=tuple(BACKENDS)[0],
                      help='where the runs go (launch.backends.BACKENDS): processes on this '
                           'machine, or one Ray task per run')
  parser.add_argument('--ray_address', default='',
                      help="ray: '' starts a local Ray instance of --parallel CPUs; "
                           "HOST:PORT or 'auto' joins a running cluster")
  parser.add_argument('--ray_allow_unauthenticated', action='store_true',
                      help='ray: join another machine\'s cluster without token authentication')
  parser.add_argument('--cpus_per_run', type=float, default=1.0,
                      help='ray: the CPUs each run reserves')
  parser.add_argument('--max_retries', type=int, default=1,
                      help='ray: how often a run whose task failed (its node lost) is '
                           'started again elsewhere before it counts as failed')
  argv = sys.argv[1:] if argv is None else list(argv)
  try:
    variants, rest = split_variants(argv)
  except SweepError as e:
    parser.error(str(e))
  args = parser.parse_args(rest)
  if not variants:
    parser.error('at least one --config=FILE is required')
  signal.signal(signal.SIGTERM, raise_interrupt)  # `kill` stops a sweep like Ctrl-C
  if args.seeds < 1 or args.parallel < 1:
    sys.exit('sweep: --seeds and --parallel must be >= 1')
  made = not args.out  # a new folder beside the runs main.py makes, unless --out names one
  args.out = args.out or io.new_timestamped_dir('runs', 'sweep')
  executor = sweep_executor(args.backend)
  try:
    executor.check(args)
    runs = plan(variants, args)
  except SweepError as e:
    if made:
      os.rmdir(args.out)  # still empty: nothing was started
    sys.exit(f'sweep: {e}')
  os.makedirs(args.out, exist_ok=True)
  log = io.CsvLog(os.path.join(args.out, 'runs.csv'), list(RUNS_COLUMNS))
  try:
    executor.run(runs, args, log)
  except KeyboardInterrupt:
    sys.exit('sweep: interrupted; every run stopped (each saved its params)')
  except SweepError as e:
    sys.exit(f'sweep: {e}')
  finally:
    log.close()
  failed = [r for r in runs if r.get('exit_code') != 0]
  try:
    summary = aggregate(runs, args.out, args.metric)
  except SweepError as e:
    sys.exit(f'sweep: {e}')
  for variant, metrics in summary.items():
    lost = [r['seed'] for r in failed if r['variant'] == variant]
    print(variant + (f' (failed: the runs of seeds {lost})' if lost else ''))
    for key, st in metrics.items():
      print(f'  {key:<28} {st["mean"]:.4g} (std {st["std"]:.3g}, {st["min"]:.4g} to '
            f'{st["max"]:.4g}, {st["seeds"]} seeds)')
  print(f'sweep written to {args.out}')
  return 1 if failed else 0


USAGE = """sweep.py [--seeds=N] [--set=FIELD=VALUE ...] --config=FILE [--config.FIELD=VALUE ...]
                [--config=FILE [--config.FIELD=VALUE ...] ...] [options]"""


class Executor(NamedTuple):
  """How a backend runs a sweep's runs: `check(args)` before anything starts (SweepError),
  `run(runs, args, log)`."""
  check: Callable[[Any], None]
  run: Callable[[list[dict], Any, Any], None]


def _no_ray_options(args) -> None:
  if args.ray_address or args.cpus_per_run != 1.0 or args.max_retries != 1:
    raise SweepError('--ray_address, --cpus_per_run and --max_retries need --backend=ray')


LOCAL = Executor(check=_no_ray_options,
                 run=lambda runs, args, log: execute(runs, args.parallel, log))


def sweep_executor(backend: str) -> Executor:
  """The executor the backends' table names for `backend` ('module:attribute')."""
  module, _, name = BACKENDS[backend].sweep.partition(':')
  return getattr(importlib.import_module(module), name)


def console() -> None:
  """The `metarl-sweep` console command."""
  sys.exit(main())


# Figures -----------------------------------------------------------------------------------

METRIC_LABELS = {
    'mean_cumulative_regret': 'cumulative regret per episode',
    'mean_reward_per_trial': 'reward per trial', 'reward_cued': 'reward per cued trial',
    'reward_uncued': 'reward per uncued trial', 'mean_return': 'return per episode',
    'success': 'success', 'accuracy': 'accuracy', 'mse': 'MSE against the true value'}


def variant_label(variant: str) -> str:
  """A legend entry for a sweep variant named CONFIG[FIELD=VALUE][...] (launch/sweep.py):
  its overrides, 'FIELD=VALUE, ...', or the config's name when it has none."""
  overrides = re.findall(r'\[([^\]]*)\]', variant)
  return ', '.join(overrides) if overrides else variant


def plot_training_curves(path: str, curves, metric: str) -> None:
  """Mean over seeds (line) and min-max spread (band) of `metric` against env steps, one
  line per variant. `curves`: {variant: (steps [N], values [seeds, N] with NaN gaps)}."""
  import numpy as np

  from metarl.analysis.figures import plt, save  # matplotlib only here
  fig, ax = plt.subplots(figsize=(6.5, 4))
  top = max((float(np.max(steps)) for steps, _ in curves.values() if len(steps)),
            default=1.0)
  scale, unit = ((1e6, ' (millions)') if top >= 1e6 else (1e3, ' (thousands)')
                 if top >= 1e4 else (1.0, ''))
  for variant, (steps, table) in curves.items():
    with np.errstate(all='ignore'):
      mean = np.nanmean(table, axis=0)
      low, high = np.nanmin(table, axis=0), np.nanmax(table, axis=0)
    x = np.asarray(steps) / scale
    ax.plot(x, mean, lw=2, label=f'{variant_label(variant)} ({table.shape[0]} seeds)')
    ax.fill_between(x, low, high, alpha=0.2)
  ax.set_xlabel(f'env steps{unit}')
  ax.set_ylabel(METRIC_LABELS.get(metric, metric.replace('_', ' ')) +
                ' (mean; band: min to max over seeds)')
  ax.grid(alpha=0.3)
  ax.legend(fontsize='small')
  save(fig, path)


if __name__ == '__main__':
  console()
