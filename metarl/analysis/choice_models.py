"""Choice models of two-armed tasks, in numpy: a Q-learner (Rescorla-Wagner values of the
chosen arm, softmax choice), its values along a played history, and its maximum-likelihood
fit to someone's choices.

The learner: Q starts at `q0` for both arms each episode; after choosing arm a on trial t
and getting r, Q[a] <- Q[a] + alpha (r - Q[a]); it chooses arm 1 with probability
sigmoid(beta (Q[1] - Q[0])). Arrays are [E, T] of played episodes: `action` (0/1), `reward`
and `valid` (which trials count; a trial outside is neither learnt from nor predicted).
"""

import numpy as np

ALPHAS = np.round(np.arange(0.02, 1.0001, 0.02), 4)  # the fit's grid of learning rates
BETAS = np.geomspace(0.5, 50.0, 31)  # and of inverse temperatures


def q_values(action, reward, valid, alphas, q0: float = 0.0) -> np.ndarray:
  """Q before each trial, [len(alphas), E, T, 2], of learners with each learning rate
  replaying the history."""
  action, reward = np.asarray(action), np.asarray(reward, np.float64)
  valid = np.asarray(valid, bool)
  alphas = np.asarray(alphas, np.float64)[:, None]
  episodes, trials = action.shape
  q = np.full((len(alphas), episodes, 2), q0)
  out = np.zeros((len(alphas), episodes, trials, 2))
  rows = np.arange(episodes)
  for t in range(trials):
    out[:, :, t] = q
    chosen = q[:, rows, action[:, t]]
    learnt = np.where(valid[:, t], alphas * (reward[:, t] - chosen), 0.0)
    q[:, rows, action[:, t]] = chosen + learnt
  return out


def log_likelihoods(action, reward, valid, alphas=ALPHAS, betas=BETAS,
                    q0: float = 0.0) -> np.ndarray:
  """The log-likelihood [len(alphas), len(betas)] of the valid choices under each learner."""
  sign = np.where(np.asarray(action) == 1, 1.0, -1.0)
  valid = np.asarray(valid, bool)
  betas = np.asarray(betas, np.float64)[:, None, None]
  out = np.zeros((len(alphas), len(betas)))
  for i, alpha in enumerate(alphas):  # one learning rate at a time: [B, E, T] at most
    q = q_values(action, reward, valid, [alpha], q0)[0]
    logits = betas * (q[..., 1] - q[..., 0])
    log_p = -np.logaddexp(0.0, -sign * logits)  # log sigmoid(+-logit)
    out[i] = (log_p * valid).sum(axis=(1, 2))
  return out


def fit(action, reward, valid, alphas=ALPHAS, betas=BETAS, q0: float = 0.0) -> dict:
  """The maximum-likelihood learner on the grid: alpha, beta, log_likelihood, trials and
  the likelihood per trial (exp of the mean log-likelihood)."""
  ll = log_likelihoods(action, reward, valid, alphas, betas, q0)
  i, j = np.unravel_index(np.argmax(ll), ll.shape)
  trials = int(np.asarray(valid, bool).sum())
  return dict(alpha=float(np.asarray(alphas)[i]), beta=float(np.asarray(betas)[j]),
              log_likelihood=float(ll[i, j]), trials=trials,
              likelihood_per_trial=float(np.exp(ll[i, j] / max(trials, 1))))


def choose(q: np.ndarray, beta: float, rng: np.random.Generator) -> np.ndarray:
  """Softmax choices (0/1) of learners with values q [..., 2]."""
  p1 = 1.0 / (1.0 + np.exp(-np.clip(beta * (q[..., 1] - q[..., 0]), -30, 30)))
  return (rng.uniform(size=p1.shape) < p1).astype(np.int32)
