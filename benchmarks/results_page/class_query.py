"""The results page's class-query section: long memory with and without a curriculum."""

import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401 (MaxNLocator)

from benchmarks.results_page.page import (  # noqa: E402
  CRITERIA,
  RESULTS,
  Context,
  Headline,
  Section,
  published,
  read_csv,
  save_figure,
  steps,
  upper_first,
  verdict,
)


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

