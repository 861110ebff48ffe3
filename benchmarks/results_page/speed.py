"""The results page's speed section: the committed benchmark tables against the reference
implementations."""

import os
import re
import statistics

import matplotlib

matplotlib.use('Agg')
import matplotlib.ticker  # noqa: E402,F401 (MaxNLocator)

from benchmarks.results_page.jobs import read_marker  # noqa: E402
from benchmarks.results_page.page import (  # noqa: E402
  RESULTS,
  Context,
  Section,
  after_semicolon,
  find,
  fmt_int,
  read_csv,
)


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

