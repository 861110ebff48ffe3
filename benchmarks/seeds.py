"""Many seeds in one compiled call (`num_seeds`) against one seed per process.

python benchmarks/seeds.py [--parts=a,b,c,d] [--repeats=3] [--work=DIR]

(a) Aggregate env-steps/s (all seeds together) of the single-process training call against
    num_seeds = 1, 2, 4, 8, 16, for configs/bandit_train.py:a3c, configs/two_step_train.py and
    configs/memory_sac.py: the trainer of each config is built as main.py builds it, its
    training call compiled once, then timed over CALLS calls; median of --repeats timings.
    memory_sac is timed past its warm-ups (every env step runs a critic update, every
    second an actor update) on a replay filled by acting.
(b) 8 seeds of the default two-step training (configs/two_step_train.py, 5M env steps per
    seed), start to exit, side by side in one run: one process with num_seeds=8 (through
    launch/sweep.py, which now trains a variant's seeds together) against 8 processes
    through the sweep with --process_per_seed, 2 at a time.
(c) Wang et al. (2018)'s episodic-versus-incremental comparison (configs/
    episodic_two_step_train.py with agent.retrieval True and False), 8 seeds of each at
    the default steps through the sweep (each variant's seeds in one process, the two
    variants side by side): total wall time, the curves (training_curves.png of the sweep)
    and the final reward per trial on cued trials.
(d) Bandit time-to-quality (configs/bandit_train.py:a3c, 3 seeds trained together): at each
    evaluation (eval.csv: eval.num_episodes fresh episodes per seed) the frozen agent's
    mean regret over the Bayes-optimal player's expected regret (1.748 for 100 trials),
    against wall time; the first evaluation with every seed within 1.25x and within 1.15x.
    The end-of-run check on 2,000 episodes against the Bayes-optimal player on the same
    episodes is configs/eval.py's (eval_summary.csv, ratio_to_bayes_optimal).

(e) What closes the gap to the Bayes-optimal player: variants of configs/bandit_train.py:a3c
    (discount, learning rate, entropy, network size, value core, advantage, unroll,
    training length), 3 seeds trained together each (the last two: 2), evaluated every 5M
    (10M) env steps on
    eval.num_episodes (500) fresh episodes per seed: the final mean regret per seed, its
    ratio to the Bayes-optimal expectation (1.748) and the run's training wall time (from
    train.csv: compare loosely, the committed table's runs were made two at a time on the
    2 cores). Runs go to WORK/e_<variant> and are reused when finished there (--work).

Writes benchmarks/results/seeds_*.csv (one per part) and prints each table.
"""

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
SEEDS = (1, 2, 4, 8, 16)
CALLS = 5


def save(name, rows):
  os.makedirs(RESULTS, exist_ok=True)
  columns = []
  for row in rows:
    columns += [k for k in row if k not in columns]
  path = os.path.join(RESULTS, f'seeds_{name}.csv')
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, columns)
    writer.writeheader()
    writer.writerows(rows)
  print(f'\n{path}')
  for row in rows:
    print('  ' + '  '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                           for k, v in row.items()))


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


# (a) ------------------------------------------------------------------------------------

def timed_calls(call, repeats):
  """Median seconds of CALLS calls of `call()` (which blocks) over `repeats` timings, after
  one compiling call."""
  call()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(CALLS):
      call()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def gradients_call(trainer):
  """The gradients kind's training call and the env steps (all seeds) it makes."""
  import jax

  from launch.trainers.seed_devices import SEED
  agent = trainer.agent
  box = list(trainer.spread((trainer.state,
                             trainer.seeded(agent.rollout.init)(trainer.rollout_key))))
  train = (trainer.over_seeds(agent.train_many_seeds, (SEED, SEED)) if trainer.seed_axis
           else agent.train_many)

  def call():
    box[0], box[1], metrics = train(box[0], box[1])
    jax.block_until_ready(metrics)
  per_call = (agent.steps_per_update * trainer.config.launch.updates_per_call *
              len(trainer.seeds))
  return call, per_call


