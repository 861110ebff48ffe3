"""The results page's two-step section: stay probabilities, the episodic agent against the
incremental one, and the trial-history regressions."""

import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401 (MaxNLocator)
import numpy as np  # noqa: E402

from benchmarks.results_page.page import (  # noqa: E402
  CRITERIA,
  Context,
  Headline,
  Missing,
  Section,
  copy_figure,
  pooled,
  published,
  read_csv,
  save_figure,
  steps,
  verdict,
)
from metarl import runs  # noqa: E402
from metarl.io import save_csv  # noqa: E402


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

