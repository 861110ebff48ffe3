"""Figures written next to evaluation data (matplotlib, no display needed)."""

import os
import re

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from metarl.io import atomic_write_bytes  # noqa: E402

DPI = 300


def _save(fig, path: str) -> None:
  """Writes the figure at DPI (temp file, then rename) and, beside it, as a PDF."""
  import io
  root, ext = os.path.splitext(path)
  for fmt, target in ((ext[1:] or 'png', path), ('pdf', root + '.pdf')):
    if fmt == 'pdf' and target == path and ext:
      continue
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI, bbox_inches='tight')
    atomic_write_bytes(target, buf.getvalue())
  plt.close(fig)


def probability_ticks(descending: np.ndarray, values=(1.0, 0.75, 0.5, 0.25, 0.0)):
  """Rows and labels for round probabilities on an axis of rows sorted from the highest
  probability down: each value at the first row at or below it (only values in range)."""
  rows, labels = [], []
  for v in values:
    if descending.min() <= v <= descending.max():
      rows.append(int(np.searchsorted(-descending, -v)))
      labels.append(f'{v:.2f}')
  return rows, labels


def bandit_actions(path: str, actions: np.ndarray, arm_probs: np.ndarray) -> None:
  """nathanwispinski/meta-rl's raster: one row per episode (sorted by arm-1 probability,
  highest on top), one cell per trial coloured by the chosen arm."""
  order = np.argsort(-arm_probs[:, 0], kind='stable')
  num_arms = arm_probs.shape[1]
  colors = ['#1f77b4', '#9e9e9e'] if num_arms == 2 else plt.cm.tab10.colors[:num_arms]
  fig, ax = plt.subplots(figsize=(7, 6))
  ax.imshow(actions[order], aspect='auto', interpolation='nearest',
            cmap=ListedColormap(colors), vmin=-0.5, vmax=num_arms - 0.5)
  ax.set_yticks(*probability_ticks(arm_probs[order, 0]))
  ax.set_ylabel('p(arm 1) of the episode')
  ax.set_xlabel('trial')
  handles = [plt.Rectangle((0, 0), 1, 1, color=colors[i]) for i in range(num_arms)]
  ax.legend(handles, [f'arm {i + 1}' for i in range(num_arms)], loc='upper right',
            fontsize='small', framealpha=0.9)
  ax.set_title('actions of the frozen agent, one episode per row')
  _save(fig, path)


def regret_curves(path: str, cumulative: dict[str, np.ndarray]) -> None:
  """Mean cumulative regret (+/- s.e.m.) against trial for each method ([E, T] arrays)."""
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, values in cumulative.items():
    mean = values.mean(axis=0)
    sem = values.std(axis=0) / np.sqrt(max(1, values.shape[0]))
    trials = np.arange(1, values.shape[1] + 1)
    ax.plot(trials, mean, label=name, lw=2.5 if name == 'agent' else 1.2)
    ax.fill_between(trials, mean - sem, mean + sem, alpha=0.2)
  ax.set_xlabel('trial')
  ax.set_ylabel('cumulative regret')
  ax.legend()
  ax.grid(alpha=0.3)
  _save(fig, path)


def bayes_agreement(path: str, agreement: dict[str, np.ndarray], kl, who: str) -> None:
  """Per trial: the fraction of episodes whose most likely action is the Bayes-optimal one
  for each method (left), and `who`'s mean KL(pi_Bayes || pi) when known (right)."""
  panels = 2 if kl is not None else 1
  fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 3.8), squeeze=False)
  ax = axes[0, 0]
  for name, values in agreement.items():
    trials = np.arange(1, len(values) + 1)
    ax.plot(trials, values, label=name, lw=2.5 if name == who else 1.2)
  ax.set_ylim(0.0, 1.02)
  ax.set_xlabel('trial')
  ax.set_ylabel('agreement with the Bayes-optimal choice')
  ax.legend(fontsize='small')
  ax.grid(alpha=0.3)
  if kl is not None:
    ax = axes[0, 1]
    ax.plot(np.arange(1, len(kl) + 1), kl, color='k', lw=2)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel('trial')
    ax.set_ylabel(f'KL(Bayes-optimal || {who}), nats')
    ax.grid(alpha=0.3)
  _save(fig, path)


