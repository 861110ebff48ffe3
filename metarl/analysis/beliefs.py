"""Belief states and dopamine-like RPEs of value RNNs on Starkweather et al. (2017)'s tasks,
the analysis of Hennig et al. (2023), "Emergence of belief-like representations through
reinforcement learning" (PLOS Comput Biol 19(9):e1011067).

The belief model is the observer that knows the task's hidden states: after a cue, the time
since it (delay substates 0 .. D-1, D the longest delay), after a reward or an omitted trial's
cue, the time in the ITI (substates D .. D + ITI_min, the last one a geometric wait for the
next cue). Its belief b_t over these 25 states (Starkweather's task: 14 + 11) is the Bayes
filter b_t ~ b_{t-1}^T (T * O[:, :, x_t]) over the observations x_t in {nothing, cue,
reward}, starting on the last ITI state. As in Hennig et al.'s model, an omission trial
leaves the cue straight for the ITI (the task itself lets it last the longest delay).

The activity every measure reads is Hennig et al.'s: two sessions ("train" and "test",
separate draws) of SESSION_TRIALS trials, each one stream through the network (its state runs
through the ITIs); the first trial of each session is dropped; then noise of READOUT_NOISE x
each unit's SD (over the session's steps) is added to the activity Z of both sessions, once,
and the value readout and the belief regression both read these noisy Z. The belief model's
own beliefs, used as features, get no noise. Every representation is read out the same way:
on the train session, an LSTD(0) solution w of sum_t z_{t-1} (z_{t-1} - gamma z_t)^T w =
sum_t z_{t-1} r_t (Z with a bias column), then on the test session the RPE
delta_t = r_t + w . (gamma z_t - z_{t-1}). The untrained control is each network with its
own initial weights (the params its seed drew before training).

Writes into `out_dir`:
  beliefs.csv         per seed and network (trained, untrained): rpe_mse (against the belief
                      model's RPEs, all test steps), belief_r2 (a linear map Z -> belief
                      fitted on train, pooled R^2 on test), belief_r2_state_mean (the
                      mean of the 25 states' R^2 instead), belief_r2_noise_free (the
                      pooled R^2 without the noise), rpe_at_2.0s, rpe_at_2.8s,
                      rpe_late_rise (2.8 s minus 2.0 s) and rpe_delay_rho (Spearman rho of
                      the RPE at the reward against the delay)
  beliefs_summary.csv medians over seeds of the columns above, per network
  rpe_by_delay.csv    the mean RPE at the reward per delay: belief model, each seed trained
                      and untrained
  rpe_omission.csv    the mean RPE by step since the cue on omission trials (if any)
  beliefs_data.pickle the test session from its second trial on (first_step: where that
                      starts): observations, the belief model's beliefs and RPEs,
                      and each seed's RPEs (trained and untrained)
  rpe_by_delay.png    RPE at the reward against the delay (belief model; median and seeds)
  beliefs_strip.png   rpe_mse and belief_r2: a dot per seed and the median, trained against
                      untrained
  rpe_omission.png    RPE around the cue on omission trials (Task 2)
"""

import os
from typing import NamedTuple

import jax
import numpy as np

from metarl.io import save_csv, save_pickle, to_numpy

NOTHING, CUE, REWARD = 0, 1, 2
SESSION_TRIALS = 1000
READOUT_NOISE = 0.05  # x each unit's SD, added to the activity of both sessions
STEP_SECONDS = 0.2


class BeliefModel(NamedTuple):
  transitions: np.ndarray  # [K, K] P(s' | s)
  emissions: np.ndarray  # [K, K, 3] P(x | s, s')
  delays: np.ndarray  # [J] steps from the cue to the reward
  delay_probs: np.ndarray  # [J]

  @property
  def num_states(self) -> int:
    return self.transitions.shape[0]


