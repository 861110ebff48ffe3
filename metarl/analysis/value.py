"""Analysis of value RNNs (the figures of value-rnn-td): Vhat against the true value, hidden
activity and reward prediction errors on fresh trials, for every seed of a run. Episodes of
several trials (Starkweather et al.'s tasks) get the belief analysis of Hennig et al. (2023)
instead: metarl/analysis/beliefs.py.

Writes into `out_dir`:
  value_data.pickle  `trials`: per seed, a list with one dict per trial (unpadded):
                       observations [L, D], rewards [L], value (Vhat) [L], true_value [L],
                       rpe [L] (delta(t) = r(t+1) + gamma Vhat(t+1) - Vhat(t), 0 on the
                       final step), hidden [L, H], and cue, iti (the cue's step), delay,
                       omitted, length;
                     `seeds`, `gamma`, `cue_delays`, and the metrics below.
  value.png          per cue, Vhat(t) of every seed on one trial and the true value (dashed)
  hidden.png         per cue, h_j(t) of every unit of the first seed, cue and reward marked
  eval.csv           (offline evaluation only; training writes its own) per seed: mse (all
                     non-terminal steps) and mse_from_cue (from the cue on)
"""

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from metarl.analysis.figures import plt, save
from metarl.analysis.registry import Analysis, EvalRequest, register
from metarl.envs.cue_reward import CueReward
from metarl.io import save_csv, save_pickle, to_numpy


def evaluate_seeds(params, key, evaluate) -> dict:
  """Runs every seed of `params` ([S, ...]) on the same fresh trials; numpy results.

  `evaluate(params, key) -> (metrics, ValueEval, trials)` is the agent's value evaluator
  (`EvalPolicy.value_evaluator`), made for the env, gamma and number of trials.
  """
  metrics, result, trials = to_numpy(evaluate(params, key))
  return dict(metrics=metrics, result=result, trials=trials)


def one_trial_view(trials):
  """Episodes of one trial with their per-trial fields as [N] arrays (this analysis draws
  value-rnn-td's single-trial episodes; several trials per episode: metarl.analysis.beliefs)."""
  return trials._replace(**{k: getattr(trials, k)[:, 0]
                            for k in ('cue', 'iti', 'delay', 'omitted', 'start')})


def per_trial(result, trials, seed_index: int) -> list:
  """The unpadded per-trial dicts of one seed."""
  out = []
  for n, length in enumerate(trials.length):
    length = int(length)
    out.append(dict(
        observations=trials.observations[n, :length], rewards=trials.rewards[n, :length],
        value=result.value[seed_index, n, :length],
        true_value=result.true_value[seed_index, n, :length],
        rpe=result.rpe[seed_index, n, :length],
        hidden=result.hidden[seed_index, n, :length], cue=int(trials.cue[n]),
        iti=int(trials.iti[n]), delay=int(trials.delay[n]),
        omitted=bool(trials.omitted[n]), length=length))
  return out


def example_trials(trials, num_cues: int) -> list:
  """For each cue, the index of one rewarded trial with the shortest ITI (None if none)."""
  picks = []
  for c in range(num_cues):
    candidates = np.where((trials.cue == c) & ~trials.omitted)[0]
    if not len(candidates):
      candidates = np.where(trials.cue == c)[0]
    picks.append(int(candidates[np.argmin(trials.iti[candidates])]) if len(candidates)
                 else None)
  return picks


def analyze_values(env: CueReward, params, out_dir: str, gamma: float, key,
                   seeds: Sequence[int], write_eval_csv: bool, evaluate) -> dict:
  """Evaluates, then writes the files above. Returns {'mse': [S], 'mse_from_cue': [S]}."""
  data = evaluate_seeds(params, key, evaluate)
  metrics, result, trials = data['metrics'], data['result'], one_trial_view(data['trials'])
  payload = dict(trials=[per_trial(result, trials, s) for s in range(len(seeds))],
                 seeds=list(seeds), gamma=gamma, cue_delays=list(env.cue_delays),
                 mse=metrics['mse'], mse_from_cue=metrics['mse_from_cue'])
  save_pickle(os.path.join(out_dir, 'value_data.pickle'), payload)
  picks = example_trials(trials, env.num_cues)
  plot_value_vs_truth(os.path.join(out_dir, 'value.png'), result, trials, picks, seeds)
  plot_hidden_units(os.path.join(out_dir, 'hidden.png'), result, trials, picks, seeds[0])
  if write_eval_csv:
    save_csv(os.path.join(out_dir, 'eval.csv'),
             [dict(seed=seed, mse=metrics['mse'][s], mse_from_cue=metrics['mse_from_cue'][s])
              for s, seed in enumerate(seeds)])
  return {k: np.asarray(v) for k, v in metrics.items()}


def analyze(request: EvalRequest) -> dict:
  """The analysis of an agent that predicts value (`EvalPolicy.value_evaluator`): every seed
  of its params on `num_episodes` fresh trials."""
  policy, saved = request.policy, request.saved
  if policy.value_evaluator is None:
    raise ValueError('the value analysis needs an agent that predicts value (as td does)')
  if request.env.trials_per_episode > 1:  # Starkweather's tasks: Hennig et al.'s analysis
    from metarl.analysis import beliefs
    return beliefs.analyze(request)
  gamma = saved.config.agent.gamma
  evaluate = policy.value_evaluator(request.env, gamma, request.num_episodes)
  seeds = saved.seeds
  return analyze_values(request.env, request.params, request.out_dir, gamma, request.key,
                        seeds, write_eval_csv=request.offline, evaluate=evaluate)


register(Analysis(env='cue_reward', analyze=analyze, num_episodes=500, log_dynamics=True))


# Figures -----------------------------------------------------------------------------------

def _mark_events(ax, trials, n: int, y: float) -> None:
  """Squares at the cue, a star at the reward (when delivered) of trial `n`."""
  iti, delay = int(trials.iti[n]), int(trials.delay[n])
  ax.plot([iti], [y], 's', color='k', ms=7, label='cue')
  if not trials.omitted[n]:
    ax.plot([iti + delay], [y], '*', color='k', ms=11, label='reward')


def _trial_panel(ax, trials, n: int, events_y: float, title: str) -> None:
  """One cue's panel: its cue and reward marked at `events_y`, whole time steps, a grid."""
  _mark_events(ax, trials, n, events_y)
  ax.set_title(title)
  ax.set_xlabel('time step in trial')
  ax.xaxis.set_major_locator(MaxNLocator(integer=True))
  ax.grid(alpha=0.3)


def _save_panels(fig, axes, ylabel: str, path: str) -> None:
  axes[0, 0].set_ylabel(ylabel)
  axes[0, 0].legend(fontsize='small', loc='upper left')
  save(fig, path)


def plot_value_vs_truth(path: str, result, trials, picks, seeds) -> None:
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
    _trial_panel(ax, trials, n, -0.08,
                 f'cue {c} (reward {int(trials.delay[n])} steps after the cue)')
  _save_panels(fig, axes, 'value', path)


def plot_hidden_units(path: str, result, trials, picks, seed: int) -> None:
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
    _trial_panel(ax, trials, n, float(hidden.min()) - 0.1, f'cue {c}, seed {seed}')
  _save_panels(fig, axes, 'hidden activity h(t)', path)
