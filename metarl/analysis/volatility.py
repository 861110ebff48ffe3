"""Learning rates that adapt to volatility: Wang, Kurth-Nelson et al. (2018), simulation 2,
on Behrens et al.'s (2007) task (`metarl.envs.volatile_bandit`).

The agent plays the two test schedules (stable then volatile, volatile then stable; 200
trials, the phases 100 each). Read from its choices, and from those of a Bayesian learner
on the same episodes:

- a Rescorla-Wagner learner fitted by maximum likelihood per phase: it tracks q, the chance
  that arm 1 is the one that pays, with q <- q + alpha (o - q) after each outcome (o = 1
  when arm 1 paid or arm 0 did not, else 0; q = 0.5 at the episode's start) and chooses
  arm 1 with probability sigmoid(beta (q s1 - (1 - q) s0)), s the shown sizes. The first
  phase's alpha and beta are fitted on its choices; the second phase's with q carried over
  from the first phase's fitted learner. `alpha` is the phase's learning rate;
- the same learner's best constant alpha in a 10-trial window sliding along the episode
  (beta fixed at the whole episode's fit);
- the Bayesian learner: a posterior over the grid of r (the chance arm 1 pays) and v (its
  flip probability; the task's flips: r -> 1 - r with probability v; v itself redrawn with
  probability 0.02 a trial), choosing by the same softmax on its expected values;
- volatility decoded from the units: a ridge decoder of the phase (0 stable, 1 volatile)
  from the activity, cross-validated by episode; accuracy of its predictions against 0.5.

Writes into `out_dir`:
  eval_data.pickle           per schedule, [E, T]: action, reward, paid, sizes [E, T, 2],
                             better, volatile; hidden [E, T, H] with log_dynamics
  learning_rates.csv         who (agent | Bayesian learner), order, phase, alpha, beta,
                             trials, published (Wang 2018's networks, agent rows)
  learning_rate_window.csv   who, order, trial (the window's first trial), alpha
  volatility_decoding.csv    accuracy, chance, r2, samples, units
  reward_by_order.csv        who, order, mean_reward_per_trial, p_better_arm
  volatility.png / .pdf      the learning rate per phase beside the paper's, the sliding
                             window, the decoding
"""

import os

import jax
import numpy as np

from metarl.analysis.figures import plt, save
from metarl.analysis.registry import Analysis, EvalRequest, batch_first, register
from metarl.analysis.statistics import cross_validated_predictions
from metarl.envs.volatile_bandit import (
  TEST_PHASE,
  TEST_STABLE_P,
  TEST_VOLATILE_P,
  VolatileBandit,
)
from metarl.evaluation import make_evaluator
from metarl.io import save_csv, save_pickle

ORDERS = ('stable_first', 'volatile_first')
# Wang et al. 2018, simulation 2: the networks' fitted learning rates (8 seeds; read off
# the paper's figure, ../shared/SCIENCE.md section D).
PUBLISHED = {('stable_first', 'stable'): 0.21, ('stable_first', 'volatile'): 0.46,
             ('volatile_first', 'volatile'): 0.51, ('volatile_first', 'stable'): 0.28}
ALPHAS = np.round(np.arange(0.02, 1.0001, 0.02), 4)
BETAS = np.geomspace(0.5, 100.0, 21)
WINDOW = 10
R_GRID = np.linspace(0.0, 1.0, 41)
V_GRID = np.geomspace(1e-3, 0.5, 25)
V_REDRAW = 0.02  # the Bayesian learner's chance that v changes on a trial
BAYES_BETA = 10.0  # the Bayesian learner's softmax on its expected values


def phases(order: str, trials: int = 2 * TEST_PHASE) -> list[tuple[str, int, int]]:
  """(phase, first trial, end) of a test schedule."""
  first, second = ('stable', 'volatile') if order == 'stable_first' else ('volatile', 'stable')
  return [(first, 0, TEST_PHASE), (second, TEST_PHASE, trials)]


def evidence(action, paid) -> np.ndarray:
  """o: 1 when the outcome says arm 1 is the one that pays (it paid, or arm 0 did not)."""
  return (np.asarray(action) == 1) == np.asarray(paid, bool)


