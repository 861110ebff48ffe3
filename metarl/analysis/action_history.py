"""Action and reward history in a meta-RL agent's choices and units: Wang, Kurth-Nelson et
al. (2018), simulation 1, on the baited bandit (`metarl.envs.baited_bandit`; after Lau &
Glimcher 2005 and Tsutsui et al. 2016).

Played and compared, per p0 set (the env's own, and the training and held-out ranges):
the agent's episodes, and a Q-learner reference (`choice_models`) with the learning rate
and inverse temperature that earn most on the training ranges, playing episodes of the same
p0 and length. Analyses of the agent's episodes on the env's own set:

- the choice regression of Lau & Glimcher (2005): logit P(right at t) = b0 + sum over lags
  k = 1..15 of w_reward[k] rc_{t-k} + w_choice[k] c_{t-k}, c = +1 right / -1 left and
  rc = c when that trial paid, else 0; on the trials in the last two thirds of each
  episode (the same fit for the Q-learner's episodes);
- each unit's correlation, over trials t >= 1, of its activity at the start of trial t
  (after seeing trial t - 1's action and reward) with the last action (c_{t-1}), the last
  reward (r_{t-1}, 0/1), their product (rc_{t-1}) and the value of the action chosen on
  trial t (Q_t(a_t) of the Q-learner fitted to the agent's choices by maximum likelihood,
  run along its history); the mean |r| over units per regressor, beside the paper's.

Writes into `out_dir`:
  eval_data.pickle          the env set's episodes, [E, T]: action, reward, valid (the
                            first episode of each column), p0 [E, 2], length [E], and
                            hidden [E, T, H] with log_dynamics; unit_r [4, H]
  reward_by_set.csv         p0_set, player (agent | Q-learner), mean_reward_per_trial,
                            p_richer_arm, episodes
  choice_regression.csv     player, regressor (reward | choice), lag, weight
  choice_model_fit.csv      what, alpha, beta, log_likelihood, trials, likelihood_per_trial
                            (the reference's best-earning settings; the fit to the agent)
  unit_correlations.csv     regressor, mean_abs_r, published (Wang 2018), units
  action_history.png / .pdf the regression weights against the lag, the unit correlations
                            beside the paper's, the reward per trial of both players by set
"""

import os

import jax
import numpy as np

from metarl.analysis import choice_models
from metarl.analysis.figures import plt, save
from metarl.analysis.registry import Analysis, EvalRequest, batch_first, register
from metarl.analysis.statistics import lagged, logistic_fit
from metarl.envs.baited_bandit import (
  P0_SETS,
  BaitedBandit,
  first_episode,
  reward_probability,
)
from metarl.evaluation import make_evaluator
from metarl.io import save_csv, save_pickle

LAGS = 15
REGRESSORS = ('last_action', 'last_reward', 'action_x_reward', 'chosen_value')
# Wang et al. 2018, simulation 1: mean |r| of the units with each regressor (read off the
# paper's figure; ../shared/SCIENCE.md section D).
PUBLISHED_MEAN_ABS_R = {'last_action': 0.22, 'last_reward': 0.07, 'action_x_reward': 0.11,
                        'chosen_value': 0.21}
COMPARED_SETS = ('train', 'held_out')
# The reference Q-learner's settings are the grid's best earners on the training ranges.
REFERENCE_ALPHAS = np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.4,
                             0.5, 0.6, 0.8, 1.0])
REFERENCE_BETAS = (1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0, 50.0)
REFERENCE_EPISODES = 1000


def with_set(env: BaitedBandit, p0_set: str) -> BaitedBandit:
  return BaitedBandit(p0_set, env.min_trials, env.max_trials)


def play(env: BaitedBandit, actor, params, num_episodes: int, key,
         log_dynamics: bool = False) -> dict:
  """`num_episodes` episodes of the agent: [E, T] action, reward, valid; p0, length [E];
  hidden [E, T, H] when recorded (steps past the first episode are not valid)."""
  evaluate = make_evaluator(env, actor, num_episodes)
  traj = jax.device_get(evaluate(params, key)).trajectory
  data = episode_data(traj.env_state, traj.action, traj.reward)
  if log_dynamics and 'hidden' in traj.extras:
    data['hidden'] = batch_first(traj.extras['hidden'])
  return data


