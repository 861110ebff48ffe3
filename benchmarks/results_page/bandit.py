"""The results page's bandit section: the frozen agent against the classic players and the
Bayes-optimal one, and what its network computes."""


import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401 (MaxNLocator)
import numpy as np  # noqa: E402

from benchmarks.results_page.page import (  # noqa: E402
  CRITERIA,
  Context,
  Headline,
  Missing,
  Section,
  cell,
  copy_figure,
  published,
  read_csv,
  save_figure,
  verdict,
)
from metarl.analysis import figures  # noqa: E402


def bandit_section(ctx: Context) -> Section:
  train, ev = ctx.run('bandit_train'), ctx.run('bandit_eval')
  summary = {r['method']: r for r in read_csv(ctx.file('bandit_eval', 'eval_summary.csv'))}
  data = ev.eval_data()
  regret = {m: float(summary[m]['mean_cumulative_regret']) for m in summary}
  sem = float(summary['agent']['sem_cumulative_regret'])
  ratio = regret['agent'] / regret['thompson']
  limit = CRITERIA['bandit_thompson_ratio']
  ok = ratio <= limit and regret['agent'] < regret['random']
  total = int(train.config.total_env_steps)
  episodes = int(summary['agent']['num_episodes'])
  curve = train.eval

  fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw=dict(width_ratios=[1.1, 1, 1]))
  order = np.argsort(-data['arm_probs'][:, 0], kind='stable')
  shown = order[np.linspace(0, len(order) - 1, min(200, len(order))).astype(int)]
  axes[0].imshow(data['actions'][shown], aspect='auto', interpolation='nearest',
                 cmap=matplotlib.colors.ListedColormap(['#1f77b4', '#9e9e9e']), vmin=-0.5,
                 vmax=1.5)
  axes[0].set_yticks(*figures.probability_ticks(data['arm_probs'][shown, 0]))
  axes[0].set_ylabel('p(arm 1) of the episode')
  axes[0].set_xlabel('trial')
  axes[0].set_title(f'frozen agent: arm 1 blue, arm 2 grey\n'
                    f'({len(shown)} of {episodes} episodes, sorted by p(arm 1))')
  cumulative = {'agent': np.cumsum(data['regret'], axis=1),
                **{m: np.cumsum(r, axis=1) for m, r in data['baseline_regret'].items()
                   if m != 'oracle'}}
  for name, values in cumulative.items():
    mean = values.mean(axis=0)
    sem_t = values.std(axis=0) / np.sqrt(values.shape[0])
    trials = np.arange(1, values.shape[1] + 1)
    axes[1].plot(trials, mean, lw=2.5 if name == 'agent' else 1.2,
                 label=f'{name} ({regret[name]:.2f})')
    axes[1].fill_between(trials, mean - sem_t, mean + sem_t, alpha=0.2)
  axes[1].set_xlabel('trial')
  axes[1].set_ylabel('mean cumulative regret')
  axes[1].set_title(f'{episodes} fresh episodes, same arm probabilities')
  axes[1].legend(fontsize='small')
  axes[1].grid(alpha=0.3)
  axes[2].plot(curve['env_steps'] / 1e6, curve['mean_cumulative_regret'], 'o-', ms=3,
               label='agent (evaluations during training)')
  axes[2].axhline(regret['thompson'], color='C1', ls='--', lw=1, label='Thompson')
  axes[2].axhline(limit * regret['thompson'], color='C1', ls=':', lw=1,
                  label=f'{limit}x Thompson')
  axes[2].set_xlabel('env steps (millions)')
  axes[2].set_ylabel('cumulative regret per episode')
  axes[2].set_title('training')
  axes[2].set_ylim(0, max(8.0, regret['thompson'] * 2))
  axes[2].legend(fontsize='small')
  axes[2].grid(alpha=0.3)
  path, link = ctx.figure('bandit.png')
  save_figure(fig, path)

  src = ctx.file('bandit_eval', 'eval_summary.csv')
  first = curve[curve['mean_cumulative_regret'] <= limit * regret['thompson']]
  first_text = (f'The evaluations during training ({int(train.config.eval.num_episodes)} '
                f'episodes each, `eval.csv`) first came '
                f'within {limit}x of Thompson\'s regret at '
                f'{first["env_steps"].iloc[0] / 1e6:.1f}M env steps, '
                f'{first["wall_time"].iloc[0]:.0f} s into training.' if len(first) else
                f'No evaluation during training came within {limit}x of Thompson\'s regret.')
  agent = str(train.config.agent.name).upper()
  body = f"""An LSTM({int(train.config.network.hidden_size)}) trained by {agent} in one process
(`configs/bandit_train.py` with `total_env_steps={total}`, evaluated inline; start to exit
{ctx.wall('bandit_train'):.0f} s in this report), then frozen and played on {episodes} fresh
episodes ({int(train.config.env.num_arms)} arms, `{train.config.env.reward_structure}` win
probabilities; `configs/eval.py`), next to the classic algorithms
on the same arm probabilities ({ctx.cite(src)}):

| method | mean cumulative regret | s.e.m. | reward per trial | ratio to Thompson | ratio to Bayes-optimal | agreement with the Bayes-optimal choice |
| --- | --- | --- | --- | --- | --- | --- |
""" + ''.join(
      f"| {m} | {float(r['mean_cumulative_regret']):.2f} | "
      f"{float(r['sem_cumulative_regret']):.2f} | {float(r['mean_reward_per_trial']):.3f} | "
      f"{float(r['ratio_to_thompson']):.2f} | {cell(r.get('ratio_to_bayes_optimal'))} | "
      f"{cell(r.get('bayes_agreement'))} |\n" for m, r in summary.items()) + f"""
![bandit]({link})

Left, nathanwispinski/meta-rl's figure: one row per episode, sorted by arm 1's win
probability, one cell per trial coloured by the arm chosen. Middle: mean cumulative regret
against trial (± s.e.m.), the agent and the baselines on the same episodes. Right: the
evaluations made during training. {first_text}
Reproduced (regret within {limit}x of Thompson's and below random's): **{verdict(ok)}**
(ratio {ratio:.2f}).
"""
  body += bandit_internals(ctx)
  headline = Headline(
      f'Bandits, meta-RL {agent} (nathanwispinski/meta-rl)',
      'mean cumulative regret per episode, two independent arms, frozen agent',
      f"agent {regret['agent']:.2f} ± {sem:.2f}; Thompson {regret['thompson']:.2f}, "
      f"UCB1 {regret['ucb1']:.2f}, random {regret['random']:.2f}"
      + (f", Bayes-optimal {regret['bayes_optimal']:.2f}" if 'bayes_optimal' in regret else '')
      + ' on the same episodes',
      published('bandit'), ctx.cite(src), verdict(ok))
  return Section('bandit', body, [headline])