def belief_model(delays, delay_probs, omission_prob: float, iti_min: int,
                 iti_p: float) -> BeliefModel:
  """Hennig et al.'s POMDP of a one-cue task with these delays (steps after the cue).

  States 0 .. D-1: time since the cue (D the longest delay); D .. D + iti_min: the ITI, its
  last state left with `iti_p` per step (to 0 with a cue, or, with `omission_prob`, to D
  with a cue: an omission trial). From state d - 1 of a delay d the reward comes (-> D)
  with the hazard p_d / P(delay >= d), else the time goes on.
  """
  delays = np.asarray(delays, int)
  probs = np.asarray(delay_probs, np.float64) / np.sum(delay_probs)
  longest = int(delays.max())
  num_states = longest + iti_min + 1
  iti_start, last = longest, num_states - 1
  trans = np.zeros((num_states, num_states))
  emit = np.zeros((num_states, num_states, 3))
  survival = 1.0 - np.concatenate([[0.0], np.cumsum(probs)[:-1]])  # P(delay >= d_j)
  hazard = np.zeros(longest)
  hazard[delays - 1] = probs / np.maximum(survival, 1e-12)
  hazard[longest - 1] = 1.0
  for k in range(longest):
    if k + 1 < longest:
      trans[k, k + 1] = 1.0 - hazard[k]
      emit[k, k + 1, NOTHING] = 1.0
    trans[k, iti_start] = hazard[k]
    emit[k, iti_start, REWARD] = 1.0
  for k in range(iti_start, last):
    trans[k, k + 1] = 1.0
    emit[k, k + 1, NOTHING] = 1.0
  trans[last, last] = 1.0 - iti_p
  emit[last, last, NOTHING] = 1.0
  trans[last, 0] = iti_p * (1.0 - omission_prob)
  emit[last, 0, CUE] = 1.0
  if omission_prob > 0:
    trans[last, iti_start] = iti_p * omission_prob
    emit[last, iti_start, CUE] = 1.0
  return BeliefModel(trans, emit, delays, probs)


def filter_beliefs(model: BeliefModel, observations: np.ndarray) -> np.ndarray:
  """Beliefs [T, K] after each observation x_t in {NOTHING, CUE, REWARD}, starting from the
  last ITI state."""
  belief = np.zeros(model.num_states)
  belief[-1] = 1.0
  step = [model.transitions * model.emissions[:, :, x] for x in range(3)]
  out = np.zeros((len(observations), model.num_states))
  for t, x in enumerate(observations):
    belief = belief @ step[int(x)]
    total = belief.sum()
    if total <= 0:
      raise ValueError(f'observation {int(x)} at step {t} is impossible under the belief '
                       'model (does the task match it?)')
    belief = belief / total
    out[t] = belief
  return out


def lstd_weights(features: np.ndarray, rewards: np.ndarray, gamma: float) -> np.ndarray:
  """w of sum_t z_{t-1} (z_{t-1} - gamma z_t)^T w = sum_t z_{t-1} r_t (least squares)."""
  before, after = features[:-1], features[1:]
  a = before.T @ (before - gamma * after)
  b = before.T @ rewards[1:]
  return np.linalg.lstsq(a, b, rcond=None)[0]


def td_errors(features: np.ndarray, rewards: np.ndarray, weights: np.ndarray,
              gamma: float) -> np.ndarray:
  """delta_t = r_t + w . (gamma z_t - z_{t-1}) for t >= 1; delta_0 = 0."""
  values = features @ weights
  return np.concatenate([[0.0], rewards[1:] + gamma * values[1:] - values[:-1]])


def with_bias(z: np.ndarray) -> np.ndarray:
  return np.concatenate([z, np.ones((len(z), 1))], axis=1)