def episode_data(states, actions, rewards) -> dict:
  """Played episodes (leaves [T, E], from a reset) as the analysis reads them: [E, T]
  action, reward, valid (each column's first episode); p0 [E, 2], length [E]."""
  return dict(action=batch_first(actions).astype(np.int32),
              reward=batch_first(rewards).astype(np.float32),
              valid=batch_first(first_episode(states.trial)),
              p0=np.asarray(states.p0[0]), length=np.asarray(states.length[0]))


def simulate_q_player(p0, length, alpha, beta, trials: int, rng: np.random.Generator,
                      q0: float = 0.0) -> dict:
  """Episodes of Q-learners (alpha and beta scalars, or arrays broadcast against [E]: a
  grid) on the baited rules, one per (p0 [E, 2], length [E]): [..., E, T] action, reward,
  valid."""
  p0 = np.asarray(p0, np.float64)
  alpha, beta = np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
  shape = np.broadcast_shapes(alpha.shape, beta.shape, (len(p0),))
  q = np.full(shape + (2,), q0)
  since = np.zeros(shape + (2,), np.int64)
  out = {k: np.zeros(shape + (trials,), d) for k, d in
         (('action', np.int32), ('reward', np.float32), ('valid', bool))}
  valid_t = np.arange(trials)[None, :] < np.asarray(length)[:, None]  # [E, T]
  for t in range(trials):
    action = choice_models.choose(q, beta, rng)
    onehot = np.eye(2, dtype=bool)[action]
    p = reward_probability(p0, since)
    reward = (rng.uniform(size=shape) < np.where(action == 1, p[..., 1], p[..., 0]))
    chosen = np.where(action == 1, q[..., 1], q[..., 0])
    q = np.where(onehot, (chosen + alpha * (reward - chosen))[..., None], q)
    since = np.where(onehot, 0, since + 1)
    out['action'][..., t], out['reward'][..., t] = action, reward
    out['valid'][..., t] = valid_t[:, t]
  return out


