"""The rule kit of config fields: what a field allows, its default, and one-line errors.

A component declares its fields as `{name: rule}` next to the code that uses them (an env's
FIELDS, an agent's FIELDS); validation, defaults, the placeholders of eval and play configs
and the command-line types all derive from that one table. A rule checks one value; a
component's optional cross-field `check(fields)` raises `ConfigError` for values that do not
fit together.
"""

import dataclasses
import functools
import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ml_collections import ConfigDict

INT32_MAX = 2**31 - 1  # counts and sizes end up in int32 arrays (JAX's default integers)
SEED_MAX = 2**32 - 1  # jax.random.PRNGKey keeps 32 bits: a larger seed repeats a smaller one
FLOAT32_MAX = 3.4028234663852886e38  # numbers beyond it are inf in float32 (JAX's default)


class ConfigError(ValueError):
  """A config field holds a value metarl cannot run with."""

  def __init__(self, field: str, value: Any, allowed: str):
    super().__init__(f'config.{field} = {show(value)} is invalid: {allowed}')
    self.field, self.value, self.allowed = field, value, allowed

  def within(self, section: str) -> 'ConfigError':
    """The same error for the field inside `section` ('env': 'num_arms' -> 'env.num_arms')."""
    return ConfigError(f'{section}.{self.field}', self.value, self.allowed)


def show(value: Any) -> str:
  """`repr(value)` on one line (a section as a dict), cut short if very long."""
  if isinstance(value, ConfigDict):
    value = value.to_dict()
  text = repr(value).replace('\n', ' ')
  return text if len(text) <= 300 else text[:297] + '...'


# Predicates -------------------------------------------------------------------------------

def is_int(v) -> bool:
  return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_bool(v) -> bool:
  return isinstance(v, bool)


def is_real(v) -> bool:
  """A number that stays finite in float32."""
  return (isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and
          abs(v) <= FLOAT32_MAX)


def is_path(v) -> bool:
  """A string the OS takes as a path (no NUL byte, encodable in the file system's encoding)."""
  if not isinstance(v, str) or '\0' in v:
    return False
  try:
    os.fsencode(v)
  except UnicodeError:
    return False
  return True


def is_name(v) -> bool:
  """A string usable as one component of a directory name."""
  return (is_path(v) and bool(v.strip()) and v not in ('.', '..') and '/' not in v and
          os.sep not in v)


def is_list(v, ok: Callable[[Any], bool]) -> bool:
  return isinstance(v, (tuple, list)) and all(ok(x) for x in v)


# Rules ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Rule:
  """One field: `ok(value)`, the text of what is allowed, the Python type a command-line
  value is parsed as, the default, and `convert` (the value a component is built with)."""
  ok: Callable[[Any], bool]
  allowed: str
  type: type
  default: Any = None
  convert: Callable[[Any], Any] = lambda v: v
  choices: tuple[str, ...] = ()  # the names a choice field allows

  def check(self, value: Any, field: str) -> Any:
    """`value` if allowed, else `ConfigError` naming `field`."""
    if not self.ok(value):
      raise ConfigError(field, value, self.allowed)
    return value

  def with_default(self, default: Any) -> 'Rule':
    return dataclasses.replace(self, default=default)


def Int(low: int, high: int | None = INT32_MAX, default: Any = None,  # noqa: N802
        why: str = '') -> Rule:
  """An integer >= `low` and, unless `high` is None, <= `high`."""
  most = '' if high is None else f' (at most {high})'
  return Rule(lambda v: is_int(v) and v >= low and (high is None or v <= high),
              f'an integer >= {low}{most} is required{why}', int, default, int)


def IntRange(low: int, high: int, default: Any = None, why: str = '') -> Rule:  # noqa: N802
  """An integer from `low` to `high`, said as such."""
  return Rule(lambda v: is_int(v) and low <= v <= high,
              f'an integer from {low} to {high} is required{why}', int, default, int)


