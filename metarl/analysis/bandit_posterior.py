"""What a meta-trained bandit agent computes, against the Bayes-optimal agent (Mikulik et al.
2020, "Meta-trained agents implement Bayes-optimal agents"; ../shared/SCIENCE.md, C).

- Posterior decoding: from the network's activity after the outcome of trial t (the core
  output on trial t + 1, which sees a_t and r_t), a ridge decoder, cross-validated by
  episode (5 folds), of the Beta(1 + S_i, 1 + F_i) posterior of two independent arms: the
  posterior means mu_1, mu_2, their difference and P(p_1 > p_2). R^2 for the trained
  network and for the same network untrained, each on its own play of the same arms (fed
  the trained agent's inputs instead, an untrained network would read the posterior off the
  trained agent's choices, which carry it).
- PCA of the activity: the variance explained by the first 10 components; PC1-PC2 of
  sample episodes coloured by mu_1 - mu_2 and by the trial.
- Choice-history kernel (Lau & Glimcher 2005): logit P(a_t = arm 2) = b0 + sum over k =
  1..10 of bR_k c_{t-k} r_{t-k} + bC_k c_{t-k}, c = +1 for arm 2 and -1 for arm 1 (0 before
  the episode's start); for the agent, Thompson sampling and the Bayes-optimal player.

Writes into `out_dir`: posterior_decoding.csv (network, target, r2), pca.csv (component,
variance_explained, cumulative), choice_kernel.csv (method, regressor, lag, weight), and
posterior_decoding.png, pca.png, choice_kernel.png.
"""

import os

import numpy as np
from scipy import special

from metarl.analysis.figures import NETWORK_COLORS, plt, save
from metarl.analysis.statistics import cross_validated_r2, lagged, logistic_fit, pca
from metarl.io import save_csv

TARGETS = ('mu_1', 'mu_2', 'mu_1 - mu_2', 'P(p_1 > p_2)')
KERNEL_LAGS = 10
DECODING_EPISODES = 1000  # at most this many episodes enter the decoders and the PCA
GRID = (np.arange(400) + 0.5) / 400  # midpoints on (0, 1) for P(p_1 > p_2)


def posterior(actions: np.ndarray, rewards: np.ndarray) -> dict[str, np.ndarray]:
  """The Beta posterior of two independent arms after each trial's outcome, [E, T] each."""
  actions, rewards = np.asarray(actions), np.asarray(rewards, np.float64)
  s = np.stack([np.cumsum(rewards * (actions == i), axis=1) for i in (0, 1)])
  n = np.stack([np.cumsum(actions == i, axis=1) for i in (0, 1)])
  f = n - s
  mu = (1 + s) / (2 + n)
  return {'mu_1': mu[0], 'mu_2': mu[1], 'mu_1 - mu_2': mu[0] - mu[1],
          'P(p_1 > p_2)': p_first_better(s[0], f[0], s[1], f[1])}


def p_first_better(s1, f1, s2, f2) -> np.ndarray:
  """P(p_1 > p_2) for p_i ~ Beta(1 + s_i, 1 + f_i): the integral of pdf_1 x cdf_2 on a
  midpoint grid, once per distinct count."""
  counts = np.stack([np.ravel(v) for v in (s1, f1, s2, f2)], axis=1).astype(np.int64)
  unique, inverse = np.unique(counts, axis=0, return_inverse=True)
  a1, b1, a2, b2 = (unique[:, i:i + 1] + 1.0 for i in range(4))
  log_pdf = ((a1 - 1) * np.log(GRID) + (b1 - 1) * np.log1p(-GRID) -
             special.betaln(a1, b1))
  value = np.mean(np.exp(log_pdf) * special.betainc(a2, b2, GRID), axis=1)
  return np.clip(value, 0.0, 1.0)[np.ravel(inverse)].reshape(np.shape(s1))


def decoding_rows(network: str, hidden: np.ndarray, targets: dict[str, np.ndarray]):
  """Cross-validated R^2 of each posterior quantity from the activity after its trial."""
  episodes, trials = hidden.shape[:2]
  x = hidden[:, 1:].reshape(-1, hidden.shape[-1]).astype(np.float64)
  y = np.stack([targets[name][:, :-1].ravel() for name in TARGETS], axis=1)
  groups = np.repeat(np.arange(episodes), trials - 1)
  r2 = cross_validated_r2(x, y, groups)
  return [dict(network=network, target=name, r2=float(v))
          for name, v in zip(TARGETS, r2, strict=True)]


