"""The results page: the headline result of each system metarl replaces, reproduced, with
figures.

python benchmarks/report.py [--work=DIR] [--only=SECTION[,SECTION]] [--parallel=2]
                            [--out=docs] [--quick]

Writes `--out`/RESULTS.md and its figures in `--out`/figures/ (PNG). The runs are main.py
in subprocesses (as benchmarks/two_step.py and benchmarks/sac.py run it), `--parallel` at a
time, into the work folder (default runs/<time>_report):

  bandit       configs/bandit_train.py as is (evaluated every 1M env steps), then configs/eval.py
  two_step     configs/two_step_train.py as is; configs/episodic_two_step_train.py with
               agent.retrieval True (episodic) and False (incremental); each one's eval config
  value        configs/value_td.py as is (10 seeds side by side)
  sac          configs/pendulum_sac.py as is, seeds PENDULUM_SEEDS; the memory task (45 min
               a seed on this machine) is read from benchmarks/results/sac.csv
  class_query  configs/class_query.py with and without curriculum, then configs/eval.py
  wang2018     no runs: benchmarks/results/wang2018.csv (benchmarks/wang2018.py trains and
               analyses Wang et al. 2018's simulations 1, 2 and 6)
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
import datetime
import os
import subprocess
import sys
import time
from collections.abc import Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from benchmarks.results_page import (  # noqa: E402,F401 (jobs: the tests patch it)
  bandit,
  class_query,
  jobs,
  sac,
  speed,
  two_step,
  value,
  wang2018,
)
from benchmarks.results_page.jobs import (  # noqa: E402,F401 (the tests read them here)
  MARKER,
  Job,
  plan,
  record_invocation,
  run_jobs,
  write_json,
)
from benchmarks.results_page.page import (  # noqa: E402,F401
  PUBLISHED,
  SECTIONS,
  Context,
  Headline,
  Missing,
  Section,
  commands,
  config_file,
  reflow,
  rel,
)
from metarl.io import atomic_write_bytes, new_timestamped_dir  # noqa: E402

RENDERERS = {'bandit': bandit.bandit_section, 'two_step': two_step.two_step_section,
             'value': value.value_section, 'beliefs': value.beliefs_section,
             'sac': sac.sac_section, 'class_query': class_query.class_query_section,
             'wang2018': wang2018.wang2018_section, 'speed': speed.speed_section}


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
      section.body += commands(ctx, key) if key not in ('speed', 'beliefs', 'wang2018') else ''
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
  work = os.path.abspath(args.work or new_timestamped_dir(os.path.join(ROOT, 'runs'), 'report'))
  os.makedirs(work, exist_ok=True)
  start = time.time()
  stamp = datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')
  load = os.getloadavg()[0]
  planned = [j for j in plan(args.quick) if j.section in only]
  print(f'work folder {work}: {len(planned)} runs in sections {",".join(only)}', flush=True)
  outcomes = run_jobs(planned, work, args.parallel,
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
