"""The runs of the results page: the plan (`plan`), and running it (`run_jobs`): main.py in
subprocesses, `parallel` at a time, each finished run marked so a later call reuses it."""

import dataclasses
import datetime
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.ticker  # noqa: E402,F401 (MaxNLocator)

from launch.process_pool import run_pool  # noqa: E402
from metarl.io import atomic_write_bytes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKER = 'report_job.json'

# Run settings. The full report on 2 cores: see the page's header for its time.
PENDULUM_SEEDS = (0, 1, 2)


class Job(NamedTuple):
  """One main.py run into `work/name`."""
  name: str
  section: str
  config: str  # relative to the repository root
  overrides: tuple[str, ...] = ()  # config fields, 'a.b=v'
  params_from: str = ''  # an eval: the job whose params.pickle it reads

  def spec(self) -> dict:
    return dict(config=self.config, overrides=list(self.overrides),
                params_from=self.params_from)


EPISODIC_SEEDS = 8


def plan(quick: bool) -> list[Job]:
  """Every run of the report, longest first (the scheduler starts them in this order)."""
  def pick(full, tiny):
    return tuple(tiny if quick else full)

  tiny = ('total_env_steps=64000', 'log_every_env_steps=32000',
              'eval.every_env_steps=64000', 'eval.num_episodes=50', 'checkpoint_every=0')
  inline = ('launch.num_evaluators=0',)
  episodic = 'configs/episodic_two_step_train.py'
  cq_tiny = ('total_env_steps=67840', 'log_every_env_steps=67840',
             'eval.every_env_steps=67840', 'eval.num_episodes=50', 'checkpoint_every=0')
  # configs/eval.py serves every run; the episode counts are the analyses' own defaults,
  # given here so that every eval job's config.json and command line say them
  two_step_eval = pick(['log_dynamics=False', 'num_episodes=1000'],
                       ['log_dynamics=False', 'num_episodes=50'])
  cq_eval = pick(['num_episodes=1000'], ['num_episodes=50', 'delays=0,5'])
  jobs = [
      # the seeds of Wang et al. (2018)'s figure (8) in one process each (num_seeds)
      Job('episodic_train', 'two_step', episodic,
          inline + pick([f'num_seeds={EPISODIC_SEEDS}'], ['num_seeds=2'] + list(tiny))),
      Job('incremental_train', 'two_step', episodic,
          inline + ('agent.retrieval=False',) + pick([f'num_seeds={EPISODIC_SEEDS}'],
                                                      ['num_seeds=2'] + list(tiny))),
      Job('class_query_curriculum', 'class_query', 'configs/class_query.py', pick([], cq_tiny)),
      Job('class_query_none', 'class_query', 'configs/class_query.py',
          ('curriculum.enabled=False',) + pick([], cq_tiny)),
      Job('bandit_train', 'bandit', 'configs/bandit_train.py', inline + pick(
          ['eval.every_env_steps=1000000'], tiny)),
      Job('two_step_train', 'two_step', 'configs/two_step_train.py',
          inline + pick([], tiny)),
      Job('value_td', 'value', 'configs/value_td.py', pick([], [
          'agent.epochs=20', 'num_seeds=2', 'eval.every_epochs=10', 'log_every_epochs=10',
          'eval.num_episodes=20', 'checkpoint_every=0'])),
  ]
  for seed in PENDULUM_SEEDS[:1] if quick else PENDULUM_SEEDS:
    jobs.append(Job(f'pendulum_s{seed}', 'sac', 'configs/pendulum_sac.py', (f'seed={seed}',) +
                    pick([], ['total_env_steps=500', 'log_every_env_steps=250',
                              'eval.every_env_steps=250', 'eval.num_episodes=1',
                              'launch.updates_per_call=250', 'checkpoint_every=0'])))
  jobs += [
      Job('bandit_eval', 'bandit', 'configs/eval.py',  # activity: posterior decoding
          pick(['log_dynamics=True', 'num_episodes=2000'],
               ['log_dynamics=True', 'num_episodes=100']),
          params_from='bandit_train'),
      Job('two_step_eval', 'two_step', 'configs/eval.py', two_step_eval,
          params_from='two_step_train'),
      Job('episodic_eval', 'two_step', 'configs/eval.py', two_step_eval,
          params_from='episodic_train'),
      Job('incremental_eval', 'two_step', 'configs/eval.py', two_step_eval,
          params_from='incremental_train'),
      Job('class_query_curriculum_eval', 'class_query', 'configs/eval.py',
          cq_eval, params_from='class_query_curriculum'),
      Job('class_query_none_eval', 'class_query', 'configs/eval.py', cq_eval,
          params_from='class_query_none'),
  ]
  return jobs


# ---------------------------------------------------------------------------------------
# Running


@dataclasses.dataclass
class Outcome:
  status: str  # 'reused' | 'done' | 'failed' | 'skipped'
  wall_s: float | None = None
  note: str = ''