def choice_kernel(actions: np.ndarray, rewards: np.ndarray, lags: int = KERNEL_LAGS):
  """Lau & Glimcher's kernel: weights {'reward': [lags], 'choice': [lags]}, 'intercept'."""
  c = 2.0 * np.asarray(actions, np.float64) - 1.0
  steps = range(1, lags + 1)
  x = np.concatenate([lagged(c * np.asarray(rewards, np.float64), steps),
                      lagged(c, steps)], axis=2)
  rows = np.zeros(c.shape, bool)
  rows[:, 1:] = True
  w = logistic_fit(x[rows], np.asarray(actions)[rows] > 0, ridge=1e-3)
  return dict(intercept=float(w[0]), reward=w[1:1 + lags], choice=w[1 + lags:])


def write(out_dir: str, actions, rewards, hidden: np.ndarray, untrained: dict | None,
          plays: dict[str, tuple]) -> dict:
  """Writes the files above. `untrained`: {actions, rewards, hidden} of the untrained
  network playing the same arms, or None; `plays` {method: (actions, rewards)} of the
  baselines on the same arms (Thompson sampling and the Bayes-optimal player are used)."""
  keep = slice(0, DECODING_EPISODES)
  actions, rewards = np.asarray(actions)[keep], np.asarray(rewards)[keep]
  targets = posterior(actions, rewards)
  rows = decoding_rows('trained', hidden[keep], targets)
  if untrained is not None:  # its own play: the posterior of its own history
    rows += decoding_rows('untrained', untrained['hidden'][keep], posterior(
        untrained['actions'][keep], untrained['rewards'][keep]))
  save_csv(os.path.join(out_dir, 'posterior_decoding.csv'), rows)
  flat = hidden[keep].reshape(-1, hidden.shape[-1]).astype(np.float64)
  components = pca(flat, 10)
  explained = components['explained']
  save_csv(os.path.join(out_dir, 'pca.csv'), [
      dict(component=i + 1, variance_explained=float(v), cumulative=float(c))
      for i, (v, c) in enumerate(zip(explained, np.cumsum(explained), strict=True))])
  scores = components['scores'].reshape(hidden[keep].shape[:2] + (-1,))
  # the score after trial t's outcome is the activity on trial t + 1
  plot_bandit_pca(os.path.join(out_dir, 'pca.png'), scores[:, 1:],
                   targets['mu_1 - mu_2'][:, :-1], explained)
  kernels = {'agent': choice_kernel(actions, rewards)}
  for method in ('thompson', 'bayes_optimal'):
    if method in plays:
      m_actions, m_rewards = plays[method]
      kernels[method] = choice_kernel(np.asarray(m_actions)[keep],
                                      np.asarray(m_rewards)[keep])
  kernel_rows = [dict(method=m, regressor=r, lag=k + 1, weight=float(w))
                 for m, kernel in kernels.items() for r in ('reward', 'choice')
                 for k, w in enumerate(kernel[r])]
  save_csv(os.path.join(out_dir, 'choice_kernel.csv'), kernel_rows)
  plot_posterior_decoding(os.path.join(out_dir, 'posterior_decoding.png'), rows)
  plot_choice_kernel(os.path.join(out_dir, 'choice_kernel.png'), kernel_rows)
  summary = {f'decoding_r2_{r["network"]}_{r["target"]}': r['r2'] for r in rows}
  summary['pca_top2_variance'] = float(explained[:2].sum())
  return summary


# Figures -----------------------------------------------------------------------------------

def plot_posterior_decoding(path: str, rows) -> None:
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
  save(fig, path)


def plot_bandit_pca(path: str, scores, mu_diff, explained, episodes: int = 40) -> None:
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
  save(fig, path)


KERNEL_COLORS = {'agent': '#d62728', 'thompson': '#1f77b4', 'bayes_optimal': 'k'}

KERNEL_NAMES = {'agent': 'agent', 'thompson': 'Thompson sampling',
                'bayes_optimal': 'Bayes-optimal'}


def plot_choice_kernel(path: str, rows) -> None:
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
  save(fig, path)
