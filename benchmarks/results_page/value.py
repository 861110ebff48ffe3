"""The results page's value-RNN sections: value RNNs trained with TD, and the belief-state
study of Hennig et al. (2023)."""

import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401 (MaxNLocator)
import numpy as np  # noqa: E402

from benchmarks.results_page.page import (  # noqa: E402
  CRITERIA,
  RESULTS,
  Context,
  Headline,
  Section,
  code,
  committed_figure,
  published,
  read_csv,
  save_figure,
  upper_first,
  verdict,
)
from metarl.io import load_pickle  # noqa: E402


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

def beliefs_section(ctx: Context) -> Section:
  """Read from the committed tables of benchmarks/starkweather.py (the study takes ~18 min
  of this machine: it is not rerun by the report)."""
  src = os.path.join(RESULTS, 'starkweather.csv')
  rows = {(int(r['task']), r['measure']): r for r in read_csv(src)}
  timing = read_csv(os.path.join(RESULTS, 'starkweather_time.csv'))
  times = {r['what']: float(r['wall_s']) for r in timing if r['wall_s']}
  same = [r for r in timing if r.get('same_tables')]
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
                                         'belief_r2_noise_free', 'rpe_at_2.0s', 'rpe_at_2.8s',
                                         'rpe_late_rise', 'rpe_delay_rho'))
  agree = ', '.join(f"{r['what'].split(':')[0]}: {r['same_tables']}" for r in same)
  rpe2 = committed_figure(ctx, 'starkweather_task2_rpe_by_delay.png')
  strip2 = committed_figure(ctx, 'starkweather_task2_beliefs_strip.png')
  rpe1 = committed_figure(ctx, 'starkweather_task1_rpe_by_delay.png')
  omission = committed_figure(ctx, 'starkweather_task2_rpe_omission.png')
  body = f"""`configs/starkweather.py` (Task 2) and `configs/starkweather.py:1` (Task 1): the
tasks of Starkweather et al. (2017) as Hennig et al. (2023) train value RNNs on them, 12
GRU(50) networks per task in one run (PyTorch's GRU and initialisation, as the paper's:
`network.init='pytorch'`; the seeds split over the cores), and the analysis each run writes
at its end (`metarl/analysis/beliefs.py`) of the trained networks, the same networks with
their initial weights, and the 25-state belief model (`benchmarks/starkweather.py`: the
study's own command for each task{f', {whole / 60:.0f} min in all' if whole else ''};
`configs/eval.py` on each run's params.pickle writes the same tables: {agree or '-'};
{code(src)}). Medians over the 12 seeds, next to the paper's (Hennig et al. 2023,
doi:10.1371/journal.pcbi.1011067; medians from the authors' saved arrays and figures):

| task | measure | trained | untrained | belief model | paper, trained | paper, untrained | target | met |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{table}
![RPE at the reward by delay, Task 2]({rpe2})
![RPE MSE and belief R^2 per seed, Task 2]({strip2})
![RPE at the reward by delay, Task 1]({rpe1})
![RPE on omission trials, Task 2]({omission})

Targets met: **{verdict(ok)}**. As in the authors' code, each network runs over a
1,000-trial train session and a 1,000-trial test session, each session's first trial is
dropped, and noise of 0.05 x each unit's SD is added to both sessions' activity, which the
value readout and the belief regression both read. RPE MSE is against the belief model's
RPEs on every test step; belief R^2 is a linear map from the activity to the 25 beliefs,
fitted on the train session and scored on the test session, pooled over the beliefs
(`belief_r2`, as Hennig et al. define it) or averaged over them (`belief_r2_state_mean`);
`belief_r2_noise_free` is the pooled R^2 without the noise, where tiny components of an
untrained network's activity can be read out. Nothing was tuned towards the paper's
numbers.
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

