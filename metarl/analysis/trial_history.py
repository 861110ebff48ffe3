"""Two-step trial-history regressions, and model-based and model-free Q-learners to read them
against (../shared/SCIENCE.md, B).

- Miller, Botvinick & Brody (2017): logit P(c_t = 1) = b0 + sum over the trial types CR
  (common, rewarded), CO (common, unrewarded), UR, UO and lags tau = 1..5 of
  b[type, tau] X[type, t, tau], where X = +1 if the choice at t - tau was action 1, -1 if
  action 0, when that trial was of that type, else 0 (maximum likelihood). Model-based index
  = sum CR - sum CO + sum UO - sum UR; model-free index = sum CR - sum CO - sum UO + sum UR.
- Daw et al. (2011) one-back: logit P(stay_t) = b0 + bR R + bT T + bRT R T, R and T of trial
  t - 1 coded +-1 (rewarded, common); the model-based index is bRT. Akam, Costa & Dayan
  (2015): add C = +-1, whether the choice at t - 1 was the correct one (its common
  transition leads to the state that is good on that trial); a truly model-based agent keeps
  bRT > 0 with it.

Arrays are [E, T] of whole episodes: `action` (stage-1 choice 0/1), `common` (bool),
`reward` (0/1), `good` (the good second-stage state, 0 = S1 reached commonly by action 0).
"""


import numpy as np

from metarl.analysis.statistics import lagged, logistic_fit

TYPES = ('CR', 'CO', 'UR', 'UO')
LAGS = 5


def trial_types(common, reward) -> dict[str, np.ndarray]:
  common, reward = np.asarray(common, bool), np.asarray(reward) > 0
  return dict(CR=common & reward, CO=common & ~reward, UR=~common & reward,
              UO=~common & ~reward)


def lagged_regression(action, common, reward, valid: np.ndarray | None = None,
                      lags: int = LAGS) -> dict:
  """Miller et al.'s regression. Returns {'weights': {type: [lags]}, 'intercept',
  'model_based_index', 'model_free_index', 'trials'}; `valid` [E, T]: which trials t are
  predicted (all from t = lags on by default)."""
  choice = 2.0 * np.asarray(action, np.float64) - 1.0
  steps = range(1, lags + 1)
  columns = [lagged(choice * kind, steps) for kind in trial_types(common, reward).values()]
  x = np.concatenate(columns, axis=2)  # [E, T, 4 * lags], type-major
  rows = np.zeros(choice.shape, bool)
  rows[:, lags:] = True
  if valid is not None:
    rows &= np.asarray(valid, bool)
  w = logistic_fit(x[rows], np.asarray(action)[rows] > 0)
  weights = {name: w[1 + i * lags:1 + (i + 1) * lags] for i, name in enumerate(TYPES)}
  s = {name: float(v.sum()) for name, v in weights.items()}
  return dict(weights=weights, intercept=float(w[0]), trials=int(rows.sum()),
              model_based_index=s['CR'] - s['CO'] + s['UO'] - s['UR'],
              model_free_index=s['CR'] - s['CO'] - s['UO'] + s['UR'])


def one_back_regression(action, common, reward, good=None,
                        valid: np.ndarray | None = None) -> dict[str, float]:
  """Daw et al.'s stay regression (b0, bR, bT, bRT) and, with `good`, Akam et al.'s
  correct-choice regressor bC. `valid` [E, T]: which trials t (>= 1) are predicted."""
  action = np.asarray(action)
  sign = lambda v: 2.0 * np.asarray(v, np.float64) - 1.0  # noqa: E731
  r, t = sign(np.asarray(reward) > 0)[:, :-1], sign(common)[:, :-1]
  columns = [r, t, r * t]
  if good is not None:
    columns.append(sign(action[:, :-1] == np.asarray(good)[:, :-1]))
  stay = action[:, 1:] == action[:, :-1]
  rows = np.ones(stay.shape, bool) if valid is None else np.asarray(valid, bool)[:, 1:]
  w = logistic_fit(np.stack([c[rows] for c in columns], axis=1), stay[rows])
  names = ['b0', 'bR', 'bT', 'bRT'] + (['bC'] if good is not None else [])
  return dict(zip(names, (float(v) for v in w), strict=True))