def rw_estimates(action, paid, alphas, start, first: int, end: int) -> np.ndarray:
  """q before each trial of [first, end), [A, E, end - first], from q = `start` [A, E]."""
  o = evidence(action, paid).astype(np.float64)
  alphas = np.asarray(alphas, np.float64)[:, None]
  q = np.array(start, np.float64)
  out = np.zeros(q.shape + (end - first,))
  for t in range(first, end):
    out[..., t - first] = q
    q = q + alphas * (o[:, t] - q)
  return out


def choice_log_likelihood(q, action, sizes, betas) -> np.ndarray:
  """Log-likelihood [B, E, T] of each choice (q [E, T], one learner's) under
  softmax(beta (q s1 - (1 - q) s0))."""
  sizes = np.asarray(sizes, np.float64)
  difference = q * sizes[..., 1] - (1.0 - q) * sizes[..., 0]
  logits = np.asarray(betas, np.float64)[:, None, None] * difference
  sign = np.where(np.asarray(action) == 1, 1.0, -1.0)
  return -np.logaddexp(0.0, -sign * logits)


def fit_phases(action, paid, sizes, order: str) -> list[dict]:
  """The Rescorla-Wagner fit of each phase of a test schedule (the module's docstring)."""
  episodes = np.asarray(action).shape[0]
  start = np.full((len(ALPHAS), episodes), 0.5)
  rows = []
  for phase, first, end in phases(order, np.asarray(action).shape[1]):
    q = rw_estimates(action, paid, ALPHAS, start, first, end)  # [A, E, T]
    ll = np.stack([choice_log_likelihood(qa, action[:, first:end], sizes[:, first:end],
                                         BETAS).sum(axis=(1, 2)) for qa in q])  # [A, B]
    i, j = np.unravel_index(np.argmax(ll), ll.shape)
    rows.append(dict(order=order, phase=phase, alpha=float(ALPHAS[i]), beta=float(BETAS[j]),
                     trials=int(episodes * (end - first))))
    last = q[i, :, -1]  # carry the fitted learner's q over the boundary
    o = evidence(action[:, end - 1], paid[:, end - 1]).astype(np.float64)
    start = np.broadcast_to(last + ALPHAS[i] * (o - last), (len(ALPHAS), episodes))
  return rows


def window_alphas(action, paid, sizes) -> list[tuple[int, float]]:
  """(first trial, best constant alpha) of each 10-trial window (beta: the whole
  episode's best)."""
  episodes, trials = np.asarray(action).shape
  q = rw_estimates(action, paid, ALPHAS, np.full((len(ALPHAS), episodes), 0.5), 0, trials)
  ll = np.stack([choice_log_likelihood(qa, action, sizes, BETAS).sum(axis=1)
                 for qa in q])  # [A, B, T]
  j = np.argmax(ll.sum(-1).max(axis=0))
  per_trial = ll[:, j]  # [A, T]
  out = []
  for first in range(0, trials - WINDOW + 1):
    out.append((first, float(ALPHAS[np.argmax(per_trial[:, first:first + WINDOW].sum(-1))])))
  return out


