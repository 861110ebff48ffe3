"""The Bayes-optimal player of two independent Bernoulli arms with uniform priors, exactly.

With p_1, p_2 ~ U(0, 1) independently and T trials, the posterior after n_a pulls of arm a
with s_a successes is Beta(1 + s_a, 1 + n_a - s_a), so the history enters only through the
counts. Before trial t (t pulls made) the state is (n_0, s_0, s_1) with n_1 = t - n_0, and
backward induction from V_T = 0 gives the undiscounted optimum over the remaining trials:

  Q_t(a) = m_a (1 + V_{t+1}(a paid)) + (1 - m_a) V_{t+1}(a did not),  m_a = (s_a + 1) / (n_a + 2)
  V_t = max_a Q_t(a)

(Bellman 1956; Gittins 1979 for the discounted case). V_0 is the expected reward of the
best possible play; the oracle that knows p earns T E[max(p_1, p_2)] = 2T/3, so the
expected regret of Bayes-optimal play is 2T/3 - V_0: 1/6 for T = 1, 1/4 for T = 2, 0.645
for T = 10 and 1.748 for T = 100 (Thompson sampling: about 2.78). The ~T^4/24 states are
solved one trial at a time on a (t+1)^3 grid with array slices (grid cells that are not
reachable, s_a > n_a, hold values nothing reachable reads); T = 100 takes about a second.

Used by the bandit analysis to play the Bayes-optimal policy on the agent's episodes, to
give its exact expected regret on their arms (`expected_play`, the yardstick of the agent's)
and to score the agent's choices against it (Mikulik et al. 2020, "Meta-trained agents
implement Bayes-optimal agents").
"""

import functools
from typing import NamedTuple

import numpy as np

# The decisions kept take ~T^4 / 4 bytes (the (t+1)^3 grids): 26 MB for 100 trials, 130 MB
# for 150; longer horizons are refused rather than filling the memory.
MAX_TRIALS = 150

# Decisions on the grid: the arm with the larger value, or both when their values tie.
ARM_0, ARM_1, TIE = 0, 1, 2
_TIE_TOLERANCE = 1e-9


class Solution(NamedTuple):
  """The solved problem.

  Attributes:
    trials: T.
    value: V_0, the expected reward of Bayes-optimal play over the T trials.
    regret: 2T/3 - V_0, its expected regret against the oracle.
    decisions: per trial t, an int8 grid [t+1, t+1, t+1] indexed (n_0, s_0, s_1):
      ARM_0, ARM_1 or TIE (values equal to 1e-9).
  """
  trials: int
  value: float
  regret: float
  decisions: list[np.ndarray]


def _backward(trials: int):
  """Backward induction over the posterior counts: yields (t, Q_t(0), Q_t(1)) on trial t's
  (t+1)^3 grid for t = T-1 .. 0."""
  if not 1 <= trials <= MAX_TRIALS:
    raise ValueError(f'the Bayes-optimal bandit player is solved for 1 to {MAX_TRIALS} '
                     f'trials, got {trials}')
  following = np.zeros((trials + 1,) * 3)  # V_T on the grid of trial T
  for t in range(trials - 1, -1, -1):
    counts = np.arange(t + 1, dtype=np.float64)
    n0 = counts[:, None, None]
    m0 = (counts[None, :, None] + 1.0) / (n0 + 2.0)
    m1 = (counts[None, None, :] + 1.0) / (t - n0 + 2.0)
    g = t + 1
    q0 = (m0 * (1.0 + following[1:g + 1, 1:g + 1, :g])
          + (1.0 - m0) * following[1:g + 1, :g, :g])
    q1 = (m1 * (1.0 + following[:g, :g, 1:g + 1])
          + (1.0 - m1) * following[:g, :g, :g])
    yield t, q0, q1
    following = np.maximum(q0, q1)


@functools.lru_cache(maxsize=4)
def solve(trials: int) -> Solution:
  """Backward induction over the posterior counts for a horizon of `trials`."""
  decisions = [None] * trials
  for t, q0, q1 in _backward(trials):
    decision = np.where(q1 > q0, ARM_1, ARM_0).astype(np.int8)
    decision[np.abs(q1 - q0) <= _TIE_TOLERANCE] = TIE
    decisions[t] = decision
    if t == 0:
      value = float(max(q0[0, 0, 0], q1[0, 0, 0]))
  return Solution(trials=trials, value=value, regret=2.0 * trials / 3.0 - value,
                  decisions=decisions)


def applies(num_arms: int, reward_structure: str, trials: int) -> bool:
  """Whether the solved player is the Bayes-optimal one for a bandit task."""
  return num_arms == 2 and reward_structure == 'independent' and 1 <= trials <= MAX_TRIALS


def count_states(actions: np.ndarray, rewards: np.ndarray) -> np.ndarray:
  """The counts (n_0, s_0, s_1) before each trial of played episodes: [3, E, T] int."""
  actions = np.asarray(actions).astype(np.int64)
  paid = np.asarray(rewards) > 0.5
  first = actions == 0
  before = lambda x: np.cumsum(x, axis=1) - x  # noqa: E731  (counts of earlier trials)
  return np.stack([before(first), before(first & paid), before(~first & paid)])


