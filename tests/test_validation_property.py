"""Property-based tests of main.py's command line: every bad override ends in one clean line.

Random invalid overrides (unknown fields, values of the wrong type, numbers out of range,
unknown names for choice fields, missing paths, unusable run directories) are thrown at
`main.load_config`, the whole command-line path (absl and ml_collections flag parsing, then
`launch.validation.validate`), for every training and eval config. Each must end in SystemExit
with one line 'metarl: ...' that names the field. Any override at all must either validate or
end that way. The fields and their types are read from the configs themselves; the choice
names from the rules the envs, agents, curriculum and launch declare. Nothing is trained.
"""

import os
import re
import runpy
import warnings

import ml_collections
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ml_collections.config_flags import config_path

import main
from launch import validation
from metarl import curriculum, envs
from metarl.agents.registry import AGENTS
from metarl.envs.base import param_fields

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, 'configs')
TRAIN = ['bandit_train', 'two_step_train', 'episodic_two_step_train', 'class_query',
         'value_td', 'memory_sac', 'pendulum_sac', 'train']
EVAL = ['eval']
PLAY = ['play']
NAMES = TRAIN + EVAL + PLAY

# What the field names alone cannot tell: integer fields where 0 means 'none' or 'off', real
# fields that may be negative, and a list field that holds names rather than numbers.
ZERO_OK = {'seed', 'checkpoint_every', 'launch.num_workers', 'launch.num_evaluators',
           'launch.max_restarts', 'agent.warmup_steps', 'agent.critic_warmup_steps',
           'agent.actor_warmup_steps', 'curriculum.start', 'env.delay', 'env.delay_jitter',
           'params_seed', 'agent.value_clip_eps',  # a seed; 0: ppo's value loss unclipped
           'env.forced_trials', 'env.iti_steps', 'env.object_seed'}  # none; no interval
SIGNED = {'env.reward_correct', 'env.reward_wrong', 'network.cell_bias',
          'network.log_std_min', 'network.log_std_max', 'agent.target_entropy',
          'curriculum.threshold', 'network.rpe_override_after', 'network.rpe_override_to',
          'env.reward', 'env.invalid_reward', 'env.fixation_reward', 'env.correct_reward',
          'env.wrong_reward'}
NAME_LISTS = {'agent.freeze'}
PROBABILITIES = {'agent.gamma', 'agent.tau', 'agent.gae_lambda', 'env.iti_p'}
POSITIVE = re.compile(r'(_timeout_s|_lr|^agent\.learning_rate|_eps|initial_alpha)$')

SETTINGS = dict(derandomize=True, deadline=None, database=None)


def get_config(name: str) -> ml_collections.ConfigDict:
  return runpy.run_path(os.path.join(CONFIGS, f'{name}.py'))['get_config']()


def leaves(config, prefix=''):
  """(path, type, default) of every field, sections walked."""
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      yield from leaves(value, prefix + key + '.')
    else:
      yield prefix + key, config_path.get_type(key, config), value


def sections(config, prefix=''):
  yield prefix
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      yield from sections(value, prefix + key + '.')


FIELDS = [(name, field, kind, default) for name in NAMES
          for field, kind, default in leaves(get_config(name))]
SECTIONS = [(name, section) for name in NAMES for section in sections(get_config(name))]


def fields(*kinds, where=lambda field: True):
  found = [(n, f) for n, f, kind, _ in FIELDS if kind in kinds and where(f)]
  assert found
  return st.sampled_from(found)


def _choice_lists():
  """The names the rules allow anywhere: every choice field's, and the registries'."""
  tables = [entry.fields for _, entry in envs.ENVS.items()]
  tables += [fields for _, spec in AGENTS.items() for fields in spec.fields.values()]
  tables += [validation.LAUNCH, curriculum.FIELDS]
  lists = [rule.choices for table in tables for rule in table.values() if rule.choices]
  return lists + [validation.MODES, envs.ENVS.names(), AGENTS.names()]


CHOICE_LISTS = _choice_lists()


def _field_choices():
  """field path -> the choice lists its rules allow (an env field: one per env that has it)."""
  out = {}
  tables = [('env.', entry.fields) for _, entry in envs.ENVS.items()]
  tables += [(f'{section}.', fields) for _, spec in AGENTS.items()
             for section, fields in spec.fields.items()]
  tables += [('launch.', validation.LAUNCH), ('curriculum.', curriculum.FIELDS)]
  for prefix, table in tables:
    for key, rule in table.items():
      if rule.choices:
        out.setdefault(prefix + key, []).append(tuple(rule.choices))
  return out


