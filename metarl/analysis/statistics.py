"""The statistics the analyses share, in numpy: logistic regression by maximum likelihood,
ridge decoding with cross-validation by episode, and PCA."""

from collections.abc import Sequence

import numpy as np


def logistic_fit(x: np.ndarray, y: np.ndarray, ridge: float = 1e-6,
                 iterations: int = 100) -> np.ndarray:
  """Weights [1 + D] (intercept first) of logit P(y = 1) = b0 + x . b, maximum likelihood by
  Newton's method (a tiny ridge `ridge` on b keeps separable data finite; 0 for none)."""
  x = np.concatenate([np.ones((len(x), 1)), np.asarray(x, np.float64)], axis=1)
  y = np.asarray(y, np.float64)
  w = np.zeros(x.shape[1])
  penalty = np.full(x.shape[1], ridge)
  penalty[0] = 0.0
  for _ in range(iterations):
    p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
    grad = x.T @ (y - p) - penalty * w
    hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
    step = np.linalg.solve(hessian + 1e-12 * np.eye(len(w)), grad)
    w += step
    if np.max(np.abs(step)) < 1e-10:
      break
  return w


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
  """Weights [1 + D, K] of y ~ b0 + x . B with an L2 penalty `alpha` on B (not b0)."""
  x = np.concatenate([np.ones((len(x), 1)), x], axis=1)
  penalty = alpha * np.eye(x.shape[1])
  penalty[0, 0] = 0.0
  return np.linalg.solve(x.T @ x + penalty, x.T @ y)


def cross_validated_r2(features: np.ndarray, targets: np.ndarray, groups: np.ndarray,
                       folds: int = 5, alpha: float = 1.0) -> np.ndarray:
  """Out-of-fold R^2 [K] of a ridge decoder from `features` [N, D] to `targets` [N, K]:
  samples of one group (an episode) are always in the same fold; features are z-scored with
  the training folds' statistics."""
  targets = targets.reshape(len(targets), -1)
  predicted = cross_validated_predictions(features, targets, groups, folds, alpha)
  residual = np.sum((targets - predicted) ** 2, axis=0)
  total = np.sum((targets - targets.mean(axis=0)) ** 2, axis=0)
  return 1.0 - residual / total


def cross_validated_predictions(features: np.ndarray, targets: np.ndarray,
                                groups: np.ndarray, folds: int = 5,
                                alpha: float = 1.0) -> np.ndarray:
  """The out-of-fold predictions [N, K] of `cross_validated_r2`'s ridge decoder."""
  targets = targets.reshape(len(targets), -1)
  unique = np.unique(groups)
  fold_of = {g: i % folds for i, g in enumerate(np.random.default_rng(0).permutation(unique))}
  fold = np.array([fold_of[g] for g in groups])
  predicted = np.zeros_like(targets, dtype=np.float64)
  for k in range(folds):
    train, test = fold != k, fold == k
    mean, std = features[train].mean(axis=0), features[train].std(axis=0) + 1e-8
    w = ridge_fit((features[train] - mean) / std, targets[train], alpha)
    predicted[test] = np.concatenate([np.ones((test.sum(), 1)),
                                      (features[test] - mean) / std], axis=1) @ w
  return predicted


def pca(x: np.ndarray, components: int = 10) -> dict[str, np.ndarray]:
  """Principal components of `x` [N, D]: `explained` (fraction of variance, [C]),
  `axes` [C, D] and the projections `scores` [N, C] of the centred data."""
  centred = x - x.mean(axis=0)
  _, s, vt = np.linalg.svd(centred, full_matrices=False)
  variance = s ** 2
  c = min(components, len(s))
  return dict(explained=variance[:c] / variance.sum(), axes=vt[:c], scores=centred @ vt[:c].T)


def lagged(values: np.ndarray, lags: Sequence[int]) -> np.ndarray:
  """[E, T, len(lags)]: values[e, t - lag] (0 before the episode's start)."""
  out = np.zeros(values.shape + (len(lags),))
  for i, lag in enumerate(lags):
    out[:, lag:, i] = values[:, :-lag]
  return out