def _mark_events(ax, trials, n: int, y: float) -> None:
  """Squares at the cue, a star at the reward (when delivered) of trial `n`."""
  iti, delay = int(trials.iti[n]), int(trials.delay[n])
  ax.plot([iti], [y], 's', color='k', ms=7, label='cue')
  if not trials.omitted[n]:
    ax.plot([iti + delay], [y], '*', color='k', ms=11, label='reward')


def value_vs_truth(path: str, result, trials, picks, seeds) -> None:
  """value-rnn-td's value figure: per cue, Vhat(t) of every seed on one trial (colour) and the
  true value (black dashed)."""
  fig, axes = plt.subplots(1, len(picks), figsize=(4.5 * len(picks), 3.5), squeeze=False,
                           sharey=True)
  for c, (ax, n) in enumerate(zip(axes[0], picks, strict=False)):
    if n is None:
      ax.set_title(f'cue {c}: no trial')
      continue
    length = int(trials.length[n])
    t = np.arange(length)
    color = plt.cm.tab10(c % 10)
    for s in range(len(seeds)):
      ax.plot(t, result.value[s, n, :length], color=color, lw=1.5,
              alpha=1.0 if len(seeds) == 1 else 0.5,
              label='Vhat (each seed)' if s == 0 else None)
    ax.plot(t, result.true_value[0, n, :length], 'k--', lw=1.2, label='true value')
    _mark_events(ax, trials, n, -0.08)
    ax.set_title(f'cue {c} (reward {int(trials.delay[n])} steps after the cue)')
    ax.set_xlabel('time step in trial')
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
  axes[0, 0].set_ylabel('value')
  axes[0, 0].legend(fontsize='small', loc='upper left')
  _save(fig, path)


def hidden_units(path: str, result, trials, picks, seed: int) -> None:
  """value-rnn-td's activity figure: per cue, h_j(t) of every unit of the first seed."""
  fig, axes = plt.subplots(1, len(picks), figsize=(4.5 * len(picks), 3.5), squeeze=False,
                           sharey=True)
  for c, (ax, n) in enumerate(zip(axes[0], picks, strict=False)):
    if n is None:
      continue
    length = int(trials.length[n])
    hidden = result.hidden[0, n, :length]
    for j in range(hidden.shape[1]):
      ax.plot(np.arange(length), hidden[:, j], lw=1.5, label=f'unit {j + 1}')
    ax.axhline(0.0, color='gray', lw=0.8)
    _mark_events(ax, trials, n, float(hidden.min()) - 0.1)
    ax.set_title(f'cue {c}, seed {seed}')
    ax.set_xlabel('time step in trial')
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
  axes[0, 0].set_ylabel('hidden activity h(t)')
  axes[0, 0].legend(fontsize='small', loc='upper left')
  _save(fig, path)


def stay_probability(path: str, rows, title: str = 'frozen agent') -> None:
  """Wang 2018 Fig. 4 / BKHMSI/Meta-RL-TwoStep-Task: stay probability after rewarded /
  unrewarded trials, common (blue) vs uncommon (red) transitions, +/- s.e.m.; published values
  as dots."""
  fig, ax = plt.subplots(figsize=(4.5, 4))
  _stay_bars(ax, rows, title)
  _save(fig, path)


def stay_probability_panels(path: str, rows, analyses) -> None:
  """One stay-probability chart per analysis (rows carry an `analysis` column)."""
  fig, axes = plt.subplots(1, len(analyses), figsize=(4.5 * len(analyses), 4), sharey=True)
  for ax, name in zip(np.atleast_1d(axes), analyses, strict=False):
    _stay_bars(ax, [r for r in rows if r['analysis'] == name], name)
  _save(fig, path)


