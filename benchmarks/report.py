"""The results page: the headline result of each system metarl replaces, reproduced, with
figures.

python benchmarks/report.py [--work=DIR] [--only=SECTION[,SECTION]] [--parallel=2]
                            [--out=docs] [--quick]

Writes `--out`/RESULTS.md and its figures in `--out`/figures/ (PNG). The runs are main.py
in subprocesses (as benchmarks/two_step.py and benchmarks/sac.py run it), `--parallel` at a
time, into the work folder (default runs/<time>_report):

  bandit       configs/bandit_train.py for BANDIT_STEPS env steps, then configs/eval.py
  two_step     configs/two_step_train.py as is; configs/episodic_two_step_train.py with
               agent.retrieval True (episodic) and False (incremental); each one's eval config
  value        configs/value_td.py as is (10 seeds side by side)
  sac          configs/pendulum_sac.py as is, seeds PENDULUM_SEEDS; the memory task (45 min
               a seed on this machine) is read from benchmarks/results/sac.csv
  class_query  configs/class_query.py with and without curriculum, then configs/eval.py
  speed        no runs: the committed benchmarks/results/*.csv

Trainings evaluate inline (num_evaluators=0), so each run is one process. A run's folder gets
`report_job.json` when main.py exits 0; a later call with the same --work reuses every run
whose file names the same command, so after a crash, or to render the page again, only what
is missing runs. --only restricts the runs to those sections; the page always has every
section, from whatever the work folder holds ("not run" otherwise). --quick: tiny runs (the
test's mode; nothing is expected to reproduce).

Every number on the page is read from the files of those runs or from a committed CSV that
the page names next to it. The only numbers written here are the published or reference
values of the systems metarl replaces (PUBLISHED, each with its source), the run settings, and the
criteria by which a result counts as reproduced (CRITERIA, shown on the page).
"""

import argparse
import csv
import dataclasses
import datetime
import io
import json
import os
import re
import runpy
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import matplotlib  # noqa: E402

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401 (MaxNLocator)
import numpy as np  # noqa: E402

from launch.sweep import interrupt_runs  # noqa: E402
from metarl import runs  # noqa: E402
from metarl.analysis import plots  # noqa: E402
from metarl.analysis.two_step import PUBLISHED as WANG_2018_STAY  # noqa: E402
from metarl.io import atomic_write_bytes, load_pickle, save_csv, timestamped_dir  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
MARKER = 'report_job.json'
DPI = 300

SECTIONS = {  # key: the heading of its part of the page
    'bandit': 'Meta-RL on bandits (nathanwispinski/meta-rl)',
    'two_step': 'The two-step task and episodic meta-RL (BKHMSI/Meta-RL-TwoStep-Task)',
    'value': 'Value RNNs trained with TD (value-rnn-td)',
    'beliefs': 'What value RNNs compute: belief states and dopamine-like RPEs '
               '(Hennig et al. 2023)',
    'sac': 'Recurrent SAC: memory task and pendulum (RLtools)',
    'class_query': "Long memory: the class-query task (S. Bartunov's lecture)",
    'speed': 'Speed against the reference implementations',
}

# Published or reference values of the systems metarl replaces: (text, where it comes from).
PENDULUM_RLTOOLS = (-140, -200)  # RLtools' pendulum SAC return range (its documentation)
PUBLISHED = {
    'bandit': ('Thompson ~2.78, UCB1 ~5.6, random ~16.7',
               'two independent Beta(1, 1) arms, 100 trials, as nathanwispinski/meta-rl '
               'evaluates; metarl/analysis/bandit.py computes them'),
    'stay': (' / '.join(f'{WANG_2018_STAY[k]:.2f}' for k in (
        'rewarded_common', 'rewarded_uncommon', 'unrewarded_common', 'unrewarded_uncommon')),
             'Wang et al. 2018 Fig. 4, doi:10.1038/s41593-018-0147-8, read off '
             'BKHMSI/Meta-RL-TwoStep-Task\'s figure'),
    'episodic': ('episodic agent above the incremental one on cued trials',
                 'Ritter et al. 2018, arXiv:1805.09692'),
    'value': ('Vhat follows the true value; the reference fails on ~2 of 10 seeds',
              'github.com/mobeets/value-rnn-td'),
    'memory': ('every printed test sequence right at 200k steps (10 of 10); mean return '
               'about -505 at 180k', 'RLtools\' output'),
    'pendulum': ('about {} to {}'.format(*PENDULUM_RLTOOLS),
                 'RLtools, arXiv:2306.03530, full observation, 10k steps'),
    'class_query': ('"sequences of length 100 are already hard to learn"', "S. Bartunov's lecture"),
    'beliefs': ('RPE MSE 0.0006 (untrained 0.009); belief R^2 0.665 (untrained 0.41)',
                'Hennig et al. 2023, doi:10.1371/journal.pcbi.1011067, Task 2, 50 units, '
                'medians of 12'),
}

# What counts as reproducing each headline (shown on the page next to the verdict).
CRITERIA = {
    'bandit_thompson_ratio': 1.25,  # regret within this factor of Thompson sampling's
    'episodic_sems': 2.0,  # episodic - incremental cued reward above this many s.e.m.
    'value_fail_mse': 5e-4,  # benchmarks/value_td.py: a seed with a larger MSE failed
    'pendulum_return': min(PENDULUM_RLTOOLS),  # the low end of RLtools' range
    'memory_accuracy': 0.9,  # benchmarks/sac.py's threshold
    'class_query_success': 0.95,  # benchmarks/long_memory.py: solved
}

# Run settings. The full report on 2 cores: see the page's header for its time.
BANDIT_STEPS = 20_000_000
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


def pooled(rows: list[dict], keys: Sequence[str]) -> list[dict]:
  """A table gathered over seeds (its `seed` column) pooled per `keys`: the mean over seeds
  of `stay_probability` / `mean_reward`, `sem` the standard error across seeds, `count`
  summed, `seeds`. A table of one seed passes through."""
  if not rows or 'seed' not in rows[0]:
    return rows
  groups: dict[tuple, list[dict]] = {}
  for row in rows:
    groups.setdefault(tuple(row[k] for k in keys), []).append(row)
  out = []
  for members in groups.values():
    row = dict(members[0])
    for column in ('stay_probability', 'mean_reward'):
      if column in row:
        values = np.array([float(m[column]) for m in members])
        row[column] = float(values.mean())
        row['sem'] = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 \
            else float(row['sem'])
    row['count'] = sum(int(m['count']) for m in members)
    row['seeds'] = len(members)
    del row['seed']
    out.append(row)
  return out


def plan(quick: bool) -> list[Job]:
  """Every run of the report, longest first (the scheduler starts them in this order)."""
  def pick(full, tiny):
    return tuple(tiny if quick else full)

  a3c_tiny = ('total_env_steps=64000', 'log_every_env_steps=32000',
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
          inline + pick([f'num_seeds={EPISODIC_SEEDS}'], ['num_seeds=2'] + list(a3c_tiny))),
      Job('incremental_train', 'two_step', episodic,
          inline + ('agent.retrieval=False',) + pick([f'num_seeds={EPISODIC_SEEDS}'],
                                                      ['num_seeds=2'] + list(a3c_tiny))),
      Job('class_query_curriculum', 'class_query', 'configs/class_query.py', pick([], cq_tiny)),
      Job('class_query_none', 'class_query', 'configs/class_query.py',
          ('curriculum.enabled=False',) + pick([], cq_tiny)),
      Job('bandit_train', 'bandit', 'configs/bandit_train.py', inline + pick(
          [f'total_env_steps={BANDIT_STEPS}', 'eval.every_env_steps=1000000'], a3c_tiny)),
      Job('two_step_train', 'two_step', 'configs/two_step_train.py',
          inline + pick([], a3c_tiny)),
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
  running = {}  # name: (job, command, Popen, log file, start time)
  try:
    while pending or running:
      for job in list(pending):
        if len(running) >= parallel:
          break
        if job.params_from:
          dep = outcomes.get(job.params_from)
          if dep is None:  # still to run or running
            continue
          if dep.status in ('failed', 'skipped'):
            pending.remove(job)
            outcomes[job.name] = Outcome('skipped', note=f'{job.params_from} {dep.status}')
            continue
        pending.remove(job)
        run_dir = os.path.join(work, job.name)
        if os.path.isdir(run_dir):  # an unfinished or different earlier run: start afresh
          shutil.rmtree(run_dir)
        log = open(os.path.join(logs, f'{job.name}.log'), 'w')
        cmd = command(job, work)
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        running[job.name] = (job, cmd, proc, log, time.time())
        say(f'started {job.name}')
      time.sleep(0.5)
      for name, (job, cmd, proc, log, start) in list(running.items()):
        if proc.poll() is None:
          continue
        del running[name]
        log.close()
        wall = time.time() - start
        if proc.returncode == 0:
          source = read_marker(work, job.params_from) if job.params_from else None
          write_json(os.path.join(work, name, MARKER), dict(
              spec=job.spec(), wall_s=round(wall, 1), command=cmd,
              finished=datetime.datetime.now().isoformat(timespec='microseconds'),
              params_finished=source['finished'] if source else None))
          outcomes[name] = Outcome('done', round(wall, 1))
          say(f'finished {name} in {wall:.0f} s')
        else:
          outcomes[name] = Outcome('failed', round(wall, 1),
                                   f'exit {proc.returncode}; see {rel(log.name)}')
          say(f'FAILED {name} (exit {proc.returncode}); see {log.name}')
  finally:  # Ctrl-C or an error here: stop the children the way Ctrl-C stops main.py
    interrupt_runs([proc for _, _, proc, _, _ in running.values()], timeout_s=30)
    for _, _, _, log, _ in running.values():
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


