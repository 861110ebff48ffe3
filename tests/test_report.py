"""benchmarks/report.py: the results page has every section, every figure it links exists, and
every number of its headline and speed tables is in the file named next to it.

The fast tests render a work folder written here in the formats the runs write (README: run
directory files, analysis files) with small random data, and drive the run scheduler with a
stand-in command; the slow test makes the real tiny runs of `--quick` through main.py.
"""

import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

from metarl.analysis.episodic_two_step import stay_tables
from metarl.analysis.two_step import stay_rows
from metarl.io import config_to_dict, save_csv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location(
    'report', os.path.join(ROOT, 'benchmarks', 'report.py'))
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)

# A number as the page writes it: -95, 0.719, 1.06e-04, 307,800 (not the 1 of 'UCB1').
PLAIN = r'(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\d.])'
GROUPED = re.compile(r'(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d.])|' + PLAIN)


def numbers(text: str, grouped: bool = True):
  """(value, half of the last written digit) for every number in `text`; `grouped`: read
  1,234 as one number (else as two, as in a CSV row)."""
  found = []
  for token in (GROUPED if grouped else re.compile(PLAIN)).findall(text):
    mantissa, _, exponent = token.replace(',', '').partition('e')
    decimals = len(mantissa.partition('.')[2])
    scale = 10.0 ** int(exponent) if exponent else 1.0
    found.append((float(mantissa) * scale, 0.5 * 10.0 ** -decimals * scale))
  return found


def traceable(cell: str, sources) -> list:
  """The numbers of `cell` that no number in the `sources` files rounds to."""
  pool = []
  for path in sources:
    with open(path if os.path.isabs(path) else os.path.join(ROOT, path)) as f:
      text = f.read()
    pool += [v for v, _ in numbers(text) + numbers(text, grouped=False)]
  return [(v, tol) for v, tol in numbers(cell)
          if not any(abs(v - p) <= tol * (1 + 1e-9) + 1e-12 for p in pool)]


def table(page: str, header_start: str):
  """The rows (lists of cells) of the markdown table whose header starts with the text."""
  lines = page.split('\n')
  start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
  rows = []
  for line in lines[start + 2:]:
    if not line.startswith('|'):
      break
    rows.append([c.strip() for c in line.strip().strip('|').split(' | ')])
  return rows