def Real(low: float = -math.inf, high: float = math.inf, low_open: bool = False,  # noqa: N802
         default: Any = None) -> Rule:
  """A number in [low, high] (or (low, high] with `low_open`) that float32 holds."""
  bounds = [f'> {low}' if low_open else f'>= {low}'] if low > -math.inf else []
  bounds += [f'<= {high}'] if high < math.inf else []
  allowed = ' '.join(['a number', ' and '.join(bounds)]).strip()
  if high == math.inf:
    allowed += ' that float32 holds (|x| <= 3.4e38)'
  return Rule(lambda v: is_real(v) and (v > low if low_open else v >= low) and v <= high,
              allowed + ' is required', float, default, float)


def Choice(names: Sequence[str], default: Any = None) -> Rule:  # noqa: N802
  names = tuple(names)
  return Rule(lambda v: isinstance(v, str) and v in names,
              f'allowed values are {list(names)}', str, default, choices=names)


def Bool(default: Any = None) -> Rule:  # noqa: N802
  return Rule(is_bool, 'True or False', bool, default)


def Sizes(default: Any = ()) -> Rule:  # noqa: N802
  """A list of layer sizes, possibly empty (None reads as empty)."""
  return Rule(lambda v: v is None or is_list(v, lambda s: is_int(s) and 1 <= s <= INT32_MAX),
              'a list of layer sizes >= 1 is required (empty for none)', tuple, default,
              lambda v: tuple(v or ()))


def ListOf(ok: Callable[[Any], bool], allowed: str, default: Any = (),  # noqa: N802
           min_len: int = 0, none_ok: bool = False) -> Rule:
  """A list whose items pass `ok` (converted to a tuple; None reads as empty if allowed)."""
  return Rule(lambda v: (none_ok and v is None) or (is_list(v, ok) and len(v) >= min_len),
              allowed, tuple, default, lambda v: tuple(v or ()))


def Custom(ok: Callable[[Any], bool], allowed: str, type_: type, default: Any = None,  # noqa: N802
           convert: Callable[[Any], Any] = lambda v: v) -> Rule:
  return Rule(ok, allowed, type_, default, convert)


# Reading fields ---------------------------------------------------------------------------

def get_field(config, field: str) -> Any:
  """`config.a.b` for field 'a.b'; `ConfigError` if the config file lacks it."""
  node = config
  for part in field.split('.'):
    if not isinstance(node, (ConfigDict, dict)) or part not in node:
      raise ConfigError(field, None, 'the field is missing from the config file')
    node = node[part]
  return node


def check_field(config, field: str, rule: Rule) -> Any:
  return rule.check(get_field(config, field), field)


def section_values(section, fields: Mapping[str, Rule], where: str,
                   what: str, strict: bool = True) -> dict:
  """Every field of `fields`, read from `section` and checked; a missing one, or one left
  None, takes its default. A key of `section` that `fields` lacks is refused unless it is
  None (the unset placeholders of other components), naming `what` has it not ('the bandit
  env'), or `strict` is off (a section that other components share, such as `eval`);
  `where` prefixes field names in errors ('env')."""
  values = {}
  for key, value in section.items():
    if strict and key not in fields and key != 'name' and value is not None:
      raise ConfigError(f'{where}.{key}', value, f'{what} has no such field; its fields are '
                        f'{sorted(fields)}')
  for key, rule in fields.items():
    value = section[key] if key in section and section[key] is not None else rule.default
    values[key] = rule.check(value, f'{where}.{key}')
  return values


@functools.cache
def _section_type(where: str, names: tuple[str, ...]) -> type:
  return dataclasses.make_dataclass(
      f'{where.title().replace("_", "")}Settings', [(name, Any) for name in names],
      frozen=True)


def frozen(where: str, values: Mapping[str, Any]) -> Any:
  """`values` as a frozen dataclass with exactly those fields (`<Where>Settings`)."""
  return _section_type(where, tuple(values))(**values)


def typed(section, fields: Mapping[str, Rule], where: str) -> Any:
  """`section`'s fields of the table `fields`, checked (a missing or None one takes the
  table's default) and converted as the component takes them, as a frozen dataclass with
  exactly those fields. Other keys of the section (its `name`, the fields of the sections
  other components share) are left out."""
  values = section_values(section, fields, where, f'the {where} section', strict=False)
  return frozen(where, {k: fields[k].convert(v) if v is not None else None
                        for k, v in values.items()})