def read_marker(work: str, name: str) -> dict | None:
  path = os.path.join(work, name, MARKER)
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def is_done(job: Job, work: str, jobs: dict[str, Job] | None = None) -> bool:
  """Whether `work/job.name` is a finished run of `job`'s settings; an evaluation also needs
  the very run it read to be still there and done (`jobs`: the plan, by name)."""
  marker = read_marker(work, job.name)
  if marker is None or marker.get('spec') != job.spec():
    return False
  if not job.params_from:
    return True
  source = read_marker(work, job.params_from)
  if source is None or source.get('finished') != marker.get('params_finished'):
    return False  # the training run was made again (or is gone) since
  source_job = (jobs or {}).get(job.params_from)
  return source_job is None or is_done(source_job, work, jobs)


def command(job: Job, work: str) -> list[str]:
  cmd = [sys.executable, os.path.join(ROOT, 'main.py'),
         f'--config={os.path.join(ROOT, job.config)}',
         f'--config.run_dir={os.path.join(work, job.name)}']
  if job.params_from:
    cmd.append(f'--config.params_path={os.path.join(work, job.params_from, "params.pickle")}')
  return cmd + [f'--config.{o}' for o in job.overrides]


def run_jobs(jobs: Sequence[Job], work: str, parallel: int,
             say: Callable[[str], None] = print) -> dict[str, Outcome]:
  """Runs the jobs not done yet, `parallel` at a time, an eval after the run it reads.

  Returns:
    {job name: Outcome}. A failed run's dependants are skipped; the rest go on.
  """
  names = {job.name for job in jobs}
  orphans = [job.name for job in jobs if job.params_from and job.params_from not in names]
  if orphans:
    raise ValueError(f'{orphans} read the params of runs that are not planned')
  by_name = {job.name: job for job in jobs}
  outcomes: dict[str, Outcome] = {}
  pending = []
  for job in jobs:
    if is_done(job, work, by_name):
      outcomes[job.name] = Outcome('reused', read_marker(work, job.name).get('wall_s'))
    else:
      pending.append(job)
  if outcomes:
    say(f'reusing {len(outcomes)} finished runs in {work}')
  logs = os.path.join(work, 'logs')
  os.makedirs(logs, exist_ok=True)
  open_logs, commands = {}, {}

  def ready(job: Job) -> bool | None:
    """An eval waits for the run it reads, and is skipped if that run did not finish."""
    if not job.params_from:
      return True
    dep = outcomes.get(job.params_from)
    if dep is None:  # still to run or running
      return False
    if dep.status in ('failed', 'skipped'):
      outcomes[job.name] = Outcome('skipped', note=f'{job.params_from} {dep.status}')
      return None
    return True

  def start(job: Job) -> subprocess.Popen:
    run_dir = os.path.join(work, job.name)
    if os.path.isdir(run_dir):  # an unfinished or different earlier run: start afresh
      shutil.rmtree(run_dir)
    log = open_logs[job.name] = open(os.path.join(logs, f'{job.name}.log'), 'w')
    cmd = commands[job.name] = command(job, work)
    say(f'started {job.name}')
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

  def finished(job: Job, exit_code: int, wall: float) -> None:
    log = open_logs.pop(job.name)
    log.close()
    if exit_code == 0:
      source = read_marker(work, job.params_from) if job.params_from else None
      write_json(os.path.join(work, job.name, MARKER), dict(
          spec=job.spec(), wall_s=round(wall, 1), command=commands[job.name],
          finished=datetime.datetime.now().isoformat(timespec='microseconds'),
          params_finished=source['finished'] if source else None))
      outcomes[job.name] = Outcome('done', round(wall, 1))
      say(f'finished {job.name} in {wall:.0f} s')
    else:
      outcomes[job.name] = Outcome('failed', round(wall, 1),
                                   f'exit {exit_code}; see {rel(log.name)}')
      say(f'FAILED {job.name} (exit {exit_code}); see {log.name}')

  try:  # Ctrl-C or an error: the runs stop the way Ctrl-C stops main.py
    run_pool(pending, parallel, start, finished, ready, stop_timeout_s=30)
  finally:
    for log in open_logs.values():
      log.close()
  return outcomes


def record_invocation(work: str, entry: dict) -> list[dict]:
  """Appends `entry` to the work folder's report_log.json; returns every entry."""
  path = os.path.join(work, 'report_log.json')
  entries = []
  if os.path.isfile(path):
    with open(path) as f:
      entries = json.load(f)
  entries.append(entry)
  write_json(path, entries)
  return entries


def write_json(path: str, obj) -> None:
  atomic_write_bytes(path, (json.dumps(obj, indent=2) + '\n').encode())



def rel(path: str) -> str:
  """`path` relative to the repository root when inside it (as the page names files)."""
  path = os.path.abspath(path)
  return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path
