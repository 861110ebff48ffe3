"""The tables of `benchmarks/backends.py`: each backend's training runs (part a), params
round trips (b) and start-up and memory (c), as medians over the repetitions, and a plain
printer for them. `configs` maps a run's name to (config, workers, evaluators, overrides,
quick overrides); `backends` are the backends compared, 'mp' first (the ratios' base)."""

import statistics


def median(values):
  values = [v for v in values if v is not None and v == v]
  return statistics.median(values) if values else float('nan')


def percentile(values, q):
  values = sorted(values)
  return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def r(x, digits=2):
  return round(x, digits) if isinstance(x, float) and x == x else x


def train_table(results, configs, backends):
  rows = []
  for name, (_, workers, evaluators, _, _) in configs.items():
    per = {}
    for backend in backends:
      runs = results.get((name, backend), [])
      ok = [x for x in runs if x['rc'] == 0]
      per[backend] = dict(
          rate=median(x['rate'] for x in ok), wall=median(x['wall_s'] for x in ok))
      rows.append(dict(
          config=name, backend=backend, runs=len(ok),
          env_steps_per_sec=r(per[backend]['rate'], 1), wall_s=r(per[backend]['wall'], 1),
          first_row_s=r(median(x['first_row_s'] for x in ok), 1),
          children_started_s=r(median(x['children_started_s'] for x in ok)),
          ray_connect_s=r(median(x['connect_s'] for x in ok)) if backend == 'ray' else '',
          total_env_steps=max([x['total'] for x in ok], default=0), workers=workers,
          evaluators=evaluators, restarts=sum(x['restarts'] for x in runs),
          failed_runs=len(runs) - len(ok), processes_left=sum(x['left'] for x in runs),
          load_avg=r(median(x['load'] for x in runs), 1),
          per_run=' '.join(f"{x['rate']:.0f}/s,{x['wall_s']:.0f}s,load {x['load']:.1f}"
                           if x['rc'] == 0
                           else f"rc={x['rc']}" for x in runs)))
    for row in rows[-2:]:
      b = row['backend']
      row['steps_per_sec_ratio'] = r(per[b]['rate'] / per['mp']['rate'], 3)
      row['wall_ratio'] = r(per[b]['wall'] / per['mp']['wall'], 3)
  return rows


def latency_table(echoes, sizes, backends):
  rows = []
  for name, (nbytes, leaves) in sizes.items():
    base = None
    for backend in backends:
      runs = [e['payloads'][name] for e in echoes.get(backend, [])]
      medians = [1000 * statistics.median(t) for t in runs]
      p90s = [1000 * percentile(t, 0.9) for t in runs]
      m = median(medians)
      base = m if backend == 'mp' else base
      rows.append(dict(payload=name, bytes=nbytes, leaves=leaves, backend=backend,
                       round_trips=sum(len(t) for t in runs), median_ms=r(m, 3),
                       p90_ms=r(median(p90s), 3),
                       median_ratio=r(m / base, 2) if base else '',
                       per_run_median_ms=' '.join(f'{x:.3f}' for x in medians)))
  return rows


def overhead_table(echoes, results, configs, backends):
  rows = []
  for backend in backends:
    runs = echoes.get(backend, [])
    if runs:
      connect = [e['connect_s'] for e in runs if e['connect_s'] is not None]
      rows.append(dict(
          measured_in='echo (b)', backend=backend, runs=len(runs),
          start_s=r(median(e['start_s'] for e in runs)),
          connect_s=r(median(connect)) if connect else '',
          first_actor_s=(r(median(e['start_s'] - e['connect_s'] for e in runs))
                         if connect else ''),
          first_message_s=r(median(e['first_message_s'] for e in runs))))
  for name in configs:
    for backend in backends:
      ok = [x for x in results.get((name, backend), []) if x['rc'] == 0 and x['samples']]
      if not ok:
        continue
      row = dict(measured_in=f'{name} (a)', backend=backend, runs=len(ok),
                 samples=sum(len(x['samples']) for x in ok))
      for key in ('manager_rss_mb', 'child_rss_mb', 'instance_rss_mb', 'instance_pss_mb',
                  'instance_processes', 'total_rss_mb'):
        row[key] = r(median(median(s[key] for s in x['samples']) for x in ok), 1)
      members = ok[-1]['samples'][len(ok[-1]['samples']) // 2]['members']
      row['instance_members'] = ' '.join(
          f'{m}' + (f' x{members.count(m)}' if members.count(m) > 1 else '')
          for m in sorted(set(members)))
      rows.append(row)
  return rows


def print_table(rows, columns):
  columns = [c for c in columns if any(row.get(c, '') != '' for row in rows)]
  cells = [[str(row.get(c, '')) for c in columns] for row in rows]
  widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(columns)]
  print('  '.join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
  for x in cells:
    print('  '.join(v.ljust(w) for v, w in zip(x, widths, strict=True)))
  print()
