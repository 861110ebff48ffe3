"""The results page's section on Wang et al. (2018)'s six simulations: the committed table of
benchmarks/wang2018.py (each config trained as it is, 8 networks, and analysed)."""

import os

from benchmarks.results_page.page import (
  PUBLISHED,
  RESULTS,
  Context,
  Headline,
  Missing,
  Section,
  read_csv,
  verdict,
)

SOURCE = '`benchmarks/results/wang2018.csv`'
AT_LEAST = 7  # seeds of 8 that meet a per-seed criterion
HARLOW_AT_LEAST = 6  # seeds of 8 that learn to learn (simulation 5)


def _row(rows, simulation: int, measure: str) -> dict:
  found = next((r for r in rows if r['simulation'] == str(simulation) and
                r['measure'].startswith(measure)), None)
  if found is None:
    raise Missing(f'benchmarks/results/wang2018.csv has no row {measure!r} of simulation '
                  f'{simulation} (python benchmarks/wang2018.py makes them)')
  return found


def _share(row: dict) -> str:
  return f"{row['seeds_meeting']} of {row['seeds']} seeds"


def _second_half(rows) -> list[Headline]:
  """The headlines of simulations 3, 4 and 5, those in the table."""
  headlines = []
  simulations = {r['simulation'] for r in rows}
  if '3' in simulations:
    signs = _row(rows, 3, 'both cues with the new sign')
    ratio = _row(rows, 3, 'inferred over experienced')
    cells = [float(_row(rows, 3, f'cue RPE, trial 2 after a switch, {k} cue, now {v}')['median'])
             for k in ('experienced', 'inferred') for v in ('rewarded', 'unrewarded')]
    ok = int(signs['seeds_meeting']) >= AT_LEAST and int(ratio['seeds_meeting']) >= AT_LEAST
    headlines.append(Headline(
        'Wang 2018, simulation 3: RPEs of inferred value',
        'the cue RPE on the second trial after a switch, experienced and inferred cue, now '
        'rewarded / not',
        'experienced {:+.3f} / {:+.3f}, inferred {:+.3f} / {:+.3f} (medians); '.format(*cells) +
        f"both with the new sign on {_share(signs)}",
        'published: ' + PUBLISHED['wang2018_inferred'][0], SOURCE, verdict(ok)))
  if '4' in simulations:
    based = _row(rows, 4, 'r2 of the second-stage RPE on the model-based')
    free = _row(rows, 4, 'r2 of the second-stage RPE on the model-free')
    ratio = _row(rows, 4, 'model-based r2 over model-free r2')
    adds = _row(rows, 4, 'r2 the model-free learner adds')
    ok = int(based['seeds_meeting']) >= AT_LEAST and int(ratio['seeds_meeting']) >= AT_LEAST
    headlines.append(Headline(
        'Wang 2018, simulation 4: model-based RPEs',
        "r squared of the agent's second-stage RPE on a model-based planner's and a "
        "model-free learner's",
        f"{float(based['median']):.2f} and {float(free['median']):.2f} (the model-free one "
        f"adds {float(adds['median']):.4f} to the model-based one)",
        'published: ' + PUBLISHED['wang2018_two_step'][0], SOURCE, verdict(ok)))
  if '5' in simulations:
    second = _row(rows, 5, 'accuracy on trial 2, held-out')
    first = _row(rows, 5, 'accuracy on trial 1, held-out')
    learnt = _row(rows, 5, 'learnt to learn')
    headlines.append(Headline(
        'Wang 2018, simulation 5: learning to learn (Harlow)',
        'accuracy on the first and the second trial, held-out objects; networks that learn '
        'to learn',
        f"{float(first['median']):.3f} and {float(second['median']):.3f} (medians); "
        f"{_share(learnt)}",
        'published: ' + PUBLISHED['wang2018_harlow'][0], SOURCE,
        verdict(int(learnt['seeds_meeting']) >= HARLOW_AT_LEAST)))
  return headlines


def wang2018_section(ctx: Context) -> Section:
  del ctx  # no runs of its own: the committed table
  rows = read_csv(os.path.join(RESULTS, 'wang2018.csv'))
  headlines = []
  held = _row(rows, 1, 'reward per trial, held-out')
  lag = _row(rows, 1, 'lag-1 weight')
  ok = min(int(held['seeds_meeting']), int(lag['seeds_meeting'])) >= AT_LEAST
  headlines.append(Headline(
      'Wang 2018, simulation 1: action and reward history',
      'the agent above a Q-learner on held-out ranges; the last rewarded choice weighs positively',
      f"{_share(held)} above; weight {float(lag['median']):.4g}, positive on {_share(lag)}",
      'published: ' + PUBLISHED['wang2018_history'][0], SOURCE, verdict(ok)))
  rates = _row(rows, 2, 'volatile above stable')
  decoded = _row(rows, 2, 'phase decoded')
  cells = [float(_row(rows, 2, f'learning rate, {o}, {p}')['median'])
           for o, p in (('stable_first', 'stable'), ('stable_first', 'volatile'),
                        ('volatile_first', 'volatile'), ('volatile_first', 'stable'))]
  ok = min(int(rates['seeds_meeting']), int(decoded['seeds_meeting'])) >= AT_LEAST
  headlines.append(Headline(
      'Wang 2018, simulation 2: learning rate and volatility',
      'fitted learning rate higher when volatile, in both orders; volatility in the units',
      '{:.2f} then {:.2f}; {:.2f} then {:.2f} (medians); higher on '.format(*cells) +
      f"{_share(rates)}; decoded above chance on {_share(decoded)}",
      'published: ' + PUBLISHED['wang2018_volatility'][0], SOURCE, verdict(ok)))
  headlines += _second_half(rows)
  moved = [r for r in rows if r['simulation'] == '6' and 'minus control' in r['measure']]
  if moved:
    ok = all((float(r['median']) > 0) == (r['paper'] == 'up') for r in moved)
    headlines.append(Headline(
        "Wang 2018, simulation 6: the RPE as the actor's input",
        'P(risky) against control under each perturbation of the RPE',
        '; '.join(f"{r['measure'].split(',')[1].split(' minus')[0].strip()} "
                  f"{float(r['median']):+.3f}" for r in moved),
        'published: ' + PUBLISHED['wang2018_rpe'][0], SOURCE, verdict(ok)))
  trained = {r['simulation']: (r['config'], r['train_s'], r['analysis_s']) for r in rows}
  body = ("""The configs `configs/wang2018_<name>.py` trained as they are (8 networks side by side,
`num_seeds=8`) and analysed by `configs/eval.py`, by `python benchmarks/wang2018.py`, on
this 2-core machine shared with other work; every measure is the median over the 8
networks, with their range and how many meet the criterion of done. The paper's values are
read off its figures (../shared/SCIENCE.md section D). What each analysis computes:
[docs/tasks/wang2018.md](tasks/wang2018.md).

| simulation | measure | metarl: median (range) | seeds meeting | criterion | Wang et al. 2018 |
| --- | --- | --- | --- | --- | --- |
""" + ''.join(f"| {r['simulation']} | {r['measure'].replace('|', '&#124;')} | {r['median']} "
              f"({r['low']} to {r['high']}) | {r['seeds_meeting'] or '-'} | "
              f"{r['criterion'] or '-'} | {r['paper'] or '-'} |\n" for r in rows) +
      '\nWall times (training of the 8 networks; analysis): ' +
      '; '.join(f'simulation {s}, `{c}`: {t} s; {a} s' for s, (c, t, a) in trained.items()) +
      f'. Source: {SOURCE}.\n')
  return Section('wang2018', body, headlines)