def with_noise(z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Z plus Gaussian noise of READOUT_NOISE x each unit's SD over the session's steps."""
  return z + READOUT_NOISE * z.std(axis=0) * rng.standard_normal(z.shape)


def readout_rpes(train_z, train_r, test_z, test_r, gamma: float) -> np.ndarray:
  """LSTD readout fitted on the train session, RPEs on the test one."""
  w = lstd_weights(with_bias(train_z), train_r, gamma)
  return td_errors(with_bias(test_z), test_r, w, gamma)


def linear_r2(train_x, train_y, test_x, test_y, pooled: bool = True) -> float:
  """R^2 on test of the least-squares map (with a bias) fitted on train: pooled over the
  target's dimensions (1 - all squared errors / all squared deviations from each dimension's
  mean), or with `pooled=False` the mean of each dimension's R^2 (dimensions that do not
  vary on test left out)."""
  coef = np.linalg.lstsq(with_bias(train_x), train_y, rcond=None)[0]
  residual = np.sum((test_y - with_bias(test_x) @ coef) ** 2, axis=0)
  total = np.sum((test_y - test_y.mean(axis=0)) ** 2, axis=0)
  if pooled:
    return float(1.0 - residual.sum() / total.sum())
  varies = total > 0
  return float(np.mean(1.0 - residual[varies] / total[varies]))


def spearman_rho(x, y) -> float:
  rank = lambda v: np.argsort(np.argsort(v)).astype(np.float64)  # noqa: E731 (no ties here)
  return float(np.corrcoef(rank(np.asarray(x)), rank(np.asarray(y)))[0, 1])


def session_events(trials):
  """Per step x_t (NOTHING/CUE/REWARD) and r_t of a session (the first episode of
  `trials`)."""
  length = int(trials.length[0])
  rewards = np.asarray(trials.rewards[0, :length], np.float64)
  cue = np.asarray(trials.observations[0, :length, 0]) > 0
  events = np.where(rewards > 0, REWARD, np.where(cue, CUE, NOTHING))
  return events, rewards


def second_trial_start(trials) -> int:
  """The session's step at which its second trial (its ITI) begins: the steps before it, the
  first trial, are left out of every measure, as Hennig et al. leave them out."""
  return int(trials.start[0, 1])


def trial_steps(events: np.ndarray, delays: np.ndarray):
  """Reward steps with their delay since the last cue, and the cue steps of omission trials
  (cues followed by the next cue with no reward between)."""
  cues = np.flatnonzero(events == CUE)
  rewards = np.flatnonzero(events == REWARD)
  last_cue = cues[np.searchsorted(cues, rewards) - 1]
  reward_delay = rewards - last_cue
  next_reward = np.searchsorted(rewards, cues)
  next_cue = np.concatenate([cues[1:], [len(events)]])
  rewarded = (next_reward < len(rewards)) & (
      rewards[np.minimum(next_reward, len(rewards) - 1)] < next_cue)
  omitted_cues = cues[~rewarded & (next_cue - cues > delays.max())]
  return rewards, reward_delay, omitted_cues


def rpe_by_delay(rpe, rewards, reward_delay, delays) -> np.ndarray:
  return np.array([rpe[rewards[reward_delay == d]].mean() if np.any(reward_delay == d)
                   else np.nan for d in delays])


def omission_curve(rpe, omitted_cues, span: int) -> np.ndarray:
  """Mean RPE at steps -2 .. span after the cue of omission trials."""
  if not len(omitted_cues):
    return np.full(span + 3, np.nan)
  offsets = np.arange(-2, span + 1)
  idx = np.clip(omitted_cues[:, None] + offsets[None, :], 0, len(rpe) - 1)
  return rpe[idx].mean(axis=0)


def session_env(env_config, trials: int):
  """The trained env with `trials` trials in one episode (a session)."""
  from metarl.envs import registry as env_registry
  section = env_config.copy_and_resolve_references()
  with section.unlocked():
    section.trials_per_episode = trials
  return env_registry.make(section)


def initial_params(agent_name: str, config, env, seeds):
  """The params each seed's network drew before training ([seeds, ...]): the agent's own
  initialisation from the seed's own key, as its run drew them (a run started from
  `init_params_path` started from those instead; the control is still the fresh draw)."""
  from metarl.agents import registry as agent_registry
  agent = agent_registry.spec(agent_name).make(config, env)
  keys = np.concatenate([np.asarray(agent.seed_keys(seed, 1)[0]) for seed in seeds])
  return agent.init(keys).params


def analyze(request) -> dict:
  """The belief analysis of every seed of a value RNN and of the same networks untrained."""
  saved, env = request.saved, request.env
  config = saved.config
  if env.num_cues != 1 or config.env.iti_distribution != 'geometric':
    raise ValueError('the belief analysis is of one-cue tasks with geometric ITIs '
                     f'(Starkweather et al.); this env has {env.num_cues} cues and '
                     f'{config.env.iti_distribution} ITIs')
  gamma = float(config.agent.gamma)
  params = env.default_params()
  delays = np.asarray(env.cue_delays[0] + np.asarray(env.offsets))
  probs = np.asarray(params.offset_probs, np.float64)
  iti_min = int(np.flatnonzero(np.asarray(params.iti_probs) > 0)[0])
  model = belief_model(delays, probs, float(params.omission_prob), iti_min,
                       float(config.env.iti_p))
  session = session_env(config.env, SESSION_TRIALS)
  evaluate = request.policy.value_evaluator(session, gamma, 1)
  seeds = list(saved.seeds)
  untrained = initial_params(saved.agent, config, env, seeds)
  train_key, test_key, noise_key = jax.random.split(request.key, 3)
  runs = {}
  for name, params in (('trained', request.params), ('untrained', untrained)):
    runs[name] = {part: to_numpy(evaluate(params, key))
                  for part, key in (('train', train_key), ('test', test_key))}
  sessions = {}
  for part in ('train', 'test'):
    trials = runs['trained'][part][2]
    events, rewards = session_events(trials)
    start = second_trial_start(trials)
    sessions[part] = dict(events=events[start:], rewards=rewards[start:], start=start,
                          end=len(events), beliefs=filter_beliefs(model, events)[start:])
  train, test = sessions['train'], sessions['test']
  belief_rpe = readout_rpes(train['beliefs'], train['rewards'], test['beliefs'],
                            test['rewards'], gamma)
  reward_steps, reward_delay, omitted_cues = trial_steps(test['events'], delays)
  mid = int(np.argmin(np.abs(delays - 10)))  # 2.0 s
  rows, delay_rows, omission_rows, rpes = [], [], [], {}
  belief_by_delay = rpe_by_delay(belief_rpe, reward_steps, reward_delay, delays)
  span = int(delays.max()) + 6
  delay_rows += [dict(network='belief model', seed='', delay_steps=int(d),
                      delay_s=round(d * STEP_SECONDS, 2), rpe=v)
                 for d, v in zip(delays, belief_by_delay, strict=True)]
  belief_omission = omission_curve(belief_rpe, omitted_cues, span)
  if len(omitted_cues):
    omission_rows += [dict(network='belief model', seed='', steps_from_cue=k - 2, rpe=v)
                      for k, v in enumerate(belief_omission)]
  rng = np.random.default_rng(np.asarray(jax.random.key_data(noise_key)))
  for name, run in runs.items():
    rpes[name] = []
    for s, seed in enumerate(seeds):
      clean = {part: run[part][1].hidden[s, 0, sessions[part]['start']:sessions[part]['end']]
               .astype(np.float64) for part in run}
      z = {part: with_noise(clean[part], rng) for part in run}  # once per session
      rpe = readout_rpes(z['train'], train['rewards'], z['test'], test['rewards'], gamma)
      rpes[name].append(rpe.astype(np.float32))
      by_delay = rpe_by_delay(rpe, reward_steps, reward_delay, delays)
      rows.append(dict(
          network=name, seed=seed, rpe_mse=float(np.mean((rpe - belief_rpe) ** 2)),
          belief_r2=linear_r2(z['train'], train['beliefs'], z['test'], test['beliefs']),
          belief_r2_state_mean=linear_r2(z['train'], train['beliefs'], z['test'],
                                         test['beliefs'], pooled=False),
          belief_r2_noise_free=linear_r2(clean['train'], train['beliefs'], clean['test'],
                                         test['beliefs']),
          **{'rpe_at_2.0s': by_delay[mid], 'rpe_at_2.8s': by_delay[-1]},
          rpe_late_rise=by_delay[-1] - by_delay[mid],
          rpe_delay_rho=spearman_rho(delays, by_delay)))
      delay_rows += [dict(network=name, seed=seed, delay_steps=int(d),
                          delay_s=round(d * STEP_SECONDS, 2), rpe=v)
                     for d, v in zip(delays, by_delay, strict=True)]
      if len(omitted_cues):
        omission_rows += [dict(network=name, seed=seed, steps_from_cue=k - 2, rpe=v)
                          for k, v in enumerate(omission_curve(rpe, omitted_cues, span))]
  columns = [k for k in rows[0] if k not in ('network', 'seed')]
  summary = [dict(network=name, seeds=len(seeds),
                  **{f'median_{k}': float(np.median([r[k] for r in rows
                                                     if r['network'] == name]))
                     for k in columns})
             for name in runs]
  summary.append(dict(network='belief model', seeds='',
                      **{'median_rpe_at_2.0s': belief_by_delay[mid],
                         'median_rpe_at_2.8s': belief_by_delay[-1],
                         'median_rpe_late_rise': belief_by_delay[-1] - belief_by_delay[mid],
                         'median_rpe_delay_rho': spearman_rho(delays, belief_by_delay)}))
  out = request.out_dir
  save_csv(os.path.join(out, 'beliefs.csv'), rows)
  save_csv(os.path.join(out, 'beliefs_summary.csv'), summary)
  save_csv(os.path.join(out, 'rpe_by_delay.csv'), delay_rows)
  if omission_rows:
    save_csv(os.path.join(out, 'rpe_omission.csv'), omission_rows)
  save_pickle(os.path.join(out, 'beliefs_data.pickle'), dict(
      seeds=seeds, gamma=gamma, delays=delays, first_step=test['start'],
      observations=test['events'],
      rewards=test['rewards'], beliefs=test['beliefs'].astype(np.float32),
      belief_rpe=belief_rpe.astype(np.float32), rpe_trained=np.stack(rpes['trained']),
      rpe_untrained=np.stack(rpes['untrained'])))
  plot_rpe_by_delay(os.path.join(out, 'rpe_by_delay.png'), delay_rows, delays * STEP_SECONDS)
  plot_seed_strips(os.path.join(out, 'beliefs_strip.png'), rows,
                    (('rpe_mse', 'RPE MSE vs belief model'),
                     ('belief_r2', 'belief R$^2$ (test)')))
  if omission_rows:
    plot_rpe_omission(os.path.join(out, 'rpe_omission.png'), omission_rows, STEP_SECONDS)
  return {f'{r["network"]}_{k}': v for r in summary[:2] for k, v in r.items()
          if k.startswith('median_')}


# Figures -----------------------------------------------------------------------------------

def plot_rpe_by_delay(path: str, rows, delays_s) -> None:
  """Hennig et al.'s Fig. 3-4 panel: RPE at the reward against the delay, the belief model
  (black), each trained seed (thin) and their median (thick), the untrained median."""
  from metarl.analysis.figures import NETWORK_COLORS, plt, save  # matplotlib only here
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
  save(fig, path)


def plot_seed_strips(path: str, rows, columns) -> None:
  """A panel per (column, label): a dot per seed and the median (bar), per network."""
  from metarl.analysis.figures import NETWORK_COLORS, plt, save  # matplotlib only here
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
  save(fig, path)


def plot_rpe_omission(path: str, rows, step_seconds: float) -> None:
  """Mean RPE around the cue of omission trials: belief model and value RNN (median)."""
  from metarl.analysis.figures import NETWORK_COLORS, plt, save  # matplotlib only here
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
  save(fig, path)