def decisions_along(solution: Solution, actions: np.ndarray,
                    rewards: np.ndarray) -> np.ndarray:
  """The Bayes-optimal decision before each trial of played episodes.

  Args:
    solution: from `solve(T)`.
    actions, rewards: [E, T] arms chosen (0 or 1) and rewards (0 or 1) of whole episodes.

  Returns:
    [E, T] int8: ARM_0, ARM_1 or TIE given the episode's history before the trial.
  """
  n0, s0, s1 = count_states(actions, rewards)
  return np.stack([solution.decisions[t][n0[:, t], s0[:, t], s1[:, t]]
                   for t in range(n0.shape[1])], axis=1)


# What a choice that is not Bayes-optimal was, by the posterior means m_0, m_1 before it:
# the arm with the larger mean where trying the other is optimal (too little exploration),
# the arm with the smaller mean where the larger one's is optimal (too much exploration, or
# staying with an arm that has fallen behind), or either arm where the means are equal.
OPTIMAL, LARGER_MEAN, SMALLER_MEAN, EQUAL_MEANS = 0, 1, 2, 3
KINDS = {LARGER_MEAN: 'larger_mean', SMALLER_MEAN: 'smaller_mean', EQUAL_MEANS: 'equal_means'}


def value_lost_along(actions: np.ndarray, rewards: np.ndarray) -> tuple[np.ndarray,
                                                                        np.ndarray]:
  """What each choice of played episodes gave up against the Bayes-optimal player.

  lost_t = max_a Q_t(a) - Q_t(a_t), the expected reward over the rest of the episode lost by
  playing a_t instead of the best arm and then playing optimally. Summed over an episode, its
  mean over episodes estimates the player's expected regret less the Bayes-optimal player's
  (the performance difference identity: V*(h_0) - V(h_0) is the expected sum of the lost_t
  along the player's own histories).

  Args:
    actions, rewards: [E, T] of whole episodes on two independent arms (T <= MAX_TRIALS).

  Returns:
    (lost [E, T] float64, kind [E, T] int8: OPTIMAL, LARGER_MEAN, SMALLER_MEAN or
    EQUAL_MEANS).
  """
  actions = np.asarray(actions).astype(np.int64)
  trials = actions.shape[1]
  n0, s0, s1 = count_states(actions, rewards)
  lost = np.zeros(actions.shape)
  kind = np.zeros(actions.shape, np.int8)
  for t, q0, q1 in _backward(trials):
    state = n0[:, t], s0[:, t], s1[:, t]
    gap = q0[state] - q1[state]  # Q_t(0) - Q_t(1)
    chose_1 = actions[:, t] == 1
    lost[:, t] = np.maximum(np.where(chose_1, gap, -gap), 0.0)
    lost[np.abs(gap) <= _TIE_TOLERANCE, t] = 0.0
    m0 = (s0[:, t] + 1.0) / (n0[:, t] + 2.0)
    m1 = (s1[:, t] + 1.0) / (t - n0[:, t] + 2.0)
    chose_larger = np.where(chose_1, m1 > m0, m0 > m1)
    kind[:, t] = np.select([lost[:, t] == 0.0, m0 == m1, chose_larger],
                           [OPTIMAL, EQUAL_MEANS, LARGER_MEAN], SMALLER_MEAN)
  return lost, kind


def pull_probabilities(solution: Solution, arm_probs: np.ndarray,
                       chunk: int = 500) -> np.ndarray:
  """The probability that the Bayes-optimal player pulls each arm at each trial of episodes
  with known arms, exactly (its expectation over the rewards and the fair coin at ties).

  A history's probability given the arms is c p_0^s_0 (1 - p_0)^(n_0 - s_0) p_1^s_1
  (1 - p_1)^(n_1 - s_1), where c, the weight of the reward sequences that bring the player to
  the counts (n_0, s_0, s_1) (each tie halves it), does not depend on the arms. So the
  weights are carried forward over the grids and P(arm 0 at trial t) is a sum of products:
  per n_0, [E, s_0] @ [s_0, s_1] times [E, s_1], summed (~T^4/24 multiply-adds per
  episode: a few seconds for 2,000 episodes of 100 trials).

  Args:
    solution: from `solve(T)`.
    arm_probs: [E, 2] each episode's arm probabilities.
    chunk: episodes at a time (memory ~ 2 chunk T^2 8 bytes).

  Returns:
    [E, T, 2]: P(arm a is pulled at trial t); each trial's two sum to 1.
  """
  arm_probs = np.asarray(arm_probs, np.float64)
  first = np.empty(arm_probs.shape[:1] + (solution.trials,))
  for start in range(0, arm_probs.shape[0], chunk):
    probs = arm_probs[start:start + chunk]
    like_0, like_1 = (_likelihoods(probs[:, a], solution.trials) for a in range(2))
    for t, to_arm_0 in enumerate(_weights_to_arm_0(solution)):
      total = 0.0
      for n0 in range(t + 1):
        n1 = t - n0
        total = total + ((like_0[n0, :, :n0 + 1] @ to_arm_0[n0, :n0 + 1, :n1 + 1])
                         * like_1[n1, :, :n1 + 1]).sum(axis=1)
      first[start:start + chunk, t] = total
  return np.stack([first, 1.0 - first], axis=-1)