FIELD_CHOICES = _field_choices()
# any string: a name, a path, an address or a project
FREE_TEXT = re.compile(r'(^name|_path|_dir|_address|_project)$')
CHOICES = [(n, f, default) for n, f, kind, default in FIELDS
           if kind is str and not FREE_TEXT.search(f)]


def _known_names():
  known = {name for names in CHOICE_LISTS for name in names}
  known |= {default for _, _, _, default in FIELDS if isinstance(default, str)}
  env = envs.make(get_config('class_query').env)  # the curriculum's fields and metrics
  known |= set(param_fields(env.default_params())) | set(curriculum.metric_names(env))
  return known


KNOWN_NAMES = _known_names()
IDENTIFIERS = st.from_regex(r'[a-z][a-z0-9_]{0,14}', fullmatch=True)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
  """A params file for the eval configs, and paths for the run_dir and params tests."""
  root = tmp_path_factory.mktemp('validation')
  params = root / 'params.pickle'
  params.write_bytes(b'validation only checks that it exists')
  (root / 'full').mkdir()
  (root / 'full' / 'log.txt').write_text('another run\n')
  (root / 'empty').mkdir()
  return root


def command_line(name: str, files, *overrides: str) -> list:
  argv = ['main.py', f'--config={CONFIGS}/{name}.py']
  if name in EVAL:
    argv.append(f'--config.params_path={files / "params.pickle"}')
  return argv + list(overrides)


def refused(name: str, files, *overrides: str) -> str:
  """The one-line message with which load_config refuses the command line."""
  with pytest.raises(SystemExit) as exit_:
    config = main.load_config(command_line(name, files, *overrides))
    print('accepted:', config)
  message = exit_.value.code
  assert isinstance(message, str), message
  assert message.startswith('metarl: ') and '\n' not in message, message
  assert 'Traceback' not in message
  return message


