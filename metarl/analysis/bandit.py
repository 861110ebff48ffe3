"""Bandit analysis of a frozen meta-RL agent (the figures of
nathanwispinski/meta-rl and Wang et al. 2018).

The agent and the classic baselines play the same arm probabilities (drawn once from the
configured distribution), so their regrets compare like for like. On two independent arms
the exact Bayes-optimal player (`bayes_optimal`) plays them too (its regret there is its
exact expectation on those arms), and every method's choices are scored against its choices
given the same history. Writes:
  eval_data.pickle   actions [E, T], rewards [E, T], arm_probs [E, N], regret [E, T],
                     baseline_regret {name: [E, T]}, hidden [E, T, H] with log_dynamics;
                     on two independent arms also bayes_agreement {method: [T]} and
                     kl_from_bayes [T] (the agent's, when its action probabilities are known),
                     bayes_value_lost [E, T] and bayes_loss_kind [E, T] (below)
  eval_summary.csv   method, mean cumulative regret (and its standard error), reward per
                     trial, ratio to Thompson sampling and to the Bayes-optimal player, the
                     fraction of trials whose most likely action is Bayes-optimal, and the
                     mean KL(pi_Bayes || pi_method) per trial (nats)
  bandit_actions.png one row per episode sorted by arm-1 probability, a cell per trial
                     coloured by the chosen arm
  regret.png         mean cumulative regret against trial: agent vs baselines
  bayes_agreement.png agreement with the Bayes-optimal choice, and the KL, against trial
  bayes_value_lost.csv/.png  where the agent loses against the Bayes-optimal player: per
                     trial, the expected reward its choices gave up (max_a Q*(a) - Q*(chosen),
                     `bayes_optimal.value_lost_along`; summed over the episode, its expected
                     regret less the Bayes-optimal player's) and the share of choices, split
                     by kind: larger_mean (the arm with the larger posterior mean where trying
                     the other is optimal: too little exploration), smaller_mean (the other
                     way round), equal_means
  posterior_decoding.csv/.png, pca.csv/.png, choice_kernel.csv/.png  with the network's
                     activity, on two independent arms: what it computes against the
                     Bayes-optimal agent (bandit_posterior.py)
"""

import os

import jax
import numpy as np
from absl import logging
from matplotlib.colors import ListedColormap

from metarl.analysis import bandit_posterior, bayes_optimal
from metarl.analysis.bandit_baselines import BASELINES, run_baseline
from metarl.analysis.figures import plt, probability_ticks, save
from metarl.analysis.registry import Analysis, EvalRequest, register
from metarl.envs.bandit import Bandit, BanditParams, cumulative_regret
from metarl.evaluation import make_evaluator
from metarl.io import save_csv, save_pickle


def analyze(request: EvalRequest) -> dict:
  """Evaluates the agent on `request.num_episodes` episodes and writes the files above.

  Returns:
    The summary: {method: mean cumulative regret}.
  """
  env = request.env
  num_episodes, trials = request.num_episodes, env.trials_per_episode
  arm_probs = evaluation_arms(env, request.key, num_episodes)
  _, agent_key, baseline_key = jax.random.split(request.key, 3)
  fixed_env = Bandit(env.num_arms, 'fixed', trials, observe_trial=env.observe_trial)
  evaluate = make_evaluator(fixed_env, request.policy.actor, num_episodes,
                            env_params=BanditParams(fixed_probs=arm_probs))
  result = jax.device_get(evaluate(request.params, agent_key))
  extras = result.trajectory.extras  # an actor may record no hidden state: then none
  hidden = (np.swapaxes(np.asarray(extras['hidden']), 0, 1)
            if request.log_dynamics and 'hidden' in extras else None)
  probs = (np.swapaxes(np.asarray(jax.nn.softmax(extras['logits'])), 0, 1)
           if 'logits' in extras else None)
  untrained = None
  if hidden is not None and request.saved is not None:
    untrained = untrained_play(request, evaluate, agent_key)
  return write_results(request.out_dir, np.asarray(result.trajectory.action).T,
                       np.asarray(result.trajectory.reward).T, np.asarray(arm_probs),
                       baseline_key, hidden=hidden, probs=probs,
                       reward_structure=env.reward_structure, untrained=untrained)


def evaluation_arms(env: Bandit, key, num_episodes: int) -> np.ndarray:
  """[E, N]: the arm probabilities an evaluation with `key` plays (drawn from the env's own
  distribution; every seed of a run evaluated with the same key plays the same)."""
  probs_key = jax.random.split(key, 3)[0]
  return np.asarray(jax.vmap(env.sample_probs, in_axes=(0, None))(
      jax.random.split(probs_key, num_episodes), env.default_params()))