# ---------------------------------------------------------------------------------------
# Reading


class Missing(Exception):
  """A run (or a CSV) the section needs is not in the work folder."""


def rel(path: str) -> str:
  """`path` relative to the repository root when inside it (as the page names files)."""
  path = os.path.abspath(path)
  return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def read_csv(path: str) -> list[dict]:
  if not os.path.isfile(path):
    raise Missing(f'{rel(path)} does not exist')
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


@dataclasses.dataclass
class Context:
  work: str
  figures: str  # folder of the page's figures
  outcomes: dict[str, Outcome]
  jobs: dict[str, Job]  # the whole plan of this mode, by name

  def run(self, name: str) -> runs.Run:
    """The finished run `name` (Missing, with the reason, if it is not one made with this
    mode's settings)."""
    if name not in self.jobs:
      raise Missing(f'run {name} is not part of this mode\'s plan')
    if not is_done(self.jobs[name], self.work, self.jobs):
      outcome, marker = self.outcomes.get(name), read_marker(self.work, name)
      job = self.jobs[name]
      why = (f'{outcome.status}: {outcome.note}' if outcome else
             'not run in this work folder' if marker is None else
             'made with other settings' if marker.get('spec') != job.spec() else
             f'made from params that {job.params_from} no longer holds')
      raise Missing(f'run {name} {why}')
    return runs.load(os.path.join(self.work, name))

  def file(self, name: str, filename: str) -> str:
    return os.path.join(self.work, name, filename)

  def wall(self, name: str) -> float:
    return float(read_marker(self.work, name)['wall_s'])

  def figure(self, filename: str) -> tuple[str, str]:
    """(path to write, link from the page) of a figure."""
    return os.path.join(self.figures, filename), f'figures/{filename}'

  def cite(self, path: str) -> str:
    """How the page names a source file. A table of a run (the work folder is not part of
    the repository) is copied beside the page into results/<run>_<file>, so every source
    the page names can be opened by its readers; other files are named by their path."""
    work = os.path.abspath(self.work) + os.sep
    if not os.path.abspath(path).startswith(work):
      return code(path)
    if not os.path.isfile(path):
      raise Missing(f'{rel(path)} does not exist')
    name = os.path.relpath(os.path.abspath(path), work).replace(os.sep, '_')
    folder = os.path.join(os.path.dirname(self.figures), 'results')
    os.makedirs(folder, exist_ok=True)
    with open(path, 'rb') as f:
      atomic_write_bytes(os.path.join(folder, name), f.read())
    return f'[`results/{name}`](results/{name})'


def save_figure(fig, path: str) -> None:
  """The PNG at DPI and a PDF beside it."""
  for fmt, target in (('png', path), ('pdf', os.path.splitext(path)[0] + '.pdf')):
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI, bbox_inches='tight')
    atomic_write_bytes(target, buf.getvalue())
  plt.close(fig)


def steps(n) -> str:
  """An env-step count as the page writes it: 20M, or 64,000."""
  n = int(n)
  return f'{n / 1e6:g}M' if n >= 1_000_000 else f'{n:,}'


def commands(ctx: 'Context', section: str) -> str:
  """The main.py command lines of a section's runs, as a markdown list."""
  lines = [f'- `{job.name}`: `python main.py --config={job.config}' +
           ''.join(f' --config.{o}' for o in job.overrides) + '`'
           for job in ctx.jobs.values() if job.section == section]
  return ('\n\nThe runs (each also with `--config.run_dir=WORK/<name>`, an evaluation with '
          '`--config.params_path=WORK/<run>/params.pickle`; WORK is the work folder):\n\n' +
          '\n'.join(lines) + '\n')


def reflow(markdown: str, width: int = 100) -> str:
  """Wraps the plain paragraphs of `markdown` (not tables, figures or headings) again."""
  blocks = []
  for block in re.split(r'\n\s*\n', markdown.strip()):
    lines = block.strip().split('\n')
    if any(line.startswith(('|', '!', '#', '- ')) for line in lines):
      blocks.append(block)
    else:
      blocks.append(textwrap.fill(' '.join(line.strip() for line in lines), width,
                                  break_long_words=False, break_on_hyphens=False))
  return '\n\n'.join(blocks)


def upper_first(text: str) -> str:
  return text[:1].upper() + text[1:]


def code(path: str) -> str:
  return f'`{rel(path)}`'


def published(key: str) -> str:
  text, source = PUBLISHED[key]
  return f'published: {text} ({source})'


class Headline(NamedTuple):
  system: str
  headline: str  # what is measured (no numbers: they go in the next columns)
  metarl: str
  reference: str
  source: str
  reproduced: str


@dataclasses.dataclass
class Section:
  key: str
  body: str
  headlines: list[Headline]


def verdict(ok: bool) -> str:
  return 'yes' if ok else 'no'


# ---------------------------------------------------------------------------------------
# Sections


def cell(value, digits: int = 2) -> str:
  """A CSV cell as a number with `digits` decimals, or '-' where it is blank or absent."""
  return f'{float(value):.{digits}f}' if value not in (None, '') else '-'


def bandit_section(ctx: Context) -> Section:
  train, ev = ctx.run('bandit_train'), ctx.run('bandit_eval')
  summary = {r['method']: r for r in read_csv(ctx.file('bandit_eval', 'eval_summary.csv'))}
  data = ev.eval_data()
  regret = {m: float(summary[m]['mean_cumulative_regret']) for m in summary}
  sem = float(summary['agent']['sem_cumulative_regret'])
  ratio = regret['agent'] / regret['thompson']
  limit = CRITERIA['bandit_thompson_ratio']
  ok = ratio <= limit and regret['agent'] < regret['random']
  total = int(train.config.total_env_steps)
  episodes = int(summary['agent']['num_episodes'])
  curve = train.eval

  fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw=dict(width_ratios=[1.1, 1, 1]))
  order = np.argsort(-data['arm_probs'][:, 0], kind='stable')
  shown = order[np.linspace(0, len(order) - 1, min(200, len(order))).astype(int)]
  axes[0].imshow(data['actions'][shown], aspect='auto', interpolation='nearest',
                 cmap=matplotlib.colors.ListedColormap(['#1f77b4', '#9e9e9e']), vmin=-0.5,
                 vmax=1.5)
  axes[0].set_yticks(*plots.probability_ticks(data['arm_probs'][shown, 0]))
  axes[0].set_ylabel('p(arm 1) of the episode')
  axes[0].set_xlabel('trial')
  axes[0].set_title(f'frozen agent: arm 1 blue, arm 2 grey\n'
                    f'({len(shown)} of {episodes} episodes, sorted by p(arm 1))')
  cumulative = {'agent': np.cumsum(data['regret'], axis=1),
                **{m: np.cumsum(r, axis=1) for m, r in data['baseline_regret'].items()
                   if m != 'oracle'}}
  for name, values in cumulative.items():
    mean = values.mean(axis=0)
    sem_t = values.std(axis=0) / np.sqrt(values.shape[0])
    trials = np.arange(1, values.shape[1] + 1)
    axes[1].plot(trials, mean, lw=2.5 if name == 'agent' else 1.2,
                 label=f'{name} ({regret[name]:.2f})')
    axes[1].fill_between(trials, mean - sem_t, mean + sem_t, alpha=0.2)
  axes[1].set_xlabel('trial')
  axes[1].set_ylabel('mean cumulative regret')
  axes[1].set_title(f'{episodes} fresh episodes, same arm probabilities')
  axes[1].legend(fontsize='small')
  axes[1].grid(alpha=0.3)
  axes[2].plot(curve['env_steps'] / 1e6, curve['mean_cumulative_regret'], 'o-', ms=3,
               label='agent (evaluations during training)')
  axes[2].axhline(regret['thompson'], color='C1', ls='--', lw=1, label='Thompson')
  axes[2].axhline(limit * regret['thompson'], color='C1', ls=':', lw=1,
                  label=f'{limit}x Thompson')
  axes[2].set_xlabel('env steps (millions)')
  axes[2].set_ylabel('cumulative regret per episode')
  axes[2].set_title('training')
  axes[2].set_ylim(0, max(8.0, regret['thompson'] * 2))
  axes[2].legend(fontsize='small')
  axes[2].grid(alpha=0.3)
  path, link = ctx.figure('bandit.png')
  save_figure(fig, path)

  src = ctx.file('bandit_eval', 'eval_summary.csv')
  first = curve[curve['mean_cumulative_regret'] <= limit * regret['thompson']]
  first_text = (f'The evaluations during training ({int(train.config.eval.num_episodes)} '
                f'episodes each, `eval.csv`) first came '
                f'within {limit}x of Thompson\'s regret at '
                f'{first["env_steps"].iloc[0] / 1e6:.1f}M env steps, '
                f'{first["wall_time"].iloc[0]:.0f} s into training.' if len(first) else
                f'No evaluation during training came within {limit}x of Thompson\'s regret.')
  body = f"""An LSTM({int(train.config.network.hidden_size)}) trained by A3C in one process
(`configs/bandit_train.py` with `total_env_steps={total}`, evaluated inline; start to exit
{ctx.wall('bandit_train'):.0f} s in this report), then frozen and played on {episodes} fresh
episodes ({int(train.config.env.num_arms)} arms, `{train.config.env.reward_structure}` win
probabilities; `configs/eval.py`), next to the classic algorithms
on the same arm probabilities ({ctx.cite(src)}):

| method | mean cumulative regret | s.e.m. | reward per trial | ratio to Thompson | ratio to Bayes-optimal | agreement with the Bayes-optimal choice |
| --- | --- | --- | --- | --- | --- | --- |
""" + ''.join(
      f"| {m} | {float(r['mean_cumulative_regret']):.2f} | "
      f"{float(r['sem_cumulative_regret']):.2f} | {float(r['mean_reward_per_trial']):.3f} | "
      f"{float(r['ratio_to_thompson']):.2f} | {cell(r.get('ratio_to_bayes_optimal'))} | "
      f"{cell(r.get('bayes_agreement'))} |\n" for m, r in summary.items()) + f"""
![bandit]({link})

Left, nathanwispinski/meta-rl's figure: one row per episode, sorted by arm 1's win
probability, one cell per trial coloured by the arm chosen. Middle: mean cumulative regret
against trial (± s.e.m.), the agent and the baselines on the same episodes. Right: the
evaluations made during training. {first_text}
Reproduced (regret within {limit}x of Thompson's and below random's): **{verdict(ok)}**
(ratio {ratio:.2f}).
"""
  body += bandit_internals(ctx)
  headline = Headline(
      'Bandits, meta-RL A3C (nathanwispinski/meta-rl)',
      'mean cumulative regret per episode, two independent arms, frozen agent',
      f"agent {regret['agent']:.2f} ± {sem:.2f}; Thompson {regret['thompson']:.2f}, "
      f"UCB1 {regret['ucb1']:.2f}, random {regret['random']:.2f}"
      + (f", Bayes-optimal {regret['bayes_optimal']:.2f}" if 'bayes_optimal' in regret else '')
      + ' on the same episodes',
      published('bandit'), ctx.cite(src), verdict(ok))
  return Section('bandit', body, [headline])