def draw_episodes(p0_set: str, episodes: int, min_trials: int, max_trials: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """p0 [E, 2] and lengths [E] as the env draws them (in numpy)."""
  lows = np.asarray(P0_SETS[p0_set])
  right = lows[rng.integers(0, len(lows), episodes)] + 0.1 * rng.uniform(size=episodes)
  return (np.stack([0.5 - right, right], axis=1),
          rng.integers(min_trials, max_trials + 1, episodes))


def best_reference(env: BaitedBandit, rng: np.random.Generator) -> dict:
  """The Q-learner settings of the grid that earn most per trial on the training ranges."""
  p0, length = draw_episodes('train', REFERENCE_EPISODES, env.min_trials, env.max_trials, rng)
  betas = np.asarray(REFERENCE_BETAS)[:, None]
  earned = np.zeros((len(REFERENCE_ALPHAS), len(REFERENCE_BETAS)))
  for i, alpha in enumerate(REFERENCE_ALPHAS):  # every beta at once: [B, E, T]
    played = simulate_q_player(p0, length, alpha, betas, env.max_trials, rng)
    earned[i] = (played['reward'] * played['valid']).sum(axis=(1, 2)) / played['valid'][0].sum()
  i, j = np.unravel_index(np.argmax(earned), earned.shape)
  return dict(alpha=float(REFERENCE_ALPHAS[i]), beta=float(REFERENCE_BETAS[j]),
              mean_reward_per_trial=float(earned[i, j]))


def history_rows(valid, length) -> np.ndarray:
  """[E, T]: the trials the regression predicts: valid, in the last two thirds of the
  episode."""
  t = np.arange(np.asarray(valid).shape[1])[None, :]
  return np.asarray(valid, bool) & (t >= np.ceil(np.asarray(length)[:, None] / 3.0))


def choice_regression(action, reward, rows, lags: int = LAGS) -> dict:
  """Lau & Glimcher's regression: {'reward': [lags], 'choice': [lags], 'intercept', 'trials'}."""
  choice = 2.0 * np.asarray(action, np.float64) - 1.0
  steps = range(1, lags + 1)
  x = np.concatenate([lagged(choice * (np.asarray(reward) > 0), steps),
                      lagged(choice, steps)], axis=2)
  w = logistic_fit(x[rows], np.asarray(action)[rows] > 0)
  return dict(reward=w[1:1 + lags], choice=w[1 + lags:], intercept=float(w[0]),
              trials=int(np.asarray(rows).sum()))


def unit_correlations(hidden, action, reward, valid, chosen_value) -> np.ndarray:
  """[4, H]: each unit's correlation over the valid trials t >= 1 with `REGRESSORS`."""
  c = 2.0 * np.asarray(action, np.float64) - 1.0
  r = np.asarray(reward, np.float64)
  regressors = [c[:, :-1], r[:, :-1], (c * r)[:, :-1], np.asarray(chosen_value)[:, 1:]]
  rows = np.asarray(valid, bool)[:, 1:]
  h = np.asarray(hidden, np.float64)[:, 1:][rows]  # [N, H]
  h = (h - h.mean(0)) / (h.std(0) + 1e-12)
  out = np.zeros((len(regressors), h.shape[1]))
  for i, x in enumerate(regressors):
    x = x[rows]
    x = (x - x.mean()) / (x.std() + 1e-12)
    out[i] = (h * x[:, None]).mean(0)
  return out


def analyze(request: EvalRequest) -> dict:
  """Plays `request.num_episodes` episodes on the env's set and on each compared set;
  writes the files above."""
  env = request.env
  keys = jax.random.split(request.key, 1 + len(COMPARED_SETS))
  data = play(env, request.policy.actor, request.params, request.num_episodes, keys[0],
              request.log_dynamics)
  by_set = {env.p0_set: data}
  for p0_set, key in zip(COMPARED_SETS, keys[1:], strict=True):
    if p0_set not in by_set:
      by_set[p0_set] = play(with_set(env, p0_set), request.policy.actor, request.params,
                            request.num_episodes, key)
  return write_results(request.out_dir, env, data, by_set)


def played(env: BaitedBandit, states, actions, rewards, out_dir: str, seed: int = 0) -> dict:
  """The same tables from a person's episodes (no units)."""
  data = episode_data(states, actions, rewards)
  return write_results(out_dir, env, data, {env.p0_set: data}, seed)


def write_results(out_dir: str, env: BaitedBandit, data: dict, by_set: dict,
                  seed: int = 0) -> dict:
  rng = np.random.default_rng(seed)
  reference = best_reference(env, rng)
  set_rows, q_data = [], None
  for p0_set, played_data in by_set.items():
    q = simulate_q_player(played_data['p0'], played_data['length'], reference['alpha'],
                          reference['beta'], env.max_trials, rng)
    if played_data is data:
      q_data = q
    for player, d in (('agent', played_data), ('Q-learner', q)):
      richer = np.argmax(played_data['p0'], axis=1)[:, None]
      set_rows.append(dict(
          p0_set=p0_set, player=player,
          mean_reward_per_trial=float((d['reward'] * d['valid']).sum() / d['valid'].sum()),
          p_richer_arm=float(((d['action'] == richer) & d['valid']).sum() / d['valid'].sum()),
          episodes=len(played_data['p0'])))
  regression_rows = []
  for player, d in (('agent', data), ('Q-learner', q_data)):
    fit = choice_regression(d['action'], d['reward'], history_rows(d['valid'],
                                                                   data['length']))
    regression_rows += [dict(player=player, regressor=kind, lag=lag + 1, weight=float(w))
                        for kind in ('reward', 'choice') for lag, w in enumerate(fit[kind])]
  agent_fit = choice_models.fit(data['action'], data['reward'], data['valid'])
  fit_rows = [dict(what='reference Q-learner (best earner on the training ranges)',
                   alpha=reference['alpha'], beta=reference['beta'], log_likelihood='',
                   trials='', likelihood_per_trial=''),
              dict(what="Q-learner fitted to the agent's choices", **agent_fit)]
  summary = {f'{r["player"].replace("-", "_").lower()}_reward_{r["p0_set"]}':
             r['mean_reward_per_trial'] for r in set_rows}
  lag1 = next(r for r in regression_rows if r['player'] == 'agent' and
              r['regressor'] == 'reward' and r['lag'] == 1)
  summary['reward_weight_lag1'] = lag1['weight']
  unit_rows = []
  if 'hidden' in data:
    q = choice_models.q_values(data['action'], data['reward'], data['valid'],
                               [agent_fit['alpha']])[0]
    chosen = np.take_along_axis(q, data['action'][..., None], axis=-1)[..., 0]
    data['unit_r'] = unit_correlations(data['hidden'], data['action'], data['reward'],
                                       data['valid'], chosen)
    for name, r in zip(REGRESSORS, data['unit_r'], strict=True):
      unit_rows.append(dict(regressor=name, mean_abs_r=float(np.mean(np.abs(r))),
                            published=PUBLISHED_MEAN_ABS_R[name], units=len(r)))
      summary[f'mean_abs_r_{name}'] = float(np.mean(np.abs(r)))
    save_csv(os.path.join(out_dir, 'unit_correlations.csv'), unit_rows)
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), data)
  save_csv(os.path.join(out_dir, 'reward_by_set.csv'), set_rows)
  save_csv(os.path.join(out_dir, 'choice_regression.csv'), regression_rows)
  save_csv(os.path.join(out_dir, 'choice_model_fit.csv'), fit_rows)
  plot_action_history(os.path.join(out_dir, 'action_history.png'), regression_rows,
                      unit_rows, set_rows)
  return summary


