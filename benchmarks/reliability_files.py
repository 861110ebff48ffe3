"""The bad-files part of benchmarks/reliability.py: files a researcher is sent or finds,
each given to the command that reads it, in a process of its own.

  truncated_params     half of a params.pickle, to configs/eval.py
  foreign_params       a zip file named params.pickle, to configs/eval.py
  malicious_params     a params.pickle whose stored config calls os.system, to eval.py
  malicious_runs_load  the same file, read with metarl.runs.load(run).params()
  object_array_params  params holding an array of Python objects, to configs/eval.py
  edited_config        params whose stored config says hidden_size 32 (the params: 48)
  invalid_config       params whose stored config holds env.num_arms = -1
  wrong_agent_init     a3c params as td's init_params_path
  malicious_checkpoint a run folder whose newest checkpoint calls os.system, resumed
  truncated_checkpoint a run folder whose newest checkpoint is cut short, resumed
  linked_csv           a run folder whose train.csv is a link to another file, resumed
  other_config_resume  a resume with another learning rate

Per case: the exit status, whether stderr is one `metarl:` line (no traceback), whether
the payload ran (it would create a marker file), and what it left behind: new entries of
the folder that holds the file, files of a run folder that changed or appeared (its lock
file aside: a process that opens a run writes its pid there; log.txt, where the refusal
comes once the log is open, is named), the link's target changed.
"""

import os
import pickle
import shutil
import subprocess
import sys
import time

from launch.run_folder import RUN_LOCK
from metarl.io import load_pickle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(ROOT, 'metarl', 'pretrained', 'bandit_a3c.pickle')
BANDIT = os.path.join(ROOT, 'configs', 'bandit_train.py') + ':a3c'
SMALL_A3C = ['--config.total_env_steps=4000', '--config.checkpoint_every=2000',
             '--config.agent.num_envs=8', '--config.agent.unroll_length=10',
             '--config.launch.num_evaluators=0', '--config.launch.updates_per_call=5',
             '--config.eval.every_env_steps=4000', '--config.eval.num_episodes=8']
COLUMNS = ['case', 'reader', 'rc', 'one_line', 'payload_ran', 'left_behind', 'seconds',
           'message']


class _Runs:  # what a malicious file holds: os.system(command) when unpickled
  def __init__(self, command):
    self.command = command

  def __reduce__(self):
    return (os.system, (self.command,))


def _payload():
  return load_pickle(PRETRAINED)  # through the restricted loader, as metarl reads it


def _write(path, payload):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'wb') as f:
    pickle.dump(payload, f)


def _snapshot(folder):
  """Every file under `folder` with its size and mtime (links as their own entries), but
  the run's lock file, which a process that opens the run writes its pid into."""
  found = {}
  for base, dirs, files in os.walk(folder):
    for name in dirs + [f for f in files if f != RUN_LOCK]:
      path = os.path.join(base, name)
      st = os.lstat(path)
      found[os.path.relpath(path, folder)] = (st.st_size, st.st_mtime_ns)
  return found


def _run(argv, cwd):
  start = time.time()
  done = subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True,
                        timeout=600)
  return done, time.time() - start


def _row(case, reader, done, seconds, marker, before, after, extra=''):
  lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
  last = lines[-1] if lines else ''
  one_line = (done.returncode != 0 and last.startswith('metarl:') and
              'Traceback' not in done.stderr)
  changed = sorted(set(after) - set(before)) + sorted(
      k for k in before if k in after and after[k] != before[k]) + sorted(
          set(before) - set(after))
  left = ' '.join(changed) + (f' {extra}' if extra else '')
  return dict(case=case, reader=reader, rc=done.returncode, one_line=one_line,
              payload_ran=os.path.exists(marker), left_behind=left.strip() or '-',
              seconds=round(seconds, 1), message=last[:160])


def _eval_case(work, case, edit):
  folder = os.path.join(work, case)
  marker = os.path.join(work, f'{case}.ran')
  path = os.path.join(folder, 'params.pickle')
  payload = _payload()
  data = edit(payload, marker)
  os.makedirs(folder, exist_ok=True)
  if isinstance(data, bytes):
    with open(path, 'wb') as f:
      f.write(data)
  else:
    _write(path, data)
  before = _snapshot(folder)
  done, seconds = _run(['main.py', '--config=eval', f'--config.params_path={path}',
                        '--config.num_episodes=5'], ROOT)
  return _row(case, 'configs/eval.py', done, seconds, marker, before, _snapshot(folder))


def _malicious(payload, marker):
  payload['config']['env'] = _Runs(f'touch {marker}')
  return payload


def _set(section, field, value):
  def edit(payload, marker):
    del marker
    payload['config'][section][field] = value
    return payload
  return edit