def bayesian_learner(better, sizes, high, rng: np.random.Generator) -> dict:
  """The Bayesian learner playing episodes whose better arm is `better` [E, T] and whose
  better arm pays with `high` [E, T]: [E, T] action, paid, reward, and its P(arm 1 pays)
  before each trial."""
  episodes, trials = np.asarray(better).shape
  posterior = np.full((episodes, len(R_GRID), len(V_GRID)), 1.0 / (len(R_GRID) * len(V_GRID)))
  out = {k: np.zeros((episodes, trials), d) for k, d in
         (('action', np.int32), ('paid', bool), ('reward', np.float32),
          ('p_arm1', np.float64))}
  for t in range(trials):
    # what the next trial may be: the flip with v, then v redrawn with V_REDRAW
    flipped = posterior[:, ::-1]  # r -> 1 - r on the symmetric grid
    posterior = (1.0 - V_GRID) * posterior + V_GRID * flipped
    posterior = (1.0 - V_REDRAW) * posterior + V_REDRAW * posterior.sum(
        axis=2, keepdims=True) / len(V_GRID)
    p1 = (posterior.sum(axis=2) * R_GRID).sum(axis=1)
    difference = p1 * sizes[:, t, 1] - (1.0 - p1) * sizes[:, t, 0]
    action = (rng.uniform(size=episodes) < 1.0 / (1.0 + np.exp(-BAYES_BETA * difference))
              ).astype(np.int32)
    p_pay = np.where(action == better[:, t], high[:, t], 1.0 - high[:, t])
    paid = rng.uniform(size=episodes) < p_pay
    o = evidence(action, paid)
    likelihood = np.where(o[:, None], R_GRID, 1.0 - R_GRID)[:, :, None]  # [E, R, 1]
    posterior = posterior * likelihood
    posterior /= posterior.sum(axis=(1, 2), keepdims=True)
    out['action'][:, t], out['paid'][:, t], out['p_arm1'][:, t] = action, paid, p1
    out['reward'][:, t] = np.where(paid, sizes[np.arange(episodes), t, action], 0.0)
  return out


def play(env: VolatileBandit, actor, params, num_episodes: int, key,
         log_dynamics: bool) -> dict:
  evaluate = make_evaluator(env, actor, num_episodes)
  traj = jax.device_get(evaluate(params, key)).trajectory
  state = traj.env_state
  reward = batch_first(traj.reward)
  data = dict(action=batch_first(traj.action).astype(np.int32), reward=reward,
              paid=reward > 0, sizes=batch_first(state.sizes),
              better=batch_first(state.better), volatile=batch_first(state.volatile))
  if log_dynamics and 'hidden' in traj.extras:
    data['hidden'] = batch_first(traj.extras['hidden'])
  return data


def decode_volatility(by_order: dict) -> dict:
  """The phase decoded from the units, cross-validated by episode."""
  x, y, groups, offset = [], [], [], 0
  for data in by_order.values():
    episodes = data['hidden'].shape[0]
    x.append(data['hidden'].reshape(-1, data['hidden'].shape[-1]))
    y.append(np.asarray(data['volatile'], np.float64).reshape(-1))
    groups.append(np.repeat(np.arange(episodes) + offset, data['hidden'].shape[1]))
    offset += episodes
  x, y, groups = np.concatenate(x), np.concatenate(y), np.concatenate(groups)
  predicted = cross_validated_predictions(x, y[:, None], groups)[:, 0]
  r2 = 1.0 - np.sum((y - predicted) ** 2) / np.sum((y - y.mean()) ** 2)
  return dict(accuracy=float(np.mean((predicted > 0.5) == (y > 0.5))),
              chance=float(max(y.mean(), 1.0 - y.mean())), r2=float(r2), samples=len(y),
              units=x.shape[1])


def analyze(request: EvalRequest) -> dict:
  """Plays `request.num_episodes` episodes of each test schedule; writes the files above."""
  by_order = {}
  for order, key in zip(ORDERS, jax.random.split(request.key, len(ORDERS)), strict=True):
    by_order[order] = play(VolatileBandit(order), request.policy.actor, request.params,
                           request.num_episodes, key, request.log_dynamics)
  return write_results(request.out_dir, by_order)