def replay_call(trainer):
  """The replay kind's single-process call past the warm-ups, on a replay filled by the
  same call (learning off until the warm-ups end)."""
  import jax
  import jax.numpy as jnp

  from launch.trainers.seed_devices import SEED, SHARED
  cfg, agent = trainer.config, trainer.agent
  actor = trainer._make_actor()
  act_state = trainer.seeded(actor.init)(trainer.act_key)
  iterations = cfg.launch.updates_per_call
  run = agent.make_in_process_train(actor, cfg.agent.num_envs, agent.ticks_per_chunk,
                                    iterations)
  if trainer.seed_axis:  # as the trainer runs it
    run = trainer.over_seeds(run, (SEED, SEED, SEED, SHARED, SEED), vmapped=False)
  steady = max(cfg.agent.warmup_steps, cfg.agent.critic_warmup_steps,
               cfg.agent.actor_warmup_steps) + 1
  box = list(trainer.spread((trainer.state, act_state, trainer.replay)))
  trainer.train_key = trainer.spread(trainer.train_key)
  for _ in range(-(-steady // (iterations * cfg.agent.num_envs))):  # fill past warm-ups
    box[0], box[1], box[2], _ = run(box[0], box[1], box[2], jnp.int32(0),
                                    trainer._next_key())

  def call():
    box[0], box[1], box[2], metrics = run(box[0], box[1], box[2], jnp.int32(10 ** 6),
                                          trainer._next_key())
    jax.block_until_ready(metrics)
  return call, iterations * cfg.agent.num_envs * len(trainer.seeds)


def part_a(work, repeats, counts=SEEDS):
  import main
  from launch import run_folder
  from launch.trainers import make_trainer
  rows = []
  configs = (('bandit_a3c', 'bandit_train.py:a3c', []),
             ('two_step_a3c', 'two_step_train.py', []),
             ('memory_sac', 'memory_sac.py', ['launch.updates_per_call=200']))
  for name, file, extra in configs:
    base = None
    for n in counts:
      run_dir = os.path.join(work, f'a_{name}_{n}')
      config = main.load_config(['main.py', f'--config={ROOT}/configs/{file}',
                                 f'--config.num_seeds={n}', f'--config.run_dir={run_dir}',
                                 '--config.launch.num_evaluators=0',
                                 *[f'--config.{o}' for o in extra]])
      folder = run_folder.prepare_run_dir(config)
      trainer = make_trainer(config)
      call, steps = (replay_call if trainer.spec.kind == 'replay' else gradients_call)(trainer)
      seconds = timed_calls(call, repeats)
      rate = steps * CALLS / seconds
      base = base or rate
      rows.append(dict(part='a', config=name, num_seeds=n, env_steps_per_sec=rate,
                       per_seed=rate / n, speedup_vs_1=rate / base))
      print(rows[-1], flush=True)
      trainer.logs.close()
      trainer.progress.close()
      folder.release()
  return rows


# (b) (c) (d) --------------------------------------------------------------------------

def timed(command, log_path):
  start = time.time()
  with open(log_path, 'w') as log:
    done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
  return time.time() - start, done.returncode


def sweep(out, *args):
  return [sys.executable, os.path.join(ROOT, 'launch', 'sweep.py'), f'--out={out}', *args]


def part_b(work):
  rows = []
  config = f'--config={ROOT}/configs/two_step_train.py'
  for layout, extra in (('one process, num_seeds=8', []),
                        ('8 processes, 2 at a time', ['--process_per_seed'])):
    out = os.path.join(work, 'b_' + ('together' if not extra else 'apart'))
    wall, rc = timed(sweep(out, config, '--seeds=8', '--parallel=2', *extra), out + '.log')
    reward = [r for r in read_csv(os.path.join(out, 'summary.csv'))
              if r['metric'] == 'mean_reward_per_trial'][0] if rc == 0 else {}
    rows.append(dict(part='b', layout=layout, wall_s=wall, exit_code=rc,
                     final_reward_per_trial_mean=float(reward.get('mean', 'nan')),
                     seeds=int(reward.get('seeds', 0))))
    print(rows[-1], flush=True)
  rows.append(dict(part='b', layout='8 processes / one process',
                   ratio=rows[1]['wall_s'] / rows[0]['wall_s']))
  return rows


def part_c(work):
  out = os.path.join(work, 'c_episodic')
  config = f'--config={ROOT}/configs/episodic_two_step_train.py'
  wall, rc = timed(sweep(out, config, config, '--config.agent.retrieval=False', '--seeds=8',
                         '--parallel=2', '--metric=reward_cued'), out + '.log')
  rows = [dict(part='c', what='wall time, 2 variants x 8 seeds', wall_s=wall, exit_code=rc)]
  if rc == 0:
    for r in read_csv(os.path.join(out, 'summary.csv')):
      if r['metric'] in ('reward_cued', 'reward_uncued', 'mean_reward_per_trial'):
        rows.append(dict(part='c', what=f'{r["variant"]} {r["metric"]}',
                         mean=float(r['mean']), sem=float(r['sem'] or 'nan'),
                         seeds=int(r['seeds'])))
    shutil.copy(os.path.join(out, 'training_curves.png'),
                os.path.join(RESULTS, 'seeds_episodic_curves.png'))
  return rows


def finished(run_dir):
  log = os.path.join(run_dir, 'log.txt')
  return os.path.isfile(log) and '] done: ' in open(log).read()  # not stopped early


def part_d(work):
  run_dir = os.path.join(work, 'd_bandit')
  timing = os.path.join(work, 'd_bandit_wall.txt')
  if not (finished(run_dir) and os.path.isfile(timing)):  # a finished run is reused
    shutil.rmtree(run_dir, ignore_errors=True)
    wall, rc = timed([sys.executable, os.path.join(ROOT, 'main.py'),
                      f'--config={ROOT}/configs/bandit_train.py:a3c', '--config.num_seeds=3',
                      f'--config.run_dir={run_dir}'], run_dir + '.log')
    if rc != 0:
      return [dict(part='d', what='start to exit, 3 seeds', wall_s=wall, exit_code=rc)]
    with open(timing, 'w') as f:
      f.write(str(wall))
  with open(timing) as f:
    wall = float(f.read())
  rows = [dict(part='d', what='configs/bandit_train.py:a3c, 3 seeds together, start to exit',
               wall_s=wall)]
  # the frozen agents on 2,000 fresh episodes, against the Bayes-optimal player on the same
  out = os.path.join(work, 'd_bandit_eval')
  if not os.path.isfile(os.path.join(out, 'eval_summary.csv')):
    shutil.rmtree(out, ignore_errors=True)
    timed([sys.executable, os.path.join(ROOT, 'main.py'), f'--config={ROOT}/configs/eval.py',
           f'--config.params_path={os.path.join(run_dir, "params.pickle")}',
           f'--config.run_dir={out}'], out + '.log')
  for r in read_csv(os.path.join(out, 'eval_summary.csv')):
    if r['method'] in ('agent', 'thompson', 'bayes_optimal'):
      rows.append(dict(part='d', what=f'frozen, 2000 episodes: {r["method"]}', seed=r['seed'],
                       regret=float(r['mean_cumulative_regret']),
                       sem=float(r['sem_cumulative_regret']),
                       ratio_to_bayes_optimal=float(r['ratio_to_bayes_optimal']),
                       ratio_to_thompson=float(r['ratio_to_thompson']),
                       bayes_agreement=float(r['bayes_agreement'] or 'nan'),
                       kl_from_bayes=float(r['kl_from_bayes'] or 'nan')))
  from metarl.analysis import bayes_optimal
  optimal = bayes_optimal.solve(100).regret  # the expected regret of Bayes-optimal play
  evals = read_csv(os.path.join(run_dir, 'eval.csv'))
  for r in evals:
    r['ratio_to_bayes_optimal'] = float(r['mean_cumulative_regret']) / optimal
  steps = sorted({int(r['env_steps']) for r in evals})
  first = {}
  for step in steps:
    at = [r for r in evals if int(r['env_steps']) == step]
    ratios = [float(r['ratio_to_bayes_optimal']) for r in at]
    worst = max(ratios)
    for bar in (1.25, 1.15):
      if worst <= bar and bar not in first:
        first[bar] = step
    rows.append(dict(part='d', what='evaluation', env_steps=step,
                     wall_time_s=float(at[0]['wall_time']),
                     ratio_median=statistics.median(ratios), ratio_worst=worst,
                     regret_median=statistics.median(
                         float(r['mean_cumulative_regret']) for r in at)))
  for bar in (1.25, 1.15):
    rows.append(dict(part='d', what=f'first evaluation with every seed within {bar}x',
                     env_steps=first.get(bar, '')))
  return rows


# (e): name, overrides of configs/bandit_train.py:a3c
VARIANTS = (
    ('gamma 0.9 (default settings)', 'g90', ['total_env_steps=20000000']),
    ('gamma 0.9, lr 1e-3', 'g90lr1e3', ['total_env_steps=15000000',
                                        'agent.learning_rate=1e-3']),
    ('gamma 0.9, lr 3e-3', 'g90lr3e3', ['total_env_steps=15000000',
                                        'agent.learning_rate=3e-3']),
    ('gamma 0.9, lr 1e-3, 30M steps', 'g90lr1e3L', ['total_env_steps=30000000',
                                                   'agent.learning_rate=1e-3']),
    ('gamma 0.9, lr 1e-3, LSTM 128', 'g90lr1e3h128', ['total_env_steps=15000000',
                                                     'agent.learning_rate=1e-3',
                                                     'network.hidden_size=128']),
    ('gamma 0.9, entropy 0.01 -> 0', 'g90e01', ['total_env_steps=15000000',
                                               'agent.entropy_coef=0.01']),
    ('gamma 0.95', 'g95', ['total_env_steps=15000000', 'agent.gamma=0.95']),
    ('gamma 0.95, value core of its own', 'g95sep', ['total_env_steps=15000000',
                                                    'agent.gamma=0.95',
                                                    'network.value_core=separate']),
    ('gamma 0.95, own value core, lr 1e-3', 'g95seplr1e3', [
        'total_env_steps=15000000', 'agent.gamma=0.95', 'network.value_core=separate',
        'agent.learning_rate=1e-3']),
    ('gamma 0.97, GAE, value coef 0.5', 'g97gae', [
        'total_env_steps=15000000', 'agent.gamma=0.97', 'agent.advantage=gae',
        'agent.value_coef=0.5']),
    ('gamma 0.97, own value core, lr 1e-3, 30M', 'g97seplr30', [
        'total_env_steps=30000000', 'agent.gamma=0.97', 'network.value_core=separate',
        'agent.learning_rate=1e-3']),
    ('gamma 0.99', 'g99', ['total_env_steps=15000000', 'agent.gamma=0.99']),
    ('gamma 0.99, own value core, GAE', 'g99sepgae', [
        'total_env_steps=15000000', 'agent.gamma=0.99', 'network.value_core=separate',
        'agent.advantage=gae']),
    ('gamma 0.99, own value core, GAE, lr 1e-3, 30M', 'g99seplr30', [
        'total_env_steps=30000000', 'agent.gamma=0.99', 'network.value_core=separate',
        'agent.advantage=gae', 'agent.learning_rate=1e-3']),
    ('gamma 0.99, GAE, whole episodes, own value core, lr 1e-3', 'g99gae100', [
        'total_env_steps=10000000', 'agent.gamma=0.99', 'agent.advantage=gae',
        'agent.unroll_length=100', 'agent.reset_each_unroll=True',
        'network.value_core=separate', 'agent.learning_rate=1e-3']),
    ('gamma 1, return - baseline, whole episodes, own value core, lr 1e-3', 'g100base', [
        'total_env_steps=20000000', 'agent.gamma=1.0', 'agent.advantage=baseline',
        'agent.unroll_length=100', 'agent.reset_each_unroll=True',
        'network.value_core=separate', 'agent.learning_rate=1e-3']),
    # 2 seeds, one per core: 60M env steps each in ~4 min
    ('gamma 0.99, own value core, GAE, lr 1e-3, 60M, 2 seeds', 'g99L', [
        'num_seeds=2', 'total_env_steps=60000000', 'eval.every_env_steps=10000000',
        'log_every_env_steps=5000000',
        'agent.gamma=0.99', 'network.value_core=separate', 'agent.advantage=gae']),
    ('gamma 0.97, own value core, lr 1e-3, 60M, 2 seeds', 'g97L', [
        'num_seeds=2', 'total_env_steps=60000000', 'eval.every_env_steps=10000000',
        'log_every_env_steps=5000000',
        'agent.gamma=0.97', 'network.value_core=separate']),
    ('gamma 0.97, own value core, 256 envs, lr 2e-3, 60M, 2 seeds', 'g97B', [
        'num_seeds=2', 'total_env_steps=60000000', 'eval.every_env_steps=10000000',
        'log_every_env_steps=5000000', 'agent.num_envs=256', 'agent.learning_rate=2e-3',
        'agent.gamma=0.97', 'network.value_core=separate']),
)


def part_e(work, only=None):
  from metarl.analysis import bayes_optimal
  optimal = bayes_optimal.solve(100).regret
  rows = []
  for name, short, overrides in VARIANTS:
    if only and short not in only:
      continue
    run_dir = os.path.join(work, f'e_{short}')
    if not finished(run_dir):
      shutil.rmtree(run_dir, ignore_errors=True)
      timed([sys.executable, os.path.join(ROOT, 'main.py'),
             f'--config={ROOT}/configs/bandit_train.py:a3c', '--config.num_seeds=3',
             f'--config.run_dir={run_dir}', '--config.checkpoint_every=0',
             '--config.log_every_env_steps=2000000', '--config.eval.every_env_steps=5000000',
             *[f'--config.{o}' for o in overrides]], run_dir + '.log')  # later ones win
    evals = read_csv(os.path.join(run_dir, 'eval.csv'))
    last = max(int(r['env_steps']) for r in evals)
    final = {r['seed']: float(r['mean_cumulative_regret']) for r in evals
             if int(r['env_steps']) == last}
    wall = max(float(r['wall_time']) for r in read_csv(os.path.join(run_dir, 'train.csv')))
    rows.append(dict(part='e', variant=name, env_steps_per_seed=last,
                     **{f'regret_seed_{k}': v for k, v in sorted(final.items())},
                     regret_median=statistics.median(final.values()),
                     ratio_to_bayes_median=statistics.median(final.values()) / optimal,
                     train_wall_s=wall, overrides=' '.join(overrides)))
    print(rows[-1], flush=True)
  return rows


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--parts', default='a,b,c,d,e')
  parser.add_argument('--variants', default='', help='part (e): only these (short names)')
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--work', default='')
  parser.add_argument('--num_seeds', default=','.join(map(str, SEEDS)),
                      help='part (a): the num_seeds values timed')
  args = parser.parse_args()
  counts = tuple(int(n) for n in args.num_seeds.split(','))
  work = args.work or tempfile.mkdtemp(prefix='metarl_seeds_')
  parts = args.parts.split(',')
  if 'a' in parts:
    save('throughput', part_a(work, args.repeats, counts))
  if 'b' in parts:
    save('two_step_processes', part_b(work))
  if 'c' in parts:
    save('episodic', part_c(work))
  if 'd' in parts:
    save('bandit_quality', part_d(work))
  if 'e' in parts:
    save('bandit_variants', part_e(work, [v for v in args.variants.split(',') if v]))


if __name__ == '__main__':
  main()