def untrained_play(request: EvalRequest, evaluate, key) -> dict | None:
  """The same network untrained (initialised with the run's first seed) playing the same
  arms: its actions, rewards and activity [E, T(, H)]; None if the agent has no
  `init_params`."""
  from metarl.agents import registry as agent_registry
  saved = request.saved
  agent = agent_registry.spec(saved.agent).make(saved.config, request.env)
  if not hasattr(agent, 'init_params'):
    return None
  seed = int(saved.seeds[0]) if saved.seeds else int(saved.config.seed)
  params = request.policy.select(agent.init_params(jax.random.PRNGKey(seed)))
  trajectory = jax.device_get(evaluate(params, key)).trajectory
  return dict(actions=np.asarray(trajectory.action).T, rewards=np.asarray(trajectory.reward).T,
              hidden=np.swapaxes(np.asarray(trajectory.extras['hidden']), 0, 1))


def played(env: Bandit, states, actions, rewards, out_dir: str, seed: int = 0) -> dict:
  """A person's episodes against the baselines, each baseline playing every episode's arms
  200 times (their expectations rather than one noisy play)."""
  return write_results(out_dir, np.asarray(actions).T, np.asarray(rewards).T,
                       np.asarray(states.probs[0]), jax.random.PRNGKey(seed), who='human',
                       baseline_repeats=200, reward_structure=env.reward_structure)


def write_results(out_dir: str, actions, rewards, arm_probs, baseline_key,
                  hidden=None, who: str = 'agent', baseline_repeats: int = 1,
                  probs=None, reward_structure: str = 'independent',
                  untrained=None) -> dict:
  """Scores played episodes against the baselines on the same arms; writes the files above.

  Args:
    out_dir: folder for the files.
    actions, rewards: [E, T] of whole episodes.
    arm_probs: [E, N] each episode's arm probabilities.
    baseline_key: PRNG key of the baselines' play.
    hidden: optional [E, T, H] network activity, saved as `hidden`.
    who: the method name of the played episodes in eval_summary.csv ('agent', 'human').
    baseline_repeats: R, how many times each baseline plays every episode's arms; their
      regret and reward are averaged over the R plays (for few episodes, e.g. a human's, so
      that the baselines' numbers are their expectations rather than one noisy play). The
      Bayes-optimal player's are its exact expectations on the arms whatever R
      (`bayes_optimal.expected_play`): the yardstick of every ratio to it (one play of
      2,000 episodes varies by 4%, SD over plays).
    probs: optional [E, T, N] the played method's action probabilities (its KL from the
      Bayes-optimal policy needs them).
    reward_structure: how the arms were drawn; the Bayes-optimal player and the scores
      against it are for two independent arms only.
    untrained: optional {actions, rewards, hidden} of the same network untrained playing
      the same arms (the posterior decoding's control).

  Returns:
    The summary: {method: mean cumulative regret}.
  """
  actions, rewards, arm_probs = (np.asarray(x) for x in (actions, rewards, arm_probs))
  trials = actions.shape[1]
  regret = np.asarray(cumulative_regret(arm_probs[:, None, :], actions))
  data = dict(actions=actions, rewards=rewards, arm_probs=arm_probs, regret=regret,
              baseline_regret={})
  if hidden is not None:
    data['hidden'] = hidden
  rewards_by_method = {who: rewards}
  repeated = np.repeat(arm_probs, baseline_repeats, axis=0)  # [E * R, N]
  per_episode = lambda x: np.asarray(x).reshape(  # noqa: E731
      (len(arm_probs), baseline_repeats, trials)).mean(axis=1)
  actions_by_method = {}  # the baselines' own plays, [E * R, T], for their agreement
  for i, name in enumerate(BASELINES):
    b_actions, b_rewards, b_regret = run_baseline(
        name, jax.random.fold_in(baseline_key, i), repeated, trials)
    data['baseline_regret'][name] = per_episode(b_regret)
    rewards_by_method[name] = per_episode(b_rewards)
    actions_by_method[name] = (np.asarray(b_actions), np.asarray(b_rewards))
  bayes = (bayes_optimal.solve(trials) if bayes_optimal.applies(
      arm_probs.shape[1], reward_structure, trials) else None)
  if bayes is None and arm_probs.shape[1] == 2 and reward_structure == 'independent':
    logging.info('no Bayes-optimal player for %d trials (it is solved for up to %d)',
                 trials, bayes_optimal.MAX_TRIALS)
  if bayes is not None:
    rng = np.random.default_rng(np.asarray(jax.random.key_data(
        jax.random.fold_in(baseline_key, len(BASELINES)))))
    # its agreement with itself is 1 along any play; the posterior decoding reads one play
    actions_by_method['bayes_optimal'] = bayes_optimal.play(bayes, arm_probs, rng)
    (data['baseline_regret']['bayes_optimal'],
     rewards_by_method['bayes_optimal']) = bayes_optimal.expected_play(bayes, arm_probs)
    agreement, kl = {}, None
    for method, (m_actions, m_rewards) in actions_by_method.items():
      agreement[method], _ = bayes_optimal.agreement_and_kl(bayes, m_actions, m_rewards)
    agreement[who], kl = bayes_optimal.agreement_and_kl(bayes, actions, rewards, probs)
    data['bayes_agreement'] = agreement
    if kl is not None:
      data['kl_from_bayes'] = kl
    data['bayes_value_lost'], data['bayes_loss_kind'] = bayes_optimal.value_lost_along(
        actions, rewards)
    write_value_lost(os.path.join(out_dir, 'bayes_value_lost.csv'),
                     data['bayes_value_lost'], data['bayes_loss_kind'], who)
  save_pickle(os.path.join(out_dir, 'eval_data.pickle'), data)

  regrets = {who: regret, **data['baseline_regret']}
  totals = {m: r.sum(axis=1) for m, r in regrets.items()}
  thompson = totals['thompson'].mean()
  optimal = totals['bayes_optimal'].mean() if bayes is not None else 0.0
  agreement = data.get('bayes_agreement', {})
  save_csv(os.path.join(out_dir, 'eval_summary.csv'), [
      dict(method=method, mean_cumulative_regret=total.mean(),
           sem_cumulative_regret=total.std(ddof=1) / np.sqrt(len(total))
           if len(total) > 1 else 0.0,
           mean_reward_per_trial=rewards_by_method[method].mean(),
           ratio_to_thompson=total.mean() / thompson if thompson > 0 else '',
           ratio_to_bayes_optimal=total.mean() / optimal if optimal > 0 else '',
           bayes_agreement=agreement[method].mean() if method in agreement else '',
           kl_from_bayes=(data['kl_from_bayes'].mean()
                          if method == who and 'kl_from_bayes' in data else ''),
           bayes_value_lost=(data['bayes_value_lost'].sum(axis=1).mean()
                             if method == who and 'bayes_value_lost' in data else ''),
           num_episodes=len(total))
      for method, total in totals.items()])
  plot_bandit_actions(os.path.join(out_dir, 'bandit_actions.png'), actions, arm_probs)
  plot_regret_curves(os.path.join(out_dir, 'regret.png'),
                      {m: np.cumsum(r, axis=1) for m, r in regrets.items()})
  if agreement:
    plot_bayes_agreement(os.path.join(out_dir, 'bayes_agreement.png'), agreement,
                          data.get('kl_from_bayes'), who)
  summary = {m: float(t.mean()) for m, t in totals.items()}
  if hidden is not None and bayes is not None and baseline_repeats == 1:
    summary.update(bandit_posterior.write(out_dir, actions, rewards, hidden, untrained,
                                          actions_by_method))
  return summary