register(Analysis(env='baited_bandit', analyze=analyze, played=played, num_episodes=500,
                  log_dynamics=True,
                  summary_note='reward per trial of the agent and of the Q-learner '
                               'reference per p0 set, the lag-1 reward weight and the '
                               "units' mean |r|"))


# Figures -----------------------------------------------------------------------------------

def plot_action_history(path: str, regression_rows, unit_rows, set_rows) -> None:
  """Lau & Glimcher's weights against the lag (agent solid, Q-learner dashed), the units'
  mean |r| per regressor beside the paper's, and each player's reward per trial by set."""
  panels = 3 if unit_rows else 2
  fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.5))
  ax = axes[0]
  for player, style in (('agent', '-'), ('Q-learner', '--')):
    for kind, color in (('reward', 'C0'), ('choice', 'C1')):
      rows = [r for r in regression_rows if r['player'] == player and r['regressor'] == kind]
      ax.plot([r['lag'] for r in rows], [r['weight'] for r in rows], style, color=color,
              marker='o', ms=3, label=f'{player}: {kind}')
  ax.axhline(0.0, color='gray', lw=0.8)
  ax.set_xlabel('trials back')
  ax.set_ylabel('regression weight (log-odds of right)')
  ax.legend(fontsize='x-small', frameon=False)
  ax = axes[1]
  sets = list(dict.fromkeys(r['p0_set'] for r in set_rows))
  for i, player in enumerate(('agent', 'Q-learner')):
    values = [next(r['mean_reward_per_trial'] for r in set_rows
                   if r['p0_set'] == s and r['player'] == player) for s in sets]
    ax.bar(np.arange(len(sets)) + 0.38 * (i - 0.5), values, width=0.38, label=player)
  ax.set_xticks(np.arange(len(sets)), [s.replace('_', '-') for s in sets])
  ax.set_ylabel('reward per trial')
  ax.set_ylim(0.0, 0.5)
  ax.legend(fontsize='x-small', frameon=False)
  if unit_rows:
    ax = axes[2]
    x = np.arange(len(unit_rows))
    ax.bar(x, [r['mean_abs_r'] for r in unit_rows], width=0.6, label='metarl')
    ax.plot(x, [r['published'] for r in unit_rows], 'o', color='k', label='Wang et al. 2018')
    ax.set_xticks(x, ['last\naction', 'last\nreward', 'action x\nreward', 'chosen\nvalue'])
    ax.set_ylabel('mean |r| over units')
    ax.set_ylim(0.0, max(0.3, max(r['mean_abs_r'] for r in unit_rows) * 1.15))
    ax.legend(fontsize='x-small', frameon=False)
  save(fig, path)