def check_page(out: str) -> str:
  """Asserts the page's promises; returns the page."""
  with open(os.path.join(out, 'RESULTS.md')) as f:
    page = f.read()
  for n, title in enumerate(report.SECTIONS.values(), 1):
    assert f'\n## {n}. {title}\n' in page, title
  links = re.findall(r'!\[[^\]]*\]\(([^)]+)\)', page)
  assert len(links) >= 6
  for link in links:
    path = os.path.join(out, link)
    assert os.path.isfile(path), link
    with open(path, 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n', link
    assert os.path.getsize(path) < 1_500_000, link  # 300 dpi, still small for the repo
    assert os.path.isfile(os.path.splitext(path)[0] + '.pdf'), link  # and a PDF beside it
  published = [v for text, source in report.PUBLISHED.values()
               for v, _ in numbers(text + ' ' + source)]
  headline = table(page, '| system |')
  assert len(headline) >= 7
  for system, what, metarl, reference, source, reproduced in headline:
    assert not re.search(r'\d', what), what  # numbers go in the columns that name a source
    assert metarl != 'not run', system
    sources = re.findall(r'`([^`]+)`', source)
    assert sources, system
    # every source can be opened by the page's readers: a table copied beside the page, or
    # a committed file of the repository; never the (uncommitted) work folder
    sources = [os.path.join(out, s) if s.startswith('results/') else s for s in sources]
    for path in sources:
      assert os.path.isfile(path if os.path.isabs(path) else os.path.join(ROOT, path)), path
      assert not os.path.isabs(path) or path.startswith(out), path
    assert not traceable(metarl, sources), (system, metarl, traceable(metarl, sources))
    assert reference.startswith('published: '), reference
    for value, _ in numbers(reference):
      assert value in published, (system, value)
    assert reproduced in ('yes', '**no**')
  speed = table(page, '| what | metarl | reference implementation |')
  assert len(speed) >= 8
  for row in speed:
    csv_path = re.findall(r'`([^`]+)`', row[3])
    assert csv_path and csv_path[0].startswith('benchmarks/results/'), row
    assert not traceable(' '.join(row[:3]), csv_path), (row, traceable(' '.join(row[:3]),
                                                                        csv_path))
  return page


def _run_dir(work, job, rng):
  """A finished run of `job` with small random outputs in the files its run writes."""
  run_dir = os.path.join(work, job.name)
  os.makedirs(run_dir)
  config = report.config_file(os.path.basename(job.config))
  if config.mode == 'eval':  # an evaluation's config.json records its episode count
    config.num_episodes = int(dict(o.split('=', 1) for o in job.overrides)['num_episodes'])
  with open(os.path.join(run_dir, 'config.json'), 'w') as f:
    json.dump(config_to_dict(config), f)
  steps = np.arange(1, 4) * 64000
  path = lambda name: os.path.join(run_dir, name)  # noqa: E731
  name = job.name
  if not name.endswith('_eval'):
    save_csv(path('train.csv'), [dict(env_steps=s, updates=i, wall_time=i + 1.5,
                                      env_steps_per_sec=1000.5 * (i + 1))
                                 for i, s in enumerate(steps)])
  if name == 'bandit_train':
    save_csv(path('eval.csv'), [dict(env_steps=s, wall_time=i + 2.5,
                                     mean_cumulative_regret=9.0 - 2 * i,
                                     mean_reward_per_trial=0.6) for i, s in enumerate(steps)])
  elif name == 'bandit_eval':
    episodes, trials = 20, 100
    probs = rng.uniform(size=(episodes, 2))
    actions = rng.integers(0, 2, (episodes, trials))
    regret = probs.max(1)[:, None] - np.take_along_axis(probs, actions, 1)
    data = dict(actions=actions, rewards=rng.integers(0, 2, (episodes, trials)),
                arm_probs=probs, regret=regret,
                baseline_regret={m: regret * rng.uniform() for m in ('thompson', 'ucb1',
                                                                     'random', 'oracle')})
    with open(path('eval_data.pickle'), 'wb') as f:
      pickle.dump(data, f)
    save_csv(path('eval_summary.csv'), [
        dict(method=m, mean_cumulative_regret=r, sem_cumulative_regret=0.123,
             mean_reward_per_trial=0.61, ratio_to_thompson=r / 2.791, num_episodes=episodes)
        for m, r in (('agent', 3.217), ('thompson', 2.791), ('ucb1', 5.612),
                     ('random', 16.55), ('oracle', 0.0))])
  elif name == 'two_step_train':
    save_csv(path('eval.csv'), [dict(env_steps=s, mean_reward_per_trial=0.687)
                                for s in steps])
  elif name in ('episodic_train', 'incremental_train'):
    save_csv(path('eval.csv'), [dict(env_steps=s, wall_time=3.0, reward_cued=0.7 + i / 100,
                                     reward_uncued=0.69) for i, s in enumerate(steps)])
  elif name == 'two_step_eval':
    a, r, c = (rng.integers(0, 2, (30, 100)) for _ in range(3))
    save_csv(path('stay_probability.csv'), stay_rows(a[:, 1:] == a[:, :-1], r[:, :-1],
                                                     c[:, :-1], np.ones((30, 99), bool)))
  elif name in ('episodic_eval', 'incremental_eval'):
    a, r, c = (rng.integers(0, 2, (30, 100)) for _ in range(3))
    cue = np.full((30, 100), -1)
    cue[:, 50:] = rng.integers(0, 50, (30, 50))
    save_csv(path('stay_probability.csv'), stay_tables(a, r, c, cue))
    save_csv(path('reward_per_trial.csv'), [
        dict(trials='uncued', mean_reward=0.6913, sem=0.0021, count=1500),
        dict(trials='cued', mean_reward=0.7184 if name == 'episodic_eval' else 0.6952,
             sem=0.0022, count=1500)])
  elif name == 'value_td':
    save_csv(path('eval.csv'), [dict(epoch=e, seed=s, mse=0.00013 * (s + 1) / e,
                                     mse_from_cue=1e-4) for e in (10, 20) for s in (0, 1)])
    trials = []
    for _seed in (0, 1):
      per_seed = []
      for cue, iti, delay in ((0, 2, 10), (1, 3, 15), (0, 1, 10)):
        length = iti + delay + 2
        per_seed.append(dict(value=rng.uniform(size=length), true_value=rng.uniform(
            size=length), hidden=rng.normal(size=(length, 2)), cue=cue, iti=iti, delay=delay,
            omitted=False, length=length))
      trials.append(per_seed)
    with open(path('value_data.pickle'), 'wb') as f:
      pickle.dump(dict(trials=trials, seeds=[0, 1], gamma=0.5, cue_delays=[10, 15]), f)
  elif name.startswith('pendulum'):
    save_csv(path('eval.csv'), [dict(env_steps=s, mean_return=-1234.5 + 300 * i)
                                for i, s in enumerate(steps)])
  elif name in ('class_query_curriculum', 'class_query_none'):
    save_csv(path('eval.csv'), [dict(env_steps=s, wall_time=5.0 * i, delay=1 + 2 * i,
                                     success=0.6, target_success=0.55)
                                for i, s in enumerate(steps)])
  elif name.startswith('class_query'):
    save_csv(path('success_by_delay.csv'), [
        dict(delay=d, success=0.9731 - d / 1000, queries=50, mean_episode_return=0.9)
        for d in (0, 5)])
  stamp = '2026-01-01T00:00:00.000000'
  report.write_json(path(report.MARKER), dict(spec=job.spec(), wall_s=12.3, finished=stamp,
                                              params_finished=stamp if job.params_from else None))


@pytest.fixture
def fake_work(tmp_path):
  work = str(tmp_path / 'work')
  rng = np.random.default_rng(0)
  for job in report.plan(quick=True):
    _run_dir(work, job, rng)
  return work


def test_page_from_a_work_folder(fake_work, tmp_path):
  out = str(tmp_path / 'docs')
  assert report.main(['--quick', f'--work={fake_work}', f'--out={out}']) == 0
  page = check_page(out)
  with open(os.path.join(fake_work, 'report_log.json')) as f:
    assert [e['made'] for e in json.load(f)] == [0]  # every run reused, none made
  assert '3.22 ± 0.12' in page and 'Thompson 2.79' in page  # read from eval_summary.csv
  assert 'with curriculum 0.968, without 0.968 (delay 5)' in page
  assert '0.718 vs 0.695' in page  # the cued rewards, episodic vs incremental


def test_missing_runs_are_named_not_invented(fake_work, tmp_path):
  """A section whose runs are missing says so and how to make them; the rest render."""
  os.remove(os.path.join(fake_work, 'value_td', report.MARKER))
  out = str(tmp_path / 'docs')
  outcomes = report.run_jobs([], fake_work, parallel=2, say=lambda m: None)
  ctx = report.Context(fake_work, os.path.join(out, 'figures'), outcomes,
                       {j.name: j for j in report.plan(quick=True)})
  page = report.render(ctx, out, '# header')
  value = page.split('## 3.')[1].split('## 4.')[0]
  assert 'Not available: run value_td not run in this work folder' in value
  assert '--only=value' in value
  assert '| Value RNNs trained with TD (value-rnn-td) | not run |' in page
  assert '## 5. Recurrent SAC' in page and 'figures/sac.png' in page


def test_scheduler_reuses_reruns_and_skips(tmp_path, monkeypatch):
  """Done runs with the same settings are reused; changed ones run again; an eval waits for
  its training run and is skipped when that fails."""
  work = str(tmp_path)
  started = []

  def stand_in(job, work_dir):
    started.append(job.name)
    code = 3 if job.name == 'broken' else 0
    return [sys.executable, '-c', f'import os; os.makedirs({os.path.join(work_dir, job.name)!r})'
            f'; raise SystemExit({code})']

  monkeypatch.setattr(report.jobs, 'command', stand_in)  # run_jobs' own
  jobs = [report.Job('a', 's', 'configs/x.py', ('seed=1',)),
          report.Job('broken', 's', 'configs/x.py'),
          report.Job('a_eval', 's', 'configs/y.py', params_from='a'),
          report.Job('broken_eval', 's', 'configs/y.py', params_from='broken')]
  out = report.run_jobs(jobs, work, parallel=2, say=lambda m: None)
  assert {n: o.status for n, o in out.items()} == {
      'a': 'done', 'broken': 'failed', 'a_eval': 'done', 'broken_eval': 'skipped'}
  assert started.index('a_eval') > started.index('a')
  assert 'logs/broken.log' in out['broken'].note
  started.clear()
  jobs[0] = jobs[0]._replace(overrides=('seed=2',))
  out = report.run_jobs(jobs[:3], work, parallel=1, say=lambda m: None)
  assert out['a'].status == 'done' and out['a_eval'].status == 'done'  # new params: again
  assert started == ['a', 'broken', 'a_eval']
  started.clear()
  out = report.run_jobs(jobs[:3], work, parallel=1, say=lambda m: None)
  assert [out[n].status for n in ('a', 'a_eval')] == ['reused', 'reused']
  assert started == ['broken']


@pytest.mark.slow
def test_quick_report_end_to_end(tmp_path):
  """The real thing with tiny runs: every main.py run of the report, then the page."""
  out = str(tmp_path / 'docs')
  subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'report.py'), '--quick',
                  f'--work={tmp_path / "work"}', f'--out={out}'], check=True, cwd=ROOT,
                 timeout=1500)
  page = check_page(out)
  assert '--quick: tiny runs' in ' '.join(page.split())