def simulate_q_learner(kind: str, episodes: int, trials: int, rng: np.random.Generator,
                       common_prob: float = 0.8, reward_prob: float = 0.9,
                       swap_prob: float = 0.025, alpha: float = 0.5,
                       beta: float = 5.0) -> dict[str, np.ndarray]:
  """Episodes of a Q-learner on the two-step task (the env's rules: a = 0 leads to S1 with
  `common_prob`; the good state pays 1 with `reward_prob`, the other with 1 - reward_prob, and
  swaps with `swap_prob` at each trial's start; values start at 0.5 each episode).

  kind 'model_free': Q1[a] <- Q1[a] + alpha (r - Q1[a]) (direct reinforcement of the
  stage-1 choice, TD(1)). 'model_based': Q2[s] <- Q2[s] + alpha (r - Q2[s]) and Q1[a] =
  common_prob Q2[common state of a] + (1 - common_prob) Q2[the other]. Choices: softmax
  with inverse temperature `beta`. Returns [E, T] arrays action, common, reward, good.
  """
  if kind not in ('model_free', 'model_based'):
    raise ValueError(f'kind must be model_free or model_based, got {kind!r}')
  good = rng.integers(0, 2, episodes)
  q1 = np.full((episodes, 2), 0.5)
  q2 = np.full((episodes, 2), 0.5)
  out = {k: np.zeros((episodes, trials), dtype) for k, dtype in
         (('action', np.int32), ('common', bool), ('reward', np.float32),
          ('good', np.int32))}
  rows = np.arange(episodes)
  for t in range(trials):
    good = np.where(rng.uniform(size=episodes) < swap_prob, 1 - good, good)
    values = q1 if kind == 'model_free' else (
        common_prob * q2 + (1 - common_prob) * q2[:, ::-1])
    p1 = 1.0 / (1.0 + np.exp(-beta * (values[:, 1] - values[:, 0])))
    action = (rng.uniform(size=episodes) < p1).astype(np.int32)
    common = rng.uniform(size=episodes) < common_prob
    state = np.where(common, action, 1 - action)
    reward = (rng.uniform(size=episodes) < np.where(state == good, reward_prob,
                                                     1 - reward_prob)).astype(np.float32)
    if kind == 'model_free':
      q1[rows, action] += alpha * (reward - q1[rows, action])
    else:
      q2[rows, state] += alpha * (reward - q2[rows, state])
    for name, value in (('action', action), ('common', common), ('reward', reward),
                        ('good', good)):
      out[name][:, t] = value
  return out


def regression_rows(who: str, data: dict[str, np.ndarray],
                    valid: np.ndarray | None = None):
  """The rows of trial_history.csv and one_back.csv for one agent's [E, T] arrays."""
  fit = lagged_regression(data['action'], data['common'], data['reward'], valid)
  lag_rows = [dict(agent=who, type=name, lag=lag + 1, weight=float(w))
              for name, weights in fit['weights'].items() for lag, w in enumerate(weights)]
  index_row = dict(agent=who, model_based_index=fit['model_based_index'],
                   model_free_index=fit['model_free_index'], intercept=fit['intercept'],
                   trials=fit['trials'])
  back = [dict(agent=who, regression='Daw 2011',
               **one_back_regression(data['action'], data['common'], data['reward'],
                                     valid=valid)),
          dict(agent=who, regression='Daw 2011 + Akam 2015 correct choice',
               **one_back_regression(data['action'], data['common'], data['reward'],
                                     data['good'], valid=valid))]
  return lag_rows, index_row, back