def _stay_bars(ax, rows, title: str) -> None:
  by = {(r['rewarded'], r['common']): r for r in rows}
  width = 0.35
  for i, rewarded in enumerate((1, 0)):
    for j, common in enumerate((1, 0)):
      row = by[(rewarded, common)]
      x = i + (j - 0.5) * width
      ax.bar(x, row['stay_probability'], width, yerr=row['sem'], capsize=3,
             color='#1f4e9c' if common else '#c0392b',
             label=('common' if common else 'uncommon') if i == 0 else None)
      if row['published'] != '':
        ax.plot([x], [row['published']], 'o', color='k', ms=5,
                label='Wang et al. 2018' if (i, j) == (0, 0) else None)
  ax.set_xticks([0, 1])
  ax.set_xticklabels(['rewarded', 'unrewarded'])
  ax.set_ylim(0.0, 1.05)
  ax.set_ylabel('stay probability')
  ax.set_title(title)
  ax.legend(fontsize='small', loc='upper center', bbox_to_anchor=(0.5, -0.1), ncol=3)


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


def training_curves(path: str, curves, metric: str) -> None:
  """Mean over seeds (line) and min-max spread (band) of `metric` against env steps, one
  line per variant. `curves`: {variant: (steps [N], values [seeds, N] with NaN gaps)}."""
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
  _save(fig, path)


def success_by_delay(path: str, rows, trained_delay: int) -> None:
  """Class-query success against the delay; the trained delay and chance marked."""
  fig, ax = plt.subplots(figsize=(6, 3.5))
  ax.plot([r['delay'] for r in rows], [r['success'] for r in rows], 'o-', color='C0')
  ax.axhline(0.5, color='gray', ls=':', lw=1, label='chance')
  ax.axvline(trained_delay, color='C3', ls='--', lw=1, label=f'trained delay {trained_delay}')
  ax.set_xlabel('delay (noise-only steps before the query)')
  ax.set_ylabel('success')
  ax.set_ylim(0.4, 1.02)
  ax.legend(loc='lower left', fontsize=8)
  _save(fig, path)


NETWORK_COLORS = {'belief model': 'k', 'trained': '#d62728', 'untrained': '#7f7f7f'}


def rpe_by_delay(path: str, rows, delays_s) -> None:
  """Hennig et al.'s Fig. 3-4 panel: RPE at the reward against the delay, the belief model
  (black), each trained seed (thin) and their median (thick), the untrained median."""
  fig, ax = plt.subplots(figsize=(4.5, 3.5))
  for name in ('untrained', 'trained'):
    seeds = sorted({r['seed'] for r in rows if r['network'] == name})
    curves = np.array([[r['rpe'] for r in rows if r['network'] == name and r['seed'] == s]
                       for s in seeds])
    if name == 'trained':
      for curve in curves:
        ax.plot(delays_s, curve, color=NETWORK_COLORS[name], lw=0.6, alpha=0.35)
    ax.plot(delays_s, np.nanmedian(curves, axis=0), color=NETWORK_COLORS[name], lw=2,
            marker='o', ms=4, label=f'value RNN, {name} (median of {len(seeds)})')
  belief = [r['rpe'] for r in rows if r['network'] == 'belief model']
  ax.plot(delays_s, belief, 'k--', lw=1.5, marker='s', ms=4, label='belief model')
  ax.axhline(0.0, color='gray', lw=0.8)
  ax.set_xticks(delays_s)
  ax.set_xticklabels([f'{d:.1f}' for d in delays_s], fontsize='small')
  ax.set_xlabel('reward time after the cue (s)')
  ax.set_ylabel('RPE at the reward')
  ax.legend(fontsize='small', frameon=False)
  _save(fig, path)