def write_results(out_dir: str, by_order: dict, seed: int = 0) -> dict:
  rng = np.random.default_rng(seed)
  rate_rows, window_rows, reward_rows = [], [], []
  for order, data in by_order.items():
    high = np.where(data['volatile'], TEST_VOLATILE_P, TEST_STABLE_P)
    bayes = bayesian_learner(data['better'], data['sizes'], high, rng)
    for who, played in (('agent', data), ('Bayesian learner', bayes)):
      for row in fit_phases(played['action'], played['paid'], data['sizes'], order):
        published = PUBLISHED[(order, row['phase'])] if who == 'agent' else ''
        rate_rows.append(dict(who=who, **row, published=published))
      window_rows += [dict(who=who, order=order, trial=first, alpha=alpha) for first, alpha
                      in window_alphas(played['action'], played['paid'], data['sizes'])]
      reward_rows.append(dict(
          who=who, order=order, mean_reward_per_trial=float(np.mean(played['reward'])),
          p_better_arm=float(np.mean(played['action'] == data['better']))))
  summary = {f'alpha_{r["order"]}_{r["phase"]}': r['alpha'] for r in rate_rows
             if r['who'] == 'agent'}
  summary['volatile_above_stable_both_orders'] = float(all(
      summary[f'alpha_{order}_volatile'] > summary[f'alpha_{order}_stable']
      for order in by_order))
  decoding = None
  if all('hidden' in d for d in by_order.values()):
    decoding = decode_volatility(by_order)
    save_csv(os.path.join(out_dir, 'volatility_decoding.csv'), [decoding])
    summary['volatility_decoding_accuracy'] = decoding['accuracy']
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), by_order)
  save_csv(os.path.join(out_dir, 'learning_rates.csv'), rate_rows)
  save_csv(os.path.join(out_dir, 'learning_rate_window.csv'), window_rows)
  save_csv(os.path.join(out_dir, 'reward_by_order.csv'), reward_rows)
  plot_volatility(os.path.join(out_dir, 'volatility.png'), rate_rows, window_rows, decoding)
  return summary


register(Analysis(env='volatile_bandit', analyze=analyze, num_episodes=200, log_dynamics=True,
                  summary_note="the agent's fitted learning rate per test order and phase, "
                               'and the phase decoded from its units'))


# Figures -----------------------------------------------------------------------------------

def plot_volatility(path: str, rate_rows, window_rows, decoding) -> None:
  """Behrens et al.'s comparison: the learning rate of each phase in each order for the
  agent and the Bayesian learner, the paper's networks as dots; the 10-trial window's
  learning rate along the episode; the phase decoded from the units."""
  panels = 3 if decoding else 2
  fig, axes = plt.subplots(1, panels, figsize=(4.3 * panels, 3.6))
  ax = axes[0]
  groups = [(order, phase) for order in ORDERS for phase, _, _ in phases(order)]
  x = np.arange(len(groups))
  for i, who in enumerate(('agent', 'Bayesian learner')):
    values = [next((r['alpha'] for r in rate_rows if r['who'] == who and
                    (r['order'], r['phase']) == g), np.nan) for g in groups]
    ax.bar(x + 0.38 * (i - 0.5), values, width=0.38, label=who)
  ax.plot(x - 0.19, [PUBLISHED[g] for g in groups], 'o', color='k',
          label='Wang et al. 2018 (networks)')
  short = {'stable_first': 'S-V', 'volatile_first': 'V-S'}
  ax.set_xticks(x, [f'{p}\n{short[o]}' for o, p in groups], fontsize='small')
  ax.set_xlabel('phase (S-V: stable first, V-S: volatile first)', fontsize='small')
  ax.set_ylabel('fitted learning rate')
  ax.set_ylim(0.0, 1.0)
  ax.legend(fontsize='x-small', frameon=False)
  ax = axes[1]
  for order, style in zip(ORDERS, ('-', '--'), strict=True):
    rows = [r for r in window_rows if r['who'] == 'agent' and r['order'] == order]
    ax.plot([r['trial'] + WINDOW / 2 for r in rows], [r['alpha'] for r in rows], style,
            label=f'agent, {order.replace("_", " ")}')
  ax.axvline(TEST_PHASE, color='gray', lw=0.8)
  ax.set_xlabel('trial')
  ax.set_ylabel(f'learning rate ({WINDOW}-trial window)')
  ax.set_ylim(0.0, 1.0)
  ax.legend(fontsize='x-small', frameon=False)
  if decoding:
    ax = axes[2]
    ax.bar([0], [decoding['accuracy']], width=0.5, label='cross-validated')
    ax.axhline(decoding['chance'], color='gray', ls='--', lw=1, label='chance')
    ax.set_xlim(-1.0, 1.0)
    ax.set_xticks([0], ['phase from units'])
    ax.set_ylabel('decoding accuracy')
    ax.set_ylim(0.0, 1.0)
    ax.legend(fontsize='x-small', frameon=False)
  save(fig, path)