def expected_play(solution: Solution,
                  arm_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The Bayes-optimal player's expected regret max(p) - p[a_t] and expected reward p[a_t]
  at each trial of episodes with known arms, exactly (`pull_probabilities`).

  Returns:
    (regret [E, T], reward [E, T]).
  """
  arm_probs = np.asarray(arm_probs, np.float64)
  reward = (pull_probabilities(solution, arm_probs) * arm_probs[:, None, :]).sum(-1)
  return arm_probs.max(axis=1)[:, None] - reward, reward


def _likelihoods(p: np.ndarray, trials: int) -> np.ndarray:
  """[T, E, T]: p^s (1 - p)^(n - s) at [n, e, s] for s <= n, else 0."""
  n = np.arange(trials)[:, None, None]
  s = np.arange(trials)[None, None, :]
  valid = s <= n
  p = p[None, :, None]
  return np.where(valid, p ** s * (1.0 - p) ** np.where(valid, n - s, 0), 0.0)


def _weights_to_arm_0(solution: Solution):
  """Yields, per trial t, the weights [t+1, t+1, t+1] (n_0, s_0, s_1) of the reward
  sequences that reach the counts and then pull arm 0 (`pull_probabilities`)."""
  reach = np.ones((1, 1, 1))
  for t in range(solution.trials):
    decision = solution.decisions[t]
    half = 0.5 * (decision == TIE)
    to_0 = reach * ((decision == ARM_0) + half)
    to_1 = reach * ((decision == ARM_1) + half)
    yield to_0
    following = np.zeros((t + 2,) * 3)
    following[1:, 1:, :-1] += to_0  # arm 0 paid: n_0 + 1, s_0 + 1
    following[1:, :-1, :-1] += to_0  # arm 0 did not: n_0 + 1
    following[:-1, :-1, 1:] += to_1  # arm 1 paid: s_1 + 1 (n_1 = t + 1 - n_0)
    following[:-1, :-1, :-1] += to_1  # arm 1 did not
    reach = following


def play(solution: Solution, arm_probs: np.ndarray, rng: np.random.Generator):
  """The Bayes-optimal player on each episode's arms (ties broken by a fair coin).

  Args:
    solution: from `solve(T)`.
    arm_probs: [E, 2].
    rng: numpy generator of the rewards and tie breaks.

  Returns:
    (actions [E, T] int32, rewards [E, T] float32).
  """
  arm_probs = np.asarray(arm_probs, np.float64)
  episodes = arm_probs.shape[0]
  n0, s0, s1 = (np.zeros(episodes, np.int64) for _ in range(3))
  actions = np.empty((episodes, solution.trials), np.int32)
  rewards = np.empty((episodes, solution.trials), np.float32)
  rows = np.arange(episodes)
  for t in range(solution.trials):
    decision = solution.decisions[t][n0, s0, s1]
    coin = rng.random(episodes) < 0.5
    action = np.where(decision == TIE, coin, decision == ARM_1).astype(np.int64)
    paid = rng.random(episodes) < arm_probs[rows, action]
    actions[:, t], rewards[:, t] = action, paid
    first = action == 0
    n0 += first
    s0 += first & paid
    s1 += ~first & paid
  return actions, rewards


def agreement_and_kl(solution: Solution, actions, rewards, probs=None):
  """How the agent's choices compare with the Bayes-optimal ones along its own episodes.

  Args:
    solution: from `solve(T)`.
    actions, rewards: [E, T] the agent's episodes.
    probs: optional [E, T, 2] the agent's action probabilities at each trial; without them
      the chosen action stands for the most likely one and no KL is computed.

  Returns:
    (agreement [T], kl [T] or None): per trial, the fraction of episodes where the agent's
    most likely action is a Bayes-optimal one (either arm at a tie), and the mean
    KL(pi_Bayes || pi_agent) in nats, with pi_Bayes putting all its mass on the optimal
    arm, or half on each at a tie.
  """
  decision = decisions_along(solution, actions, rewards)
  if probs is None:
    likely = np.asarray(actions)
  else:
    probs = np.asarray(probs, np.float64)
    likely = probs.argmax(axis=-1)
  agreement = ((decision == TIE) | (likely == decision)).mean(axis=0)
  if probs is None:
    return agreement, None
  log_p = np.log(np.clip(probs, 1e-30, 1.0))
  at_optimal = np.take_along_axis(log_p, np.minimum(decision, 1)[..., None].astype(np.int64),
                                  axis=-1)[..., 0]
  kl = np.where(decision == TIE, np.log(0.5) - 0.5 * (log_p[..., 0] + log_p[..., 1]),
                -at_optimal)
  return agreement, kl.mean(axis=0)