def copy_figure(ctx: Context, source: str, filename: str) -> str:
  """A figure written elsewhere (an analysis, a benchmark's docs/figures), copied beside the
  page with its PDF unless it is already there; returns its link."""
  if not os.path.isfile(source):
    raise Missing(f'{rel(source)} does not exist')
  path, link = ctx.figure(filename)
  if os.path.abspath(path) != os.path.abspath(source):
    for src, dst in ((source, path), (os.path.splitext(source)[0] + '.pdf',
                                      os.path.splitext(path)[0] + '.pdf')):
      if os.path.isfile(src):
        shutil.copyfile(src, dst)
  return link


def bandit_internals(ctx: Context) -> str:
  """What the frozen bandit agent computes (metarl/analysis/bandit_posterior.py)."""
  try:
    decoding = read_csv(ctx.file('bandit_eval', 'posterior_decoding.csv'))
    variance = read_csv(ctx.file('bandit_eval', 'pca.csv'))
    kernel = copy_figure(ctx, ctx.file('bandit_eval', 'choice_kernel.png'),
                         'bandit_choice_kernel.png')
    pcs = copy_figure(ctx, ctx.file('bandit_eval', 'pca.png'), 'bandit_pca.png')
  except Missing as e:
    return f'\n**What the agent computes**: not available ({e}).\n'
  r2 = {(r['network'], r['target']): float(r['r2']) for r in decoding}
  targets = list(dict.fromkeys(r['target'] for r in decoding))
  top2 = float(variance[1]['cumulative'])
  return f"""
**What the agent computes** (`metarl/analysis/bandit_posterior.py`, on the same frozen
episodes). A ridge decoder, cross-validated by episode, reads the Beta posterior of the two
arms from the network's activity after each outcome; the untrained network is the same
network at initialisation, playing the same arms itself
({ctx.cite(ctx.file('bandit_eval', 'posterior_decoding.csv'))}):

| R^2 | {' | '.join(targets)} |
| --- | {' | '.join('---' for _ in targets)} |
| trained | {' | '.join(f"{r2[('trained', t)]:.2f}" for t in targets)} |
| untrained | {' | '.join(f"{r2.get(('untrained', t), float('nan')):.2f}" for t in targets)} |

The first two principal components of the activity explain {100 * top2:.0f}% of its
variance; along them the activity is ordered by the posterior difference mu_1 - mu_2:

![bandit PCA]({pcs})

Choice-history kernels (Lau & Glimcher 2005) of the agent, Thompson sampling and the
Bayes-optimal player on the same arms:

![choice kernels]({kernel})
"""


def stay_dict(rows, analysis: str | None = None) -> dict[str, dict]:
  return {r['condition']: r for r in rows if analysis is None or r['analysis'] == analysis}


CONDITIONS = ('rewarded_common', 'rewarded_uncommon', 'unrewarded_common',
              'unrewarded_uncommon')


def stay_bars(ax, stays: dict[str, dict], title: str, show_published: bool) -> None:
  width = 0.35
  for i, rewarded in enumerate(('rewarded', 'unrewarded')):
    for j, transition in enumerate(('common', 'uncommon')):
      row = stays[f'{rewarded}_{transition}']
      x = i + (j - 0.5) * width
      ax.bar(x, float(row['stay_probability']), width, yerr=float(row['sem']), capsize=3,
             color='#1f4e9c' if transition == 'common' else '#c0392b',
             label=transition if i == 0 else None)
      if show_published and row.get('published', '') != '':
        ax.plot([x], [float(row['published'])], 'o', color='k', ms=6,
                label='published' if (i, j) == (0, 0) else None)
  ax.set_xticks([0, 1])
  ax.set_xticklabels(['rewarded', 'unrewarded'])
  ax.set_ylim(0, 1.05)
  ax.set_title(title, fontsize=10)


def model_based(stays: dict[str, dict]) -> bool:
  p = {k: float(v['stay_probability']) for k, v in stays.items()}
  return (p['rewarded_common'] > p['rewarded_uncommon'] and
          p['unrewarded_uncommon'] > p['unrewarded_common'])


def mb_index(stays: dict[str, dict]) -> float:
  """(rewarded common - uncommon) + (unrewarded uncommon - common) stay probability."""
  p = {k: float(v['stay_probability']) for k, v in stays.items()}
  return (p['rewarded_common'] - p['rewarded_uncommon'] + p['unrewarded_uncommon'] -
          p['unrewarded_common'])


def stay_text(stays: dict[str, dict]) -> str:
  return ' / '.join(f"{float(stays[c]['stay_probability']):.3f}" for c in CONDITIONS)


AGENT_COLORS = {'incremental': '#1f77b4', 'episodic': '#ff7f0e'}  # the same in every panel