def _truncated(payload, marker):
  del marker
  blob = pickle.dumps(payload)
  return blob[:len(blob) // 2]


def _object_array(payload, marker):
  import numpy as np
  del marker
  payload['params']['extra'] = np.array([print, 1], dtype=object)
  return payload


def _trained_run(work):
  """A finished small a3c run with checkpoints (the folder the resume cases copy)."""
  run_dir = os.path.join(work, 'trained')
  if not os.path.isdir(run_dir):
    done, _ = _run(['main.py', f'--config={BANDIT}', f'--config.run_dir={run_dir}',
                    *SMALL_A3C], ROOT)
    if done.returncode != 0:
      raise RuntimeError(f'the small a3c run failed: {done.stderr[-2000:]}')
  return run_dir


def _resume_case(work, case, spoil, overrides=()):
  run_dir = os.path.join(work, case)
  shutil.copytree(_trained_run(work), run_dir, symlinks=True)
  marker = os.path.join(work, f'{case}.ran')
  target = os.path.join(work, f'{case}_target.txt')
  with open(target, 'w') as f:
    f.write('someone else\'s file\n')
  spoil(run_dir, marker, target)
  before = _snapshot(run_dir)
  with open(target) as f:
    target_before = f.read()
  done, seconds = _run(['main.py', f'--config={BANDIT}', f'--config.run_dir={run_dir}',
                        '--config.resume=True', *SMALL_A3C, *overrides], ROOT)
  with open(target) as f:
    extra = 'the link target changed' if f.read() != target_before else ''
  return _row(case, 'main.py resume', done, seconds, marker, before, _snapshot(run_dir),
              extra)


def _newest_checkpoint(run_dir):
  folder = os.path.join(run_dir, 'checkpoints')
  return os.path.join(folder, sorted(os.listdir(folder))[-1])


def _malicious_checkpoint(run_dir, marker, target):
  del target
  path = _newest_checkpoint(run_dir)
  payload = load_pickle(path)  # this benchmark's own run
  payload['parts']['logs'] = _Runs(f'touch {marker}')
  _write(path, payload)


def _truncated_checkpoint(run_dir, marker, target):
  del marker, target
  path = _newest_checkpoint(run_dir)
  with open(path, 'rb') as f:
    blob = f.read()
  with open(path, 'wb') as f:
    f.write(blob[:len(blob) // 3])


def _linked_csv(run_dir, marker, target):
  del marker
  os.remove(os.path.join(run_dir, 'train.csv'))
  os.symlink(target, os.path.join(run_dir, 'train.csv'))


def _runs_load_case(work):
  case = 'malicious_runs_load'
  folder = os.path.join(work, case)
  marker = os.path.join(work, f'{case}.ran')
  shutil.copytree(_trained_run(work), folder, symlinks=True)
  path = os.path.join(folder, 'params.pickle')
  payload = load_pickle(path)  # this benchmark's own run
  payload['config'] = _Runs(f'touch {marker}')
  _write(path, payload)
  before = _snapshot(folder)
  code = ('import sys; from metarl import runs; from metarl.io import RunFileError\n'
          'try:\n  runs.load(sys.argv[1]).params()\n'
          'except RunFileError as e:\n  sys.exit(f"metarl: {e}")\n')
  done, seconds = _run(['-c', code, folder], ROOT)
  return _row(case, 'metarl.runs.load', done, seconds, marker, before, _snapshot(folder))


def _wrong_agent_case(work):
  case = 'wrong_agent_init'
  folder = os.path.join(work, case)
  os.makedirs(folder)
  run_dir = os.path.join(folder, 'run')
  done, seconds = _run(['main.py', '--config=value_td', f'--config.run_dir={run_dir}',
                        f'--config.init_params_path={PRETRAINED}'], ROOT)
  return _row(case, 'main.py td init', done, seconds, os.path.join(work, 'none'), {},
              _snapshot(folder))


def run_bad_files(work):
  """Every case above; one row each."""
  rows = [
      _eval_case(work, 'truncated_params', _truncated),
      _eval_case(work, 'foreign_params', lambda p, m: b'PK\x03\x04' + bytes(200)),
      _eval_case(work, 'malicious_params', _malicious),
      _eval_case(work, 'object_array_params', _object_array),
      _eval_case(work, 'edited_config', _set('network', 'hidden_size', 32)),
      _eval_case(work, 'invalid_config', _set('env', 'num_arms', -1)),
      _runs_load_case(work),
      _wrong_agent_case(work),
      _resume_case(work, 'malicious_checkpoint', _malicious_checkpoint),
      _resume_case(work, 'truncated_checkpoint', _truncated_checkpoint),
      _resume_case(work, 'linked_csv', _linked_csv),
      _resume_case(work, 'other_config_resume', lambda *a: None,
                   ['--config.agent.learning_rate=0.5']),
  ]
  for row in rows:
    print(row, flush=True)
  return rows