def seed_strips(path: str, rows, columns) -> None:
  """A panel per (column, label): a dot per seed and the median (bar), per network."""
  fig, axes = plt.subplots(1, len(columns), figsize=(3.4 * len(columns), 3.5), squeeze=False,
                           constrained_layout=True)
  names = [n for n in ('trained', 'untrained') if any(r['network'] == n for r in rows)]
  jitter = np.random.default_rng(0)
  for ax, (column, label) in zip(axes[0], columns, strict=False):
    for i, name in enumerate(names):
      values = np.array([r[column] for r in rows if r['network'] == name], np.float64)
      ax.scatter(i + jitter.uniform(-0.12, 0.12, len(values)), values, s=14,
                 color=NETWORK_COLORS[name], alpha=0.8, zorder=3)
      ax.plot([i - 0.25, i + 0.25], [np.median(values)] * 2, color='k', lw=2, zorder=4)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel(label)
    if column.endswith('mse'):
      ax.set_yscale('log')
    ax.grid(axis='y', alpha=0.3)
  _save(fig, path)


def rpe_omission(path: str, rows, step_seconds: float) -> None:
  """Mean RPE around the cue of omission trials: belief model and value RNN (median)."""
  fig, ax = plt.subplots(figsize=(4.5, 3.5))
  for name in ('untrained', 'trained', 'belief model'):
    mine = [r for r in rows if r['network'] == name]
    if not mine:
      continue
    steps = sorted({r['steps_from_cue'] for r in mine})
    seeds = sorted({r['seed'] for r in mine}, key=str)
    curves = np.array([[r['rpe'] for r in mine if r['seed'] == s] for s in seeds])
    label = name if name == 'belief model' else f'value RNN, {name} (median)'
    ax.plot(np.asarray(steps) * step_seconds, np.nanmedian(curves, axis=0),
            color=NETWORK_COLORS[name], lw=2, ls='--' if name == 'belief model' else '-',
            label=label)
  ax.axhline(0.0, color='gray', lw=0.8)
  ax.axvline(0.0, color='gray', lw=0.8, ls=':')
  ax.set_xlabel('time from the cue on omission trials (s)')
  ax.set_ylabel('RPE')
  ax.legend(fontsize='small', frameon=False)
  _save(fig, path)


TYPE_COLORS = {'CR': '#1f77b4', 'CO': '#aec7e8', 'UR': '#d62728', 'UO': '#ff9896'}
TYPE_NAMES = {'CR': 'common, rewarded', 'CO': 'common, unrewarded',
              'UR': 'uncommon, rewarded', 'UO': 'uncommon, unrewarded'}


def trial_history(path: str, lag_rows, index_rows) -> None:
  """Miller et al. (2017)'s figure: per agent, the regression weight of each past trial type
  against the lag; last panel, the model-based against the model-free index."""
  agents = [r['agent'] for r in index_rows]
  fig, axes = plt.subplots(1, len(agents) + 1, figsize=(3.6 * (len(agents) + 1), 3.3),
                           squeeze=False)
  lags = sorted({r['lag'] for r in lag_rows})
  for ax, agent in zip(axes[0], agents, strict=False):
    for kind, color in TYPE_COLORS.items():
      weights = [r['weight'] for r in lag_rows if r['agent'] == agent and r['type'] == kind]
      ax.plot(lags, weights, color=color, marker='o', ms=4, lw=1.8, label=TYPE_NAMES[kind])
    ax.axhline(0.0, color='gray', lw=0.8)
    ax.set_xticks(lags)
    ax.set_xlabel('trials back')
    ax.set_title(agent, fontsize='medium')
  axes[0, 0].set_ylabel('regression weight (log-odds)')
  axes[0, 0].legend(fontsize='x-small', frameon=False)
  ax = axes[0, -1]
  for i, row in enumerate(index_rows):
    ax.scatter(row['model_free_index'], row['model_based_index'], s=40,
               color=plt.cm.tab10(i % 10), label=row['agent'], zorder=3)
  ax.axhline(0.0, color='gray', lw=0.8)
  ax.axvline(0.0, color='gray', lw=0.8)
  ax.set_xlabel('model-free index')
  ax.set_ylabel('model-based index')
  ax.legend(fontsize='x-small', frameon=False)
  _save(fig, path)