def two_step_section(ctx: Context) -> Section:
  vanilla_train = ctx.run('two_step_train')
  ctx.run('two_step_eval')
  vanilla = stay_dict(read_csv(ctx.file('two_step_eval', 'stay_probability.csv')))
  body = ''
  headlines = []
  ok = model_based(vanilla)
  v_src = ctx.file('two_step_eval', 'stay_probability.csv')
  v_eval = vanilla_train.eval.iloc[-1]
  v_episodes = int(runs.load(os.path.join(ctx.work, 'two_step_eval')).config.num_episodes)
  headlines.append(Headline(
      'Two-step task, LSTM + A2C (BKHMSI/Meta-RL-TwoStep-Task, Wang 2018)',
      'stay probability after rewarded-common / rewarded-uncommon / unrewarded-common / '
      'unrewarded-uncommon trials, frozen agent',
      stay_text(vanilla), published('stay'), ctx.cite(v_src), verdict(ok)))
  body += f"""**Vanilla agent.** `configs/two_step_train.py`
({steps(vanilla_train.config.total_env_steps)} env steps; start to exit
{ctx.wall('two_step_train'):.0f} s), reward per trial {v_eval['mean_reward_per_trial']:.3f}
at the end of training (`eval.csv`), then frozen for {v_episodes} episodes
(`configs/eval.py`, {ctx.cite(v_src)}). Stay probabilities
rewarded-common / rewarded-uncommon / unrewarded-common / unrewarded-uncommon:
{stay_text(vanilla)}; {published('stay')}. The model-based signature
(rewarded: common > uncommon; unrewarded: uncommon > common) is there: **{verdict(ok)}**.
"""
  try:
    ctx.run('episodic_train'), ctx.run('incremental_train')
    ctx.run('episodic_eval'), ctx.run('incremental_eval')
  except Missing as e:
    body += f'\n**Episodic and incremental agents**: not available ({e}).\n'
    headlines.append(Headline('Episodic two-step, DND (BKHMSI/Meta-RL-TwoStep-Task, Ritter 2018)',
                              'reward per cued trial, episodic vs incremental agent',
                              'not run', published('episodic'), '-', 'no'))
    fig, ax = plt.subplots(figsize=(4, 3.6))
    stay_bars(ax, vanilla, 'vanilla agent', True)
    ax.legend(fontsize='small', loc='lower center')
    path, link = ctx.figure('two_step_stay.png')
    save_figure(fig, path)
    return Section('two_step', f'![two-step stay probabilities]({link})\n\n' + body, headlines)
  # the seeds' tables pooled: mean over seeds, s.e.m. across seeds
  rows = {name: pooled(read_csv(ctx.file(f'{name}_eval', 'stay_probability.csv')),
                       ('analysis', 'condition'))
          for name in ('episodic', 'incremental')}
  reward = {name: {r['trials']: r for r in pooled(read_csv(ctx.file(
      f'{name}_eval', 'reward_per_trial.csv')), ('trials',))}
            for name in ('episodic', 'incremental')}
  for name, table in reward.items():  # the pooled numbers, written where the page cites them
    save_csv(ctx.file(f'{name}_eval', 'reward_per_trial_pooled.csv'), list(table.values()))
  num_seeds = int(ctx.run('episodic_train').config.num_seeds)
  panels = [('vanilla agent', vanilla, True),
            ('incremental agent, uncued trials', stay_dict(rows['incremental'], 'uncued'),
             False),
            ('incremental agent, cued trials', stay_dict(rows['incremental'], 'cued'), False),
            ('episodic agent, cued trials', stay_dict(rows['episodic'], 'cued'), False),
            ('episodic agent: cued trial vs\nthe trial it recalls',
             stay_dict(rows['episodic'], 'episodic'), False),
            ('incremental agent: cued trial vs\nthe trial it recalls',
             stay_dict(rows['incremental'], 'episodic'), False)]
  fig, axes = plt.subplots(2, 3, figsize=(11, 7), sharey=True)
  for ax, (title, stays, show) in zip(axes.flat, panels, strict=False):
    stay_bars(ax, stays, title, show)
  for ax in axes[:, 0]:
    ax.set_ylabel('stay probability')
  fig.legend(*axes[0, 0].get_legend_handles_labels(), loc='lower center', ncol=3,
             bbox_to_anchor=(0.5, -0.03), fontsize='small')
  fig.tight_layout()
  path, stay_link = ctx.figure('two_step_stay.png')
  save_figure(fig, path)

  cued = {n: float(reward[n]['cued']['mean_reward']) for n in reward}
  cued_sem = {n: float(reward[n]['cued']['sem']) for n in reward}
  uncued = {n: float(reward[n]['uncued']['mean_reward']) for n in reward}
  diff = cued['episodic'] - cued['incremental']
  spread = float(np.hypot(cued_sem['episodic'], cued_sem['incremental']))
  sems = CRITERIA['episodic_sems']
  ep_ok = diff > sems * spread
  fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
  x = np.arange(2)
  for k, name in enumerate(('incremental', 'episodic')):
    means = [float(reward[name][t]['mean_reward']) for t in ('uncued', 'cued')]
    errs = [float(reward[name][t]['sem']) for t in ('uncued', 'cued')]
    axes[0].bar(x + (k - 0.5) * 0.35, means, 0.35, yerr=errs, capsize=3, label=name,
                color=AGENT_COLORS[name])
  axes[0].set_xticks(x)
  axes[0].set_xticklabels(['uncued trials', 'cued trials'])
  axes[0].set_ylim(0, 1)  # from zero: the bars' heights are the rewards
  axes[0].annotate(f'episodic - incremental on cued trials: {diff:+.3f} ({diff / spread:.1f}'
                   ' s.e.m.)', (0.5, 0.93), xycoords='axes fraction', ha='center',
                   fontsize='small')
  axes[0].set_ylabel('reward per trial (frozen agents)')
  axes[0].legend(fontsize='small', loc='upper center', bbox_to_anchor=(0.5, 0.9), ncol=2,
                 frameon=False)
  for name in ('incremental', 'episodic'):
    ev = ctx.run(f'{name}_train').eval
    if 'seed' not in ev:
      ev = ev.assign(seed=0)
    by_step = ev.groupby('env_steps')
    x = np.asarray(sorted(ev['env_steps'].unique())) / 1e6
    curve = by_step['reward_cued']
    axes[1].plot(x, curve.mean(), 'o-', ms=3, color=AGENT_COLORS[name],
                 label=f'{name}, cued (mean; band: min to max)')
    axes[1].fill_between(x, curve.min(), curve.max(), color=AGENT_COLORS[name], alpha=0.2)
    axes[1].plot(x, by_step['reward_uncued'].mean(), ':', lw=1, color=AGENT_COLORS[name],
                 label=f'{name}, uncued (mean)')
  axes[1].set_xlabel('env steps per seed (millions)')
  axes[1].set_ylabel('reward per trial (evaluations)')
  axes[1].set_title(f'during training, {num_seeds} seeds each')
  axes[1].legend(fontsize='small')
  axes[1].grid(alpha=0.3)
  path, reward_link = ctx.figure('two_step_episodic.png')
  save_figure(fig, path)

  ep_train = ctx.run('episodic_train')
  srcs = [ctx.file(f'{n}_eval', 'reward_per_trial_pooled.csv')
          for n in ('episodic', 'incremental')]
  headlines.append(Headline(
      'Episodic two-step, LSTM + DND (BKHMSI/Meta-RL-TwoStep-Task, Ritter 2018)',
      'reward per cued trial, episodic vs incremental agent, frozen',
      f"{cued['episodic']:.3f} vs {cued['incremental']:.3f} "
      f"(uncued {uncued['episodic']:.3f} vs {uncued['incremental']:.3f})",
      published('episodic'), ', '.join(ctx.cite(s) for s in srcs), verdict(ep_ok)))
  ep_episodes = int(runs.load(os.path.join(ctx.work, 'episodic_eval')).config.num_episodes)
  inc_unc = stay_dict(rows['incremental'], 'uncued')
  recall = {n: stay_dict(rows[n], 'episodic') for n in rows}
  body += f"""
**Episodic and incremental agents.** `configs/episodic_two_step_train.py` with
`agent.retrieval=True` (the episodic LSTM reads its DND of cell states) and `False` (the
incremental agent: the same network, no retrieval), {num_seeds} seeds of each trained side by
side in one process (`num_seeds={num_seeds}`), {steps(ep_train.config.total_env_steps)}
env steps per seed (start to exit {ctx.wall('episodic_train'):.0f} s and
{ctx.wall('incremental_train'):.0f} s, the two runs sharing the machine), then
`configs/eval.py` on {ep_episodes} episodes per seed. Reward per trial, mean over seeds ±
s.e.m. across seeds ({', '.join(ctx.cite(s) for s in srcs)}):

| agent | uncued trials | cued trials |
| --- | --- | --- |
""" + ''.join(
      f"| {n} | {float(reward[n]['uncued']['mean_reward']):.3f} ± "
      f"{float(reward[n]['uncued']['sem']):.3f} | {float(reward[n]['cued']['mean_reward']):.3f}"
      f" ± {float(reward[n]['cued']['sem']):.3f} |\n" for n in ('episodic', 'incremental')) + f"""
On cued trials the episodic agent earns {diff:+.3f} per trial more than the incremental one
({diff / spread:.1f} s.e.m.); {published('episodic')}. Reproduced (more than
{sems:g} s.e.m.): **{verdict(ep_ok)}**. On uncued trials the incremental agent is
model-based too (stays {stay_text(inc_unc)}): **{verdict(model_based(inc_unc))}**.

![two-step stay probabilities]({stay_link})

Stay probabilities (± s.e.m.; black dots: the published values). The last two panels are
BKHMSI/Meta-RL-TwoStep-Task's episodic analysis: a cued trial against the earlier trial
whose context it shows again, by that trial's outcome. Against the trial it recalls, the
episodic agent stays {stay_text(recall['episodic'])} (model-based index (rc - ru) + (uu - uc) =
{mb_index(recall['episodic']):.2f}), the incremental agent, which cannot recall it,
{stay_text(recall['incremental'])} (index {mb_index(recall['incremental']):.2f}).
BKHMSI/Meta-RL-TwoStep-Task shows Ritter et al.'s bars for the episodic-task panels only as
images, so no published numbers are drawn there.

![episodic vs incremental reward]({reward_link})
"""
  body += two_step_regressions(ctx)
  return Section('two_step', body, headlines)