def loads_or_is_refused(name: str, files, *overrides: str) -> None:
  """Validates or exits with one line; a value that passes must not overflow in validation's
  own use of it (numpy warns on a cast to inf; that warning is an error here)."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('error', RuntimeWarning)
      config = main.load_config(command_line(name, files, *overrides))
  except SystemExit as e:
    message = e.code
    assert isinstance(message, str) and message.startswith('metarl: '), message
    assert '\n' not in message and 'Traceback' not in message, message
  else:
    assert isinstance(config, ml_collections.ConfigDict)


def test_every_config_loads_as_it_is(files):
  for name in NAMES:
    assert main.load_config(command_line(name, files)).mode in ('train', 'eval', 'play')


@settings(max_examples=150, **SETTINGS)
@given(where=st.sampled_from(SECTIONS), unknown=IDENTIFIERS, nested=st.booleans(),
       value=st.sampled_from(['1', 'x', '0.5', 'True', '']))
def test_unknown_fields_are_refused(files, where, unknown, nested, value):
  name, section = where
  config = get_config(name)
  node = config_path.get_value(section[:-1], config) if section else config
  assume(unknown not in node)
  field = section + unknown + ('.deeper' if nested else '')
  message = refused(name, files, f'--config.{field}={value}')
  assert f'--config.{field}' in message and 'has no field' in message


def _not_a_number(text: str) -> bool:
  try:
    float(text)
  except ValueError:
    return True
  return False


WORDS = st.from_regex(r'[a-z][a-z ,]{0,10}', fullmatch=True).filter(_not_a_number)
BOOL_WORDS = {'true', 'false', 't', 'f', '1', '0', 'yes', 'no', 'y', 'n', 'on', 'off'}


@settings(max_examples=200, **SETTINGS)
@given(data=st.data())
def test_values_of_the_wrong_type_are_refused(files, data):
  name, field = data.draw(fields(int, float, bool, tuple, where=lambda f: f not in NAME_LISTS))
  kind = config_path.get_type(field, get_config(name))
  if kind is int:
    value = data.draw(WORDS | st.floats(allow_nan=False).filter(
        lambda x: not x.is_integer()).map(repr), label='value')
  elif kind is bool:
    value = data.draw(st.integers().filter(lambda i: i not in (0, 1)).map(str) |
                      WORDS.filter(lambda w: w.lower() not in BOOL_WORDS), label='value')
  else:  # a word for a number, or words for a list of numbers
    value = data.draw(WORDS, label='value')
  assert f'config.{field}' in refused(name, files, f'--config.{field}={value}')


@settings(max_examples=150, **SETTINGS)
@given(where=fields(int), value=st.integers(max_value=-1))
def test_negative_counts_are_refused(files, where, value):
  name, field = where
  assert f'config.{field}' in refused(name, files, f'--config.{field}={value}')


@settings(max_examples=100, **SETTINGS)
@given(where=fields(int, where=lambda f: f not in ZERO_OK) |
       fields(float, where=lambda f: POSITIVE.search(f) and f not in ZERO_OK))
def test_zero_is_refused_for_sizes_steps_timeouts_and_rates(files, where):
  name, field = where
  assert f'config.{field}' in refused(name, files, f'--config.{field}=0')


@settings(max_examples=150, **SETTINGS)
@given(where=fields(float), value=st.sampled_from(['nan', 'inf', '-inf', '1e999', '-1e999',
                                                   'NaN', 'Infinity']))
def test_non_finite_reals_are_refused(files, where, value):
  name, field = where
  assert f'config.{field}' in refused(name, files, f'--config.{field}={value}')


@settings(max_examples=100, **SETTINGS)
@given(where=fields(float, where=lambda f: f not in SIGNED),
       value=st.floats(max_value=-1e-6, allow_infinity=False, allow_nan=False))
def test_negative_reals_are_refused(files, where, value):
  name, field = where
  assert f'config.{field}' in refused(name, files, f'--config.{field}={value!r}')


@settings(max_examples=100, **SETTINGS)
@given(where=fields(float), value=st.floats(min_value=3.5e38, allow_infinity=False),
       sign=st.sampled_from([1, -1]))
def test_reals_beyond_float32_are_refused(files, where, value, sign):
  name, field = where
  assert f'config.{field}' in refused(name, files, f'--config.{field}={sign * value!r}')


def _is_probability(field: str) -> bool:
  return field in PROBABILITIES or 'prob' in field.rsplit('.', 1)[-1]


@settings(max_examples=100, **SETTINGS)
@given(where=fields(float, where=_is_probability),
       value=st.floats(min_value=1.0, max_value=1e6, exclude_min=True))
def test_probabilities_above_one_are_refused(files, where, value):
  name, field = where
  assert f'config.{field}' in refused(name, files, f'--config.{field}={value!r}')


@settings(max_examples=150, **SETTINGS)
@given(where=st.sampled_from(CHOICES), unknown=IDENTIFIERS)
def test_unknown_names_for_choice_fields_are_refused(files, where, unknown):
  name, field, default = where
  assume(unknown not in KNOWN_NAMES)
  message = refused(name, files, f'--config.{field}={unknown}')
  assert f'config.{field}' in message, message
  if field.startswith('env.') and default is None and 'has no such field' in message:
    return  # a placeholder field (eval, play, train.py) of another env than the config's
  assert 'allowed values are' in message, message
  lists = FIELD_CHOICES.get(field, [])
  if lists:  # the names validation allows for this field are listed
    assert any(all(repr(n) in message for n in names) for names in lists), message


PATH_FIELDS = [(n, f) for n, f, _, _ in FIELDS if f.endswith('params_path')]


@settings(max_examples=50, **SETTINGS)
@given(where=st.sampled_from(PATH_FIELDS), missing=IDENTIFIERS, as_dir=st.booleans())
def test_params_paths_must_be_existing_files(files, where, missing, as_dir):
  name, field = where
  path = files / 'empty' if as_dir else files / 'nowhere' / f'{missing}.pickle'
  assert f'config.{field}' in refused(name, files, f'--config.{field}={path}')


@settings(max_examples=60, **SETTINGS)
@given(name=st.sampled_from(NAMES), kind=st.sampled_from(['file', 'under_file', 'full']))
def test_run_dir_must_be_a_new_or_empty_directory(files, name, kind):
  run_dir = {'file': files / 'params.pickle', 'under_file': files / 'params.pickle' / 'run',
             'full': files / 'full'}[kind]
  assert 'config.run_dir' in refused(name, files, f'--config.run_dir={run_dir}')


RESUMABLE = [n for n in TRAIN if 'resume' in get_config(n)]


@settings(max_examples=40, **SETTINGS)
@given(name=st.sampled_from(RESUMABLE), run_dir=st.sampled_from(['', 'empty', 'missing',
                                                                   'full', 'params.pickle']))
def test_resume_needs_a_run_dir_with_a_checkpoint(files, name, run_dir):
  path = str(files / run_dir) if run_dir else ''
  message = refused(name, files, '--config.resume=True', f'--config.run_dir={path}')
  assert 'config.run_dir' in message


def test_an_unwritable_run_dir_is_refused(files, monkeypatch):
  locked = files / 'locked'
  locked.mkdir(exist_ok=True)
  os.chmod(locked, 0o500)
  try:
    if os.access(locked, os.W_OK):  # root writes anywhere: let access() say what it would
      real_access = os.access
      monkeypatch.setattr(os, 'access', lambda path, mode, **kw: False if os.path.abspath(
          path) == str(locked) else real_access(path, mode, **kw))
    for name in NAMES:
      message = refused(name, files, f'--config.run_dir={locked / "run"}')
      assert 'config.run_dir' in message and 'not writable' in message
  finally:
    os.chmod(locked, 0o700)


def _as_argument(value) -> str:
  if isinstance(value, float):
    return repr(value)
  if isinstance(value, list):
    return ','.join(_as_argument(v) for v in value)
  return str(value)


TEXT = st.text(st.characters(codec='utf-8', exclude_characters='\x00'), max_size=12)
SCALARS = st.integers() | st.floats() | TEXT | st.booleans() | st.sampled_from(
    ['true', 'false', 'None', '()', '[]', '{}', "{'a': 1}", '(1, 2)', "('a',)", '-0'])
VALUES = SCALARS.map(_as_argument) | st.lists(
    st.integers(-3, 300) | st.floats(-2, 2) | IDENTIFIERS, max_size=4).map(_as_argument)


@settings(max_examples=800, **SETTINGS)
@given(where=st.sampled_from([(n, f) for n, f, _, _ in FIELDS]), value=VALUES,
       spelling=st.sampled_from(['--config.{}={}', '-config.{}={}']))
def test_any_override_validates_or_exits_with_one_clean_line(files, where, value, spelling):
  name, field = where
  loads_or_is_refused(name, files, spelling.format(field, value))


@settings(max_examples=200, **SETTINGS)
@given(name=st.sampled_from(NAMES), overrides=st.lists(
    st.tuples(st.sampled_from(sorted({f for _, f, _, _ in FIELDS})), VALUES), max_size=3))
def test_any_overrides_together_validate_or_exit_with_one_clean_line(files, name, overrides):
  loads_or_is_refused(name, files, *[f'--config.{f}={v}' for f, v in overrides])


@pytest.mark.parametrize('argv,expected', [
    ([], '--config=FILE is required'),
    (['--config=/nonexistent/x.py'], 'gives no config'),
    ([f'--config={ROOT}/README.md'], 'gives no config'),
    ([f'--config={CONFIGS}/bandit_train.py:x'], 'gives no config'),
    ([f'--config={CONFIGS}/bandit_train.py', 'positional'], 'unexpected arguments'),
    (['--config.seed=1', f'--config={CONFIGS}/bandit_train.py'], 'config.seed'),
    ([f'--config={CONFIGS}/bandit_train.py', '--nope=1'], "'nope'"),
    ([f'--config={CONFIGS}/bandit_train.py', '--config.seed'], 'config.seed'),
    ([f'--config={CONFIGS}/bandit_train.py', "--config.env={'name': 'bandit'}"],
     '--config.env: a whole section cannot be replaced'),
    ([f'--config={CONFIGS}/bandit_train.py', '--config.network.torso_sizes[0]=2'],
     'config.network.torso_sizes[0]'),
    ([f'--config={CONFIGS}/memory_sac.py', '--config.network.hidden_sizes[0]=2'],
     'config.network.hidden_sizes[0]'),
    ([f'--config={CONFIGS}/pendulum_sac.py', '--config.agent.target_entropy=-1'],
     'config.agent.target_entropy'),
    ([f'--config={CONFIGS}/value_td.py', '--config.agent.freeze=('],
     'config.agent.freeze'),
    ([f'--config={CONFIGS}/bandit_train.py', '--config.name=a/b'], 'config.name'),
    ([f'--config={CONFIGS}/bandit_train.py', f'--config.seed={2**32}'], 'config.seed'),
    ([f'--config={CONFIGS}/value_td.py', f'--config.seed={2**32 - 2}'], 'config.num_seeds'),
])
def test_bad_command_lines_give_one_line(argv, expected):
  with pytest.raises(SystemExit) as exit_:
    main.load_config(['main.py', *argv])
  message = exit_.value.code
  assert message.startswith('metarl: ') and '\n' not in message, message
  assert expected in message, message


def test_a_disabled_curriculum_is_still_checked(files):
  message = refused('class_query', files, '--config.curriculum.enabled=False',
                    '--config.curriculum.window=0')
  assert 'config.curriculum.window' in message


def test_eval_env_overrides_are_checked_before_the_params_are_read(files):
  assert 'config.env.num_arms' in refused('eval', files, '--config.env.num_arms=1')
  assert 'config.env.name' in refused('eval', files, '--config.env.name=slots')
  config = main.load_config(command_line('eval', files, '--config.env.num_arms=3'))
  assert config.env.num_arms == 3 and config.env.name is None