def bandit_internals(ctx: Context) -> str:
  """What the frozen bandit agent computes (metarl/analysis/bandit_posterior.py)."""
  try:
    decoding = read_csv(ctx.file('bandit_eval', 'posterior_decoding.csv'))
    variance = read_csv(ctx.file('bandit_eval', 'pca.csv'))
    kernel = copy_figure(ctx, ctx.file('bandit_eval', 'choice_kernel.png'),
                         'bandit_choice_kernel.png')
    pcs = copy_figure(ctx, ctx.file('bandit_eval', 'pca.png'), 'bandit_pca.png')
  except Missing as e:
    return f'\n**What the agent computes**: not available ({e}).\n'
  r2 = {(r['network'], r['target']): float(r['r2']) for r in decoding}
  targets = list(dict.fromkeys(r['target'] for r in decoding))
  top2 = float(variance[1]['cumulative'])
  return f"""
**What the agent computes** (`metarl/analysis/bandit_posterior.py`, on the same frozen
episodes). A ridge decoder, cross-validated by episode, reads the Beta posterior of the two
arms from the network's activity after each outcome; the untrained network is the same
network at initialisation, playing the same arms itself
({ctx.cite(ctx.file('bandit_eval', 'posterior_decoding.csv'))}):

| R^2 | {' | '.join(targets)} |
| --- | {' | '.join('---' for _ in targets)} |
| trained | {' | '.join(f"{r2[('trained', t)]:.2f}" for t in targets)} |
| untrained | {' | '.join(f"{r2.get(('untrained', t), float('nan')):.2f}" for t in targets)} |

The first two principal components of the activity explain {100 * top2:.0f}% of its
variance; along them the activity is ordered by the posterior difference mu_1 - mu_2:

![bandit PCA]({pcs})

Choice-history kernels (Lau & Glimcher 2005) of the agent, Thompson sampling and the
Bayes-optimal player on the same arms:

![choice kernels]({kernel})
"""