def two_step_regressions(ctx: Context) -> str:
  """Miller et al.'s and Daw/Akam's regressions of the frozen agents and the Q-learners."""
  try:
    indices = {name: read_csv(ctx.file(job, 'trial_history_indices.csv'))
               for name, job in (('vanilla', 'two_step_eval'), ('episodic', 'episodic_eval'),
                                 ('incremental', 'incremental_eval'))}
    back = {name: read_csv(ctx.file(job, 'one_back.csv'))
            for name, job in (('vanilla', 'two_step_eval'), ('episodic', 'episodic_eval'),
                              ('incremental', 'incremental_eval'))}
    lags = copy_figure(ctx, ctx.file('two_step_eval', 'trial_history.png'),
                       'two_step_trial_history.png')
  except Missing as e:
    return f'\n**Trial-history regressions**: not available ({e}).\n'
  players = [('vanilla agent', 'vanilla', 'agent'),
             ('incremental agent (uncued trials)', 'incremental', 'agent'),
             ('episodic agent (uncued trials)', 'episodic', 'agent'),
             ('model-based Q-learner', 'vanilla', 'model-based Q-learner'),
             ('model-free Q-learner', 'vanilla', 'model-free Q-learner')]

  def stat(rows, column):
    values = np.array([float(r[column]) for r in rows])
    sem = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return f'{values.mean():.2f}' + (f' ± {sem:.2f}' if len(values) > 1 else '')

  lines = []
  for label, table, agent in players:
    mine = [r for r in indices[table] if r['agent'] == agent]
    daw = [r for r in back[table] if r['agent'] == agent and r['regression'] == 'Daw 2011']
    akam = [r for r in back[table] if r['agent'] == agent and r['regression'] != 'Daw 2011']
    lines.append(f"| {label} | {len(mine)} | {stat(mine, 'model_based_index')} | "
                 f"{stat(mine, 'model_free_index')} | {stat(daw, 'bRT')} | "
                 f"{stat(akam, 'bRT')} | {stat(akam, 'bC')} |")
  fig, ax = plt.subplots(figsize=(4.8, 4))
  for i, (label, table, agent) in enumerate(players):
    mine = [r for r in indices[table] if r['agent'] == agent]
    ax.scatter([float(r['model_free_index']) for r in mine],
               [float(r['model_based_index']) for r in mine], s=22, label=label,
               color=plt.cm.tab10(i), zorder=3)
  ax.axhline(0.0, color='gray', lw=0.8)
  ax.axvline(0.0, color='gray', lw=0.8)
  ax.set_xlabel('model-free index')
  ax.set_ylabel('model-based index')
  ax.legend(fontsize='x-small', frameon=False)
  path, scatter = ctx.figure('two_step_indices.png')
  save_figure(fig, path)
  return """
**Trial-history regressions** (`metarl/analysis/trial_history.py`, from the frozen episodes
above; the Q-learners play as many episodes of the same task, learning rate 0.5, inverse
temperature 5). Miller et al. (2017)'s model-based and model-free indices (sums of the lagged
weights over 5 trials) and Daw et al. (2011)'s one-back interaction bRT, without and with
Akam et al. (2015)'s correct-choice regressor (bC); mean ± s.e.m. over seeds where there are
several:

| player | seeds | model-based index | model-free index | bRT | bRT with correct choice | bC |
| --- | --- | --- | --- | --- | --- | --- |
""" + '\n'.join(lines) + f"""

![lagged regression weights]({lags})
![model-based against model-free index, a dot per seed]({scatter})
"""


def value_section(ctx: Context) -> Section:
  run = ctx.run('value_td')
  payload = load_pickle(ctx.file('value_td', 'value_data.pickle'))
  ev = run.eval
  last = ev[ev['epoch'] == ev['epoch'].max()].sort_values('seed')
  mse = dict(zip(last['seed'].astype(int), last['mse'], strict=True))
  fail = CRITERIA['value_fail_mse']
  failing = [s for s, m in mse.items() if m > fail]
  worst, best = max(mse.values()), min(mse.values())
  ok = not failing
  seeds = list(payload['seeds'])
  trials = payload['trials']
  cue_delays = list(payload['cue_delays'])
  picks = []
  for c in range(len(cue_delays)):
    candidates = [n for n, t in enumerate(trials[0]) if t['cue'] == c and not t['omitted']]
    picks.append(min(candidates, key=lambda n: trials[0][n]['iti']) if candidates else None)
  fig, axes = plt.subplots(2, len(picks), figsize=(5 * len(picks), 6.5), squeeze=False,
                           sharex='col')
  for c, n in enumerate(picks):
    top, bottom = axes[0, c], axes[1, c]
    if n is None:
      top.set_title(f'cue {c}: no trial')
      continue
    t0 = trials[0][n]
    steps = np.arange(t0['length'])
    for s in range(len(seeds)):
      top.plot(steps, trials[s][n]['value'], color=f'C{c}', alpha=0.5, lw=1.3,
               label='Vhat, each seed' if s == 0 else None)
    top.plot(steps, t0['true_value'], 'k--', lw=1.3, label='true value')
    hidden = trials[0][n]['hidden']
    for j in range(hidden.shape[1]):
      bottom.plot(steps, hidden[:, j], lw=1.5, label=f'unit {j + 1}')
    bottom.axhline(0, color='gray', lw=0.8)
    for ax, y in ((top, -0.06), (bottom, float(hidden.min()) - 0.1)):
      ax.plot([t0['iti']], [y], 's', color='k', ms=7, label='cue')
      ax.plot([t0['iti'] + t0['delay']], [y], '*', color='k', ms=11, label='reward')
      ax.grid(alpha=0.3)
    top.set_title(f'cue {c}: reward {t0["delay"]} steps after it ({len(seeds)} seeds)')
    bottom.set_title(f'hidden units h(t), seed {seeds[0]}')
    bottom.set_xlabel('time step in trial')
    bottom.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
  axes[0, 0].set_ylabel('value')
  axes[1, 0].set_ylabel('h(t)')
  axes[0, 0].legend(fontsize='small', loc='upper left')
  axes[1, 0].legend(fontsize='small', loc='best')
  path, link = ctx.figure('value_rnn.png')
  save_figure(fig, path)

  src = ctx.file('value_td', 'eval.csv')
  cfg = run.config
  body = f"""`configs/value_td.py`: {len(seeds)} seeds of an
LSTM({int(cfg.network.hidden_size)}) with Vhat(t) = sum_j relu(h_j(t)), trained side by side by
semi-gradient TD(0) (gamma {cfg.agent.gamma}) for {int(cfg.agent.epochs)} epochs, start to exit
{ctx.wall('value_td'):.0f} s in this report. MSE of Vhat against the true value on
{int(cfg.eval.num_episodes)} fresh trials ({ctx.cite(src)}, epoch {int(last['epoch'].iloc[0])}):
worst seed {worst:.2e}, best {best:.2e}; seeds above {fail:g}:
{len(failing)} of {len(mse)}{' (' + ', '.join(map(str, failing)) + ')' if failing else ''}.
{upper_first(published('value'))}. Reproduced (every seed learns): **{verdict(ok)}**.

![value RNN]({link})

Top, value-rnn-td's figure: Vhat(t) of every seed on one trial per cue (colour) and the true
value gamma^(t_r - t - 1) (dashed); square: cue, star: reward. Bottom: the hidden units
h_j(t) of one seed on the same trials (Vhat reads only their positive parts).
"""
  headline = Headline(
      'Value RNN with TD (value-rnn-td)',
      'MSE of Vhat against the true value on fresh trials, every seed',
      f'worst seed {worst:.2e}, best {best:.2e} (seeds {min(mse)}-{max(mse)})',
      published('value'), ctx.cite(src), verdict(ok))
  return Section('value', body, [headline])


def config_file(name: str):
  """The ConfigDict of configs/`name` as committed (no overrides)."""
  return runpy.run_path(os.path.join(ROOT, 'configs', name))['get_config']()


def committed_figure(ctx: Context, filename: str) -> str:
  """The link to a figure a benchmark committed in docs/figures."""
  return copy_figure(ctx, os.path.join(ROOT, 'docs', 'figures', filename), filename)