def write_value_lost(path: str, lost: np.ndarray, kind: np.ndarray, who: str) -> None:
  """bayes_value_lost.csv (a row per trial: the mean value lost, in all and by kind, and
  the share of choices of each kind) and its figure."""
  kinds = bayes_optimal.KINDS
  rows = []
  for t in range(lost.shape[1]):
    row = dict(trial=t + 1, value_lost=lost[:, t].mean())
    for k, name in kinds.items():
      row[f'value_lost_{name}'] = np.where(kind[:, t] == k, lost[:, t], 0.0).mean()
    for k, name in kinds.items():
      row[f'share_{name}'] = (kind[:, t] == k).mean()
    rows.append(row)
  save_csv(path, rows)
  plot_value_lost(path.replace('.csv', '.png'), rows, who)


register(Analysis(env='bandit', analyze=analyze, played=played, num_episodes=2000,
                  log_dynamics=True,
                  summary_note='mean cumulative regret per episode (the baselines played the '
                               "same arms, 200 times each; the Bayes-optimal player's is its "
                               'exact expectation on them):'))


# Figures -----------------------------------------------------------------------------------

def plot_bandit_actions(path: str, actions: np.ndarray, arm_probs: np.ndarray) -> None:
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
  save(fig, path)


def plot_regret_curves(path: str, cumulative: dict[str, np.ndarray]) -> None:
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
  save(fig, path)


def plot_bayes_agreement(path: str, agreement: dict[str, np.ndarray], kl, who: str) -> None:
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
  save(fig, path)


def plot_value_lost(path: str, rows: list[dict], who: str) -> None:
  """Per trial, the expected reward `who`'s choices gave up against the Bayes-optimal
  player's (left) and the share of its choices that were not Bayes-optimal (right), in all
  and by kind."""
  trials = [r['trial'] for r in rows]
  fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
  axes[0].plot(trials, [r['value_lost'] for r in rows], color='k', lw=2, label='all')
  labels = {'larger_mean': 'the larger-mean arm, the other optimal (explores too little)',
            'smaller_mean': 'the smaller-mean arm, the larger optimal',
            'equal_means': 'either arm at equal means'}
  for name in bayes_optimal.KINDS.values():
    label = labels[name]
    axes[0].plot(trials, [r[f'value_lost_{name}'] for r in rows], lw=1.2, label=label)
    axes[1].plot(trials, [r[f'share_{name}'] for r in rows], lw=1.2, label=label)
  axes[0].set_ylabel(f'reward given up per choice ({who})')
  axes[1].set_ylabel('share of choices not Bayes-optimal')
  for ax in axes:
    ax.set_xlabel('trial')
    ax.set_ylim(bottom=0.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize='small')
  save(fig, path)