def posterior_decoding(path: str, rows) -> None:
  """Cross-validated R^2 of each posterior quantity, trained against untrained network."""
  targets = list(dict.fromkeys(r['target'] for r in rows))
  networks = list(dict.fromkeys(r['network'] for r in rows))
  fig, ax = plt.subplots(figsize=(5.5, 3.5))
  width = 0.8 / len(networks)
  for i, name in enumerate(networks):
    values = [next(r['r2'] for r in rows if r['network'] == name and r['target'] == t)
              for t in targets]
    ax.bar(np.arange(len(targets)) + (i - (len(networks) - 1) / 2) * width, values, width,
           color=NETWORK_COLORS.get(name, 'C0'), label=f'{name} network')
  ax.set_xticks(np.arange(len(targets)))
  ax.set_xticklabels(targets)
  ax.set_ylim(min(0.0, min(r['r2'] for r in rows)), 1.0)
  ax.axhline(0.0, color='gray', lw=0.8)
  ax.set_ylabel('decoding R$^2$ (cross-validated by episode)')
  ax.legend(fontsize='small', frameon=False)
  _save(fig, path)


def bandit_pca(path: str, scores, mu_diff, explained, episodes: int = 40) -> None:
  """PC1-PC2 of the activity after each trial of sample episodes, coloured by the posterior
  mean difference mu_1 - mu_2 (left) and by the trial (right)."""
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
  pcs = scores[:episodes, :, :2].reshape(-1, 2)
  trial = np.tile(np.arange(1, scores.shape[1] + 1), min(episodes, len(scores)))
  for ax, colour, label, cmap in ((axes[0], mu_diff[:episodes].ravel(),
                                   r'$\mu_1 - \mu_2$', 'coolwarm'),
                                  (axes[1], trial, 'trial', 'viridis')):
    points = ax.scatter(pcs[:, 0], pcs[:, 1], c=colour, s=3, cmap=cmap,
                        vmin=-1 if cmap == 'coolwarm' else None,
                        vmax=1 if cmap == 'coolwarm' else None)
    fig.colorbar(points, ax=ax, label=label)
    ax.set_xlabel(f'PC1 ({100 * explained[0]:.0f}% of variance)')
    ax.set_ylabel(f'PC2 ({100 * explained[1]:.0f}% of variance)')
  _save(fig, path)


KERNEL_COLORS = {'agent': '#d62728', 'thompson': '#1f77b4', 'bayes_optimal': 'k'}
KERNEL_NAMES = {'agent': 'agent', 'thompson': 'Thompson sampling',
                'bayes_optimal': 'Bayes-optimal'}


def choice_kernel(path: str, rows) -> None:
  """Lau & Glimcher's kernels: weight of the reward x choice and of the choice k trials back,
  for the agent, Thompson sampling and the Bayes-optimal player."""
  fig, axes = plt.subplots(1, 2, figsize=(8, 3.3), sharex=True)
  for ax, regressor, title in ((axes[0], 'reward', 'rewarded choice k trials back'),
                               (axes[1], 'choice', 'choice k trials back')):
    for method in dict.fromkeys(r['method'] for r in rows):
      mine = [r for r in rows if r['method'] == method and r['regressor'] == regressor]
      ax.plot([r['lag'] for r in mine], [r['weight'] for r in mine], marker='o', ms=3,
              color=KERNEL_COLORS.get(method, 'C0'), label=KERNEL_NAMES.get(method, method))
    ax.axhline(0.0, color='gray', lw=0.8)
    ax.set_xticks(range(1, max(r['lag'] for r in rows) + 1))
    ax.set_xlabel('k (trials back)')
    ax.set_title(title, fontsize='medium')
  axes[0].set_ylabel('weight on logit P(arm 2)')
  axes[0].legend(fontsize='small', frameon=False)
  _save(fig, path)