def beliefs_section(ctx: Context) -> Section:
  """Read from the committed tables of benchmarks/starkweather.py (the study takes ~40 min
  of this machine: it is not rerun by the report)."""
  src = os.path.join(RESULTS, 'starkweather.csv')
  rows = {(int(r['task']), r['measure']): r for r in read_csv(src)}
  times = {r['what']: float(r['wall_s'])
           for r in read_csv(os.path.join(RESULTS, 'starkweather_time.csv'))}
  whole = next((v for k, v in times.items() if k.startswith('whole study')), None)
  targets = [r for r in rows.values() if r['met']]
  ok = all(r['met'] == 'yes' for r in targets)

  def number(task, measure, column):
    value = rows[(task, measure)][column]
    return '-' if value == '' else f'{float(value):.3g}' if abs(float(value)) < 0.01 \
        else f'{float(value):.3f}'

  table = ''.join(
      f"| {task} | {measure} | {number(task, measure, 'trained_median')} | "
      f"{number(task, measure, 'untrained_median')} | "
      f"{number(task, measure, 'belief_model')} | "
      f"{number(task, measure, 'paper_trained')} | {number(task, measure, 'paper_untrained')}"
      f" | {rows[(task, measure)]['target'] or '-'} | {rows[(task, measure)]['met'] or '-'} |\n"
      for task in (2, 1) for measure in ('rpe_mse', 'belief_r2', 'belief_r2_state_mean',
                                         'rpe_at_2.0s', 'rpe_at_2.8s', 'rpe_late_rise',
                                         'rpe_delay_rho'))
  rpe2 = committed_figure(ctx, 'starkweather_task2_rpe_by_delay.png')
  strip2 = committed_figure(ctx, 'starkweather_task2_beliefs_strip.png')
  rpe1 = committed_figure(ctx, 'starkweather_task1_rpe_by_delay.png')
  omission = committed_figure(ctx, 'starkweather_task2_rpe_omission.png')
  body = f"""`configs/starkweather.py` (Task 2) and `configs/starkweather.py:1` (Task 1): the
tasks of Starkweather et al. (2017) as Hennig et al. (2023) train value RNNs on them, 12
GRU(50) networks per task trained side by side in one vmapped call, then the analysis of
`metarl/analysis/beliefs.py` on a 1,000-trial train session and a 1,000-trial test session
for the trained networks, the same networks untrained, and the 25-state belief model
(`benchmarks/starkweather.py`; the two tasks' trainings side by side on the two cores, then
the analyses{f', {whole / 60:.0f} min in all' if whole else ''}; {code(src)}). Medians over the 12
seeds, next to the paper's (Hennig et al. 2023, doi:10.1371/journal.pcbi.1011067; medians
from the authors' saved arrays and figures):

| task | measure | trained | untrained | belief model | paper, trained | paper, untrained | target | met |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{table}
![RPE at the reward by delay, Task 2]({rpe2})
![RPE MSE and belief R^2 per seed, Task 2]({strip2})
![RPE at the reward by delay, Task 1]({rpe1})
![RPE on omission trials, Task 2]({omission})

Targets met: **{verdict(ok)}**. RPE MSE is against the belief model's RPEs on every test step;
belief R^2 is a linear map from the activity to the 25 beliefs, fitted on the train session
and scored on the test session, pooled over the beliefs (`belief_r2`, as
Hennig et al. define it) or averaged over them (`belief_r2_state_mean`). The
untrained networks here encode the beliefs far better than the paper's (pooled R^2
{number(2, 'belief_r2', 'untrained_median')} against
{number(2, 'belief_r2', 'paper_untrained')}), so the trained networks' margin over them is
smaller than the paper's; the cause has not been found, and nothing was tuned towards the
paper's numbers.
"""
  trained = lambda m: number(2, m, 'trained_median')  # noqa: E731
  untrained = lambda m: number(2, m, 'untrained_median')  # noqa: E731
  headline = Headline(
      'Value RNN belief states (Hennig et al. 2023)',
      'Starkweather\'s task with omissions, GRU value RNNs, median over seeds: RPE MSE '
      'against the belief model; belief R-squared',
      f'{trained("rpe_mse")} (untrained {untrained("rpe_mse")}); '
      f'{trained("belief_r2")} (untrained {untrained("belief_r2")})',
      published('beliefs'), code(src), verdict(ok))
  return Section('beliefs', body, [headline])


def sac_section(ctx: Context) -> Section:
  sac_csv = os.path.join(RESULTS, 'sac.csv')
  rows = read_csv(sac_csv)

  def part(prefix):  # metarl's rows of one seed each
    found = [r for r in rows if r['part'].startswith(prefix) and r['run'] == 'seed' and
             r.get('tool', 'metarl') == 'metarl']
    return sorted(found, key=lambda r: int(r['seed']))

  memory, hidden = part('a_memory'), part('e_pendulum_hidden')
  accuracy = [float(r['accuracy']) for r in memory]
  mem_ok = bool(accuracy) and min(accuracy) >= CRITERIA['memory_accuracy']
  pend = []
  for name in ctx.jobs:
    if name.startswith('pendulum_s'):
      try:
        pend.append((int(name[len('pendulum_s'):]), ctx.run(name)))
      except Missing:
        continue
  if not pend:
    raise Missing('no pendulum run finished')
  finals = [float(r.eval['mean_return'].iloc[-1]) for _, r in pend]
  threshold = CRITERIA['pendulum_return']
  pend_ok = statistics.median(finals) >= threshold

  fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw=dict(width_ratios=[1.4, 1]))
  for seed, r in pend:
    axes[0].plot(r.eval['env_steps'], r.eval['mean_return'], 'o-', ms=3, label=f'seed {seed}')
  axes[0].axhspan(min(PENDULUM_RLTOOLS), max(PENDULUM_RLTOOLS), color='gray', alpha=0.2,
                  label=f'RLtools: {PUBLISHED["pendulum"][0]} (published)')
  axes[0].set_xlabel('env steps')
  axes[0].set_ylabel('mean return (deterministic policy)')
  axes[0].set_title('pendulum, full observation (this report\'s runs)')
  axes[0].legend(fontsize='small')
  axes[0].grid(alpha=0.3)
  if memory:
    axes[1].bar([f'seed {r["seed"]}' for r in memory], accuracy, color='C2')
    for i, a in enumerate(accuracy):
      axes[1].text(i, a + 0.01, f'{a:.2f}', ha='center', fontsize=9)
    axes[1].set_title(f'memory task after {int(memory[0]["env_steps"]):,} env steps\n'
                      '(benchmarks/results/sac.csv, not rerun)')
  axes[1].set_ylim(0, 1.1)
  axes[1].set_ylabel('accuracy, random sequences')
  path, link = ctx.figure('sac.png')
  save_figure(fig, path)

  srcs = [ctx.file(f'pendulum_s{s}', 'eval.csv') for s, _ in pend]
  cfg = pend[0][1].config
  walls = ', '.join(f'{ctx.wall(f"pendulum_s{s}"):.0f}' for s, _ in pend)
  body = f"""**Pendulum**, `configs/pendulum_sac.py` (full observation, MLP
{'x'.join(str(h) for h in cfg.network.hidden_sizes)}, batch {int(cfg.agent.batch_size)},
{int(cfg.total_env_steps):,} env steps), seeds {', '.join(str(s) for s, _ in pend)} in this
report (start to exit {walls} s): final mean return over {int(cfg.eval.num_episodes)}
deterministic episodes {', '.join(f'{f:.0f}' for f in finals)}
({', '.join(ctx.cite(s) for s in srcs)}); {published('pendulum')}. Reproduced (median
return >= {threshold:g}): **{verdict(pend_ok)}**.
"""
  if memory:
    mem_cfg = config_file('memory_sac.py')
    body += f"""
**Memory task** (`configs/memory_sac.py`: H = {int(mem_cfg.env.horizon)}, GRU actor and
critics, {int(memory[0]['env_steps']):,} env steps): not rerun here, since one seed took
{statistics.median(float(r['wall_s']) for r in memory) / 60:.1f} min on this machine
(`benchmarks/results/sac.csv`, regenerated by `python benchmarks/sac.py --parts=a`).
Accuracy on {int(mem_cfg.eval.num_sequences)} random {int(mem_cfg.eval.sequence_length)}-step
sequences (RLtools' measure) for seeds {', '.join(r['seed'] for r in memory)}:
{', '.join(f'{a:.2f}' for a in accuracy)}, mean return
{', '.join(f"{float(r['mean_return']):.0f}" for r in memory)}; {published('memory')}.
Reproduced (accuracy >= {CRITERIA['memory_accuracy']} on every seed): **{verdict(mem_ok)}**.
"""
  if hidden:
    body += f"""
Pendulum with the angular velocity hidden (a GRU agent trained on sequences,
{int(hidden[0]['env_steps']):,} env steps; `benchmarks/results/sac.csv`,
`python benchmarks/sac.py --parts=e`): final mean return
{', '.join(f"{float(r['mean_return']):.0f}" for r in hidden)} for seeds
{', '.join(r['seed'] for r in hidden)}.
"""
  body += f'\n![recurrent SAC]({link})\n'
  headlines = [
      Headline('Recurrent SAC, memory task (RLtools)',
               'accuracy on random bit sequences after full training, GRU actor',
               ', '.join(f'{a:.2f}' for a in accuracy) + ' (committed run, not rerun)',
               published('memory'), code(sac_csv), verdict(mem_ok)),
      Headline('SAC, pendulum (RLtools)',
               'final mean return, full observation, MLP actor and critics',
               ', '.join(f'{f:.0f}' for f in finals),
               published('pendulum'), ', '.join(ctx.cite(s) for s in srcs), verdict(pend_ok)),
  ]
  return Section('sac', body, headlines)


