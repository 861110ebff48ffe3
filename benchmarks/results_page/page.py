"""What every section of the results page uses: the sections and the published values
(SECTIONS, PUBLISHED, CRITERIA), the work folder's runs (`Context`), and the helpers that
write the page's tables, figures and verdicts."""

import csv
import dataclasses
import io
import os
import re
import runpy
import shutil
import textwrap
from collections.abc import Sequence
from typing import NamedTuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401 (MaxNLocator)
import numpy as np  # noqa: E402

from benchmarks.results_page.jobs import ROOT, Job, Outcome, is_done, read_marker, rel  # noqa: E402
from metarl import runs  # noqa: E402
from metarl.analysis.two_step import PUBLISHED as WANG_2018_STAY  # noqa: E402
from metarl.io import atomic_write_bytes  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
DPI = 300

SECTIONS = {  # key: the heading of its part of the page
    'bandit': 'Meta-RL on bandits (nathanwispinski/meta-rl)',
    'two_step': 'The two-step task and episodic meta-RL (BKHMSI/Meta-RL-TwoStep-Task)',
    'value': 'Value RNNs trained with TD (value-rnn-td)',
    'beliefs': 'What value RNNs compute: belief states and dopamine-like RPEs '
               '(Hennig et al. 2023)',
    'sac': 'Recurrent SAC: memory task and pendulum (RLtools)',
    'class_query': "Long memory: the class-query task (S. Bartunov's lecture)",
    'wang2018': 'Prefrontal cortex as a meta-RL system: its six simulations '
                '(Wang et al. 2018)',
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
    'wang2018_history': ('a rewarded choice raises the next choice of that arm; units code '
                         'the last action, last reward, their product and the chosen value '
                         '(mean absolute r ~0.22 / 0.07 / 0.11 / 0.21)',
                         'Wang et al. 2018, simulation 1, doi:10.1038/s41593-018-0147-8'),
    'wang2018_volatility': ('learning rate stable ~0.21 then volatile ~0.46; volatile ~0.51 '
                            'then stable ~0.28', 'Wang et al. 2018, simulation 2 (8 networks)'),
    'wang2018_inferred': ('the cue RPE on trial 2 after a switch flips for the cue just '
                          'experienced (~+0.30 / -0.38) and for the other one (~+0.34 / -0.35)',
                          'Wang et al. 2018, simulation 3; Bromberg-Martin et al. 2010'),
    'wang2018_two_step': ('the second-stage RPE: r^2 0.89 on a model-based planner\'s, ~0 on a '
                          'model-free learner\'s', 'Wang et al. 2018, simulation 4'),
    'wang2018_harlow': ('trial 1 at chance, trial 2 rising to ~0.97; 28% of 50 networks reach '
                        'the maximum', 'Wang et al. 2018, simulation 5; Harlow 1949'),
    'wang2018_rpe': ('P(risky) down with RPE -4 after risky rewards, up with -1 after safe '
                     'choices and +1 after risky losses',
                     'Wang et al. 2018, simulation 6; Stopper et al. 2014'),
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


# ---------------------------------------------------------------------------------------
# Reading


class Missing(Exception):
  """A run (or a CSV) the section needs is not in the work folder."""


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

def config_file(name: str):
  """The ConfigDict of configs/`name` as committed (no overrides)."""
  return runpy.run_path(os.path.join(ROOT, 'configs', name))['get_config']()


def committed_figure(ctx: Context, filename: str) -> str:
  """The link to a figure a benchmark committed in docs/figures."""
  return copy_figure(ctx, os.path.join(ROOT, 'docs', 'figures', filename), filename)

def find(rows: list[dict], **match) -> dict | None:
  """The first row whose fields start with the given values."""
  return next((r for r in rows if all(str(r.get(k, '')).startswith(v)
                                      for k, v in match.items())), None)


def after_semicolon(text: str, pattern: str) -> str:
  """The part of a CSV note (split at '; ') that matches `pattern`, or ''."""
  return next((p for p in text.split('; ') if re.search(pattern, p)), '')


def fmt_int(value: str) -> str:
  return f'{float(value.replace(",", "")):,.0f}'