def class_query_section(ctx: Context) -> Section:
  runs_ = {k: ctx.run(f'class_query_{k}') for k in ('curriculum', 'none')}
  for k in runs_:
    ctx.run(f'class_query_{k}_eval')
  by_delay = {k: read_csv(ctx.file(f'class_query_{k}_eval', 'success_by_delay.csv'))
              for k in runs_}
  target = int(runs_['curriculum'].config.env.delay)
  at = {}
  for k, rows in by_delay.items():
    row = next((r for r in rows if int(r['delay']) == target), None)
    if row is None:  # the quick mode's eval grid leaves out the trained delay
      row = max(rows, key=lambda r: int(r['delay']))
    at[k] = (int(row['delay']), float(row['success']))
  solved = CRITERIA['class_query_success']
  ok = at['curriculum'][1] >= solved and at['none'][1] < solved

  fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
  labels = {'curriculum': 'with curriculum', 'none': 'without curriculum'}
  for k, rows in by_delay.items():
    axes[0].plot([int(r['delay']) for r in rows], [float(r['success']) for r in rows], 'o-',
                 label=labels[k])
  axes[0].axvline(target, color='C3', ls='--', lw=1, label=f'trained delay {target}')
  axes[0].set_xlabel('delay (noise-only steps before the query)')
  axes[0].set_ylabel('success (frozen agent)')
  axes[0].set_ylim(0.4, 1.02)
  axes[0].legend(fontsize='small', loc='upper center', bbox_to_anchor=(0.5, -0.18), ncol=3,
                 frameon=False)  # below the axes: it covered a curve
  axes[0].grid(alpha=0.3)
  ev = runs_['curriculum'].eval
  key = 'target_success' if 'target_success' in ev else 'success'
  axes[1].plot(ev['env_steps'] / 1e6, ev[key], label=labels['curriculum'])
  ev_none = runs_['none'].eval
  axes[1].plot(ev_none['env_steps'] / 1e6, ev_none['success'], label=labels['none'])
  axes[1].set_xlabel('env steps (millions)')
  axes[1].set_ylabel(f'success at delay {target}')
  axes[1].set_ylim(0.4, 1.02)
  axes[1].grid(alpha=0.3)
  if 'delay' in ev:
    twin = axes[1].twinx()
    twin.plot(ev['env_steps'] / 1e6, ev['delay'], color='gray', lw=1, ls=':',
              label='curriculum delay')
    twin.set_ylabel('curriculum delay', color='gray')
    handles = (axes[1].get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0])
    axes[1].legend(handles, [h.get_label() for h in handles], fontsize='small',
                   loc='upper center', bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False)
  else:
    axes[1].legend(fontsize='small', loc='upper center', bbox_to_anchor=(0.5, -0.18),
                   ncol=2, frameon=False)
  axes[1].set_title('during training')
  path, link = ctx.figure('class_query.png')
  save_figure(fig, path)

  srcs = [ctx.file(f'class_query_{k}_eval', 'success_by_delay.csv') for k in runs_]
  lm = os.path.join(RESULTS, 'long_memory.csv')
  lm_rows = {(r['variant'], r['seed']): r for r in read_csv(lm)}
  committed = ''
  if ('curriculum', 'median') in lm_rows and ('no_curriculum', 'median') in lm_rows:
    cur, none = lm_rows[('curriculum', 'median')], lm_rows[('no_curriculum', 'median')]
    seeds = [r['final_success'] for (v, s), r in lm_rows.items()
             if v == 'curriculum' and s != 'median']
    committed = f"""
Over more seeds (`benchmarks/results/long_memory.csv`, `python benchmarks/long_memory.py`):
with curriculum {cur['solved']} of {cur['runs']} seeds solve it (final success
{', '.join(seeds)}), without {none['solved']} of {none['runs']} (median
{float(none['final_success']):.3f}).
"""
  cfg = runs_['curriculum'].config
  reached = ev[(ev['delay'] == target) & (ev[key] >= solved)] if 'delay' in ev else ev[:0]
  reached_text = (f'The curriculum reached delay {target} with >= {solved:.0%} success '
                  f'{reached["wall_time"].iloc[0]:.0f} s into training '
                  f'({reached["env_steps"].iloc[0] / 1e6:.1f}M env steps).'
                  if len(reached) else
                  f'The curriculum run never evaluated >= {solved:.0%} at delay {target}.')
  curve = [(int(r['delay']), float(r['success'])) for r in by_delay['curriculum']]
  (d_lo, lo), (d_hi, hi) = min(curve, key=lambda x: x[1]), max(curve, key=lambda x: x[1])
  body = f"""`configs/class_query.py` ({int(cfg.env.cue_steps)} cue steps, noise
{cfg.env.noise_scale}, delay {target}, LSTM({int(cfg.network.hidden_size)}), A2C,
{steps(cfg.total_env_steps)} env steps) with its curriculum (delay grown from
{int(cfg.curriculum.start)}) and with `--config.curriculum.enabled=False`, seed
{int(cfg.seed)}, start to exit {ctx.wall('class_query_curriculum'):.0f} s and
{ctx.wall('class_query_none'):.0f} s in this report (sharing the machine), then
`configs/eval.py` at each delay ({', '.join(ctx.cite(s) for s in srcs)}). Success at
delay {target}: {at['curriculum'][1]:.3f} with curriculum, {at['none'][1]:.3f} without
(chance: one half). {reached_text} {upper_first(published('class_query'))}. Reproduced (solved
with the curriculum, not without): **{verdict(ok)}**. Across the evaluated delays the frozen
curriculum agent's success ranges from {lo:.3f} (delay {d_lo}) to {hi:.3f} (delay {d_hi}).
{committed}
![class-query]({link})
"""
  headline = Headline(
      "Class-query long memory (S. Bartunov's lecture)",
      'success answering the query after the full noise delay, frozen agent',
      f"with curriculum {at['curriculum'][1]:.3f}, without {at['none'][1]:.3f} "
      f"(delay {at['curriculum'][0]})",
      published('class_query'), ', '.join(ctx.cite(s) for s in srcs), verdict(ok))
  return Section('class_query', body, [headline])


def find(rows: list[dict], **match) -> dict | None:
  """The first row whose fields start with the given values."""
  return next((r for r in rows if all(str(r.get(k, '')).startswith(v)
                                      for k, v in match.items())), None)


def after_semicolon(text: str, pattern: str) -> str:
  """The part of a CSV note (split at '; ') that matches `pattern`, or ''."""
  return next((p for p in text.split('; ') if re.search(pattern, p)), '')


def fmt_int(value: str) -> str:
  return f'{float(value.replace(",", "")):,.0f}'


def speed_section(ctx: Context) -> Section:
  """Rows of the committed benchmark CSVs; labels and settings are the CSVs' own words."""
  table = []  # (what, metarl, reference, CSV)
  bandit = read_csv(os.path.join(RESULTS, 'bandit.csv'))
  for r in bandit:
    if r['section'] == 'a_throughput' and r['setting'] in ('num_workers=0', 'num_workers=2'):
      ref = re.search(r'\(~([\d,]+)/s\)', r['detail'])
      table.append((f"bandit A3C training throughput, {r['setting']}",
                    f"{fmt_int(r['value'])} {r['unit']}",
                    f"nathanwispinski/meta-rl's code ~{ref.group(1)} {r['unit']}" if ref else '-',
                    'bandit.csv'))
  r = find(bandit, section='b_default_run', setting='total wall time')
  if r:
    table.append((f"bandit, configs/bandit_train.py as is ({r['detail'].split(';')[0]})",
                  f"{float(r['value']):.0f} {r['unit']}", '-', 'bandit.csv'))
  two = read_csv(os.path.join(RESULTS, 'two_step.csv'))
  for prefix in ('vanilla: 10,000 training episodes', 'vanilla: training throughput',
                 'episodic: training throughput'):
    r = find(two, what=prefix)
    if r:
      table.append((f"two-step, {r['what']}", f"{r['value']} {r['unit']}",
                    after_semicolon(r['note'], 'BKHMSI/Meta-RL-TwoStep-Task') or '-',
                    'two_step.csv'))
  td = read_csv(os.path.join(RESULTS, 'value_td.csv'))
  r, ref = find(td, what='default: 10 seeds'), find(td, what='value-rnn-td recipe in PyTorch')
  if r:
    table.append((f"value RNN, {r['what']}", f"{float(r['value']):.1f} {r['unit']}",
                  f"{ref['what']}: {float(ref['value']):.1f} {ref['unit']}" if ref else '-',
                  'value_td.csv'))
  sac = read_csv(os.path.join(RESULTS, 'sac.csv'))
  r = find(sac, part='b_pendulum_mlp', tool='metarl', run='median')
  seed_row = find(sac, part='b_pendulum_mlp', tool='metarl', run='seed')
  rlt = find(sac, part='b_pendulum_mlp', tool='RLtools', run='median')
  if r and seed_row:
    table.append((f"pendulum SAC, {int(seed_row['env_steps']):,} env steps, start to exit, "
                  'median (nothing cached / compilation cached)',
                  f"{float(r['wall_s']):.1f} / {float(r['warm_wall_s']):.1f} s",
                  f"RLtools (C++, its Python interface): {float(rlt['wall_s']):.1f} s"
                  if rlt else '-', 'sac.csv'))
  mem = find(sac, part='a_memory', tool='metarl', run='median')
  mem_rlt = find(sac, part='a_memory', tool='RLtools', run='median')
  mem_seed = find(sac, part='a_memory', tool='metarl', run='seed')
  if mem and mem_rlt and mem_seed:
    table.append((f"memory SAC, {int(mem_seed['env_steps']):,} env steps, start to exit, "
                  'median of the seeds',
                  f"{float(mem['wall_s']):.0f} s",
                  f"RLtools (C++, same settings): {float(mem_rlt['wall_s']):.0f} s", 'sac.csv'))
  rates = [x for x in sac if x['part'].startswith('f_memory_throughput')]
  if rates:
    table.append(('memory SAC, steady env-steps/s with ' +
                  ' / '.join(x['run'] for x in rates),
                  ' / '.join(f"{float(x['env_steps_per_sec']):.0f}" for x in rates), '-',
                  'sac.csv'))
  lm = read_csv(os.path.join(RESULTS, 'long_memory.csv'))
  r = find(lm, variant='curriculum', seed='median')
  if r:
    table.append(('class-query A2C, configs/class_query.py as is (median of seeds): start to '
                  'exit, rate',
                  f"{float(r['wall_s']):.0f} s, {fmt_int(r['env_steps_per_sec'])} env-steps/s",
                  '-',
                  'long_memory.csv'))
  back = read_csv(os.path.join(RESULTS, 'backends.csv'))
  mp, ray = (find(back, config='bandit_a3c', backend='mp'),
             find(back, config='bandit_a3c', backend='ray'))
  if mp and ray:
    table.append((f"bandit A3C, {mp['workers']} workers + {mp['evaluators']} evaluator, "
                  'mp / Ray backend, steady rate',
                  f"{fmt_int(mp['env_steps_per_sec'])} / {fmt_int(ray['env_steps_per_sec'])} "
                  'env-steps/s',
                  '-', 'backends.csv'))
  body = """Measured by the benchmark scripts on this 2-core machine and committed in
`benchmarks/results/` (each row names its CSV; `python benchmarks/<name>.py` regenerates it);
the labels are the CSVs' own. The reference figures are those the CSVs hold:
nathanwispinski/meta-rl's code and value-rnn-td's recipe in PyTorch timed on the same
machine, BKHMSI/Meta-RL-TwoStep-Task's as quoted by its author.

| what | metarl | reference implementation | source |
| --- | --- | --- | --- |
""" + ''.join(f'| {w} | {m} | {ref} | `benchmarks/results/{s}` |\n' for w, m, ref, s in table)
  own = []
  for name in sorted(os.listdir(ctx.work)) if os.path.isdir(ctx.work) else []:
    marker = read_marker(ctx.work, name)
    if marker is None:
      continue
    train = os.path.join(ctx.work, name, 'train.csv')
    rate = ''
    if os.path.isfile(train):
      rows = read_csv(train)[1:]  # the first period holds start-up and compilation
      values = [float(x['env_steps_per_sec']) for x in rows if x.get('env_steps_per_sec')]
      rate = f'{statistics.median(values):,.0f}' if values else ''
    own.append(f"| {name} | {marker['wall_s']:.0f} | {rate} |")
  if own:
    body += """
This report's own runs (`report_job.json` and `train.csv` in each run folder; several at a
time on a machine shared with other work, so slower than the benchmarks above):

| run | start to exit (s) | median env-steps/s after the first logging period |
| --- | --- | --- |
""" + '\n'.join(own) + '\n'
  return Section('speed', body, [])


RENDERERS = {'bandit': bandit_section, 'two_step': two_step_section, 'value': value_section,
             'beliefs': beliefs_section, 'sac': sac_section,
             'class_query': class_query_section, 'speed': speed_section}


# ---------------------------------------------------------------------------------------
# The page


def git_commit() -> str:
  def git(*args):
    return subprocess.run(['git', *args], cwd=ROOT, capture_output=True, text=True).stdout
  commit = git('rev-parse', '--short', 'HEAD').strip() or 'unknown'
  dirty = git('status', '--porcelain', '--untracked-files=no').strip()
  return commit + (' (with uncommitted changes in the tree)' if dirty else '')


def machine() -> str:
  model = ''
  if os.path.isfile('/proc/cpuinfo'):
    with open('/proc/cpuinfo') as f:
      model = next((line.split(':', 1)[1].strip() for line in f
                    if line.startswith('model name')), '')
  return f'{os.cpu_count()} CPU cores' + (f' ({model})' if model else '')


def render(ctx: Context, out: str, header: str) -> str:
  """Writes `out`/RESULTS.md (and the figures); returns the page."""
  os.makedirs(ctx.figures, exist_ok=True)
  sections = []
  for key, title in SECTIONS.items():
    try:
      section = RENDERERS[key](ctx)
      section.body += commands(ctx, key) if key not in ('speed', 'beliefs') else ''
      sections.append(section)
    except Missing as e:
      sections.append(Section(key, f'Not available: {e}. Run `python benchmarks/report.py '
                              f'--work={rel(ctx.work)} --only={key}`.\n', [Headline(
                                  title, 'not run', 'not run', '-', '-', 'no')]))
  lines = [reflow(header), '',
           '| system | headline result | metarl | published / reference | source | '
           'reproduced |', '| --- | --- | --- | --- | --- | --- |']
  for section in sections:
    for h in section.headlines:
      cells = h._replace(reproduced=h.reproduced if h.reproduced == 'yes' else
                         f'**{h.reproduced}**')
      lines.append('| ' + ' | '.join(cells) + ' |')
  for n, section in enumerate(sections, 1):
    lines += ['', f'## {n}. {SECTIONS[section.key]}', '', reflow(section.body)]
  page = '\n'.join(lines) + '\n'
  atomic_write_bytes(os.path.join(out, 'RESULTS.md'), page.encode())
  return page


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--work', default='', help='work folder (default runs/<time>_report)')
  parser.add_argument('--only', default='', help='run only these sections: ' +
                      ','.join(SECTIONS))
  parser.add_argument('--parallel', type=int, default=2)
  parser.add_argument('--out', default=os.path.join(ROOT, 'docs'))
  parser.add_argument('--quick', action='store_true', help='tiny runs (tests)')
  args = parser.parse_args(argv)
  only = [s for s in args.only.split(',') if s] or list(SECTIONS)
  unknown = [s for s in only if s not in SECTIONS]
  if unknown:
    parser.error(f'unknown sections {unknown}; known: {",".join(SECTIONS)}')
  work = os.path.abspath(args.work or timestamped_dir(os.path.join(ROOT, 'runs'), 'report'))
  os.makedirs(work, exist_ok=True)
  start = time.time()
  stamp = datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')
  load = os.getloadavg()[0]
  jobs = [j for j in plan(args.quick) if j.section in only]
  print(f'work folder {work}: {len(jobs)} runs in sections {",".join(only)}', flush=True)
  outcomes = run_jobs(jobs, work, args.parallel,
                      say=lambda m: print(f'[{time.time() - start:6.0f} s] {m}', flush=True))
  out = os.path.abspath(args.out)
  ctx = Context(work, os.path.join(out, 'figures'), outcomes,
                {j.name: j for j in plan(args.quick)})
  command_line = 'python benchmarks/report.py' + ''.join(
      f' {a}' for a in (argv if argv is not None else sys.argv[1:]))
  log = record_invocation(work, dict(
      command=command_line, started=stamp, load_average=round(load, 1),
      load_average_15min_end=round(os.getloadavg()[2], 1),
      minutes=round((time.time() - start) / 60, 1),
      made=sum(o.status == 'done' for o in outcomes.values()),
      failed=sum(o.status in ('failed', 'skipped') for o in outcomes.values())))
  made_by = '; '.join(
      f"`{e['command']}` on {e['started']}: {e['made']} runs in {e['minutes']:.1f} min (load "
      f"average {e['load_average']:.1f} at its start" + (
          f", {e['load_average_15min_end']:.1f} over the 15 min before its end)"
          if 'load_average_15min_end' in e else ')') for e in log if e['made'])
  header = f"""# metarl: the results of the systems it replaces, reproduced

Generated by `{command_line}` on {stamp}, git commit {git_commit()}, on a machine with
{machine()}, shared with other work. The runs in the work folder `{rel(work)}` were made by
{made_by or 'earlier calls'}.{' --quick: tiny runs, nothing is expected to reproduce.'
                              if args.quick else ''}

Every number comes from a run made by this script or from a committed benchmark CSV named
next to it (`benchmarks/results/`). The work folder is not part of the repository: the
tables of its runs that the page cites are copied beside the page, into `results/`, and
named next to each number. Published values say so and where they come from: a paper, or
the repository of the system metarl replaces. The "reproduced" column applies the
criterion stated in each section."""
  render(ctx, out, header)
  print(f'[{time.time() - start:6.0f} s] wrote {os.path.join(rel(out), "RESULTS.md")}')
  failed = [n for n, o in outcomes.items() if o.status in ('failed', 'skipped')]
  if failed:
    print(f'runs failed or skipped: {", ".join(failed)}', file=sys.stderr)
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
