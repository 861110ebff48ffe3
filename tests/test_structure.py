"""The house plan holds: names live in one place each, and no module imports one that imports
it back.

Agent names are known to the agents' registry, env names to the envs' registry, backend
names to the backends' table. Anywhere else in the project's code (metarl/, launch/,
configs/, main.py) a comparison with one of them, or a table keyed by them, is a door that
a new component would have to be added to by hand: this test finds them.
"""

import ast
import os

from launch.backends import BACKENDS
from metarl.agents.registry import AGENTS
from metarl.envs import ENVS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ('metarl', 'launch', 'configs', 'main.py')
# The one place each kind of name is listed.
TABLES = {os.path.join('launch', 'backends', '__init__.py'): set(BACKENDS)}


def python_files():
  for top in SOURCES:
    path = os.path.join(ROOT, top)
    if path.endswith('.py'):
      yield path
      continue
    for folder, _, names in os.walk(path):
      yield from (os.path.join(folder, n) for n in sorted(names) if n.endswith('.py'))


def literals(node):
  """The string constants of a node that is a constant or a tuple / list / set of them."""
  if isinstance(node, ast.Constant) and isinstance(node.value, str):
    return [node.value]
  if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
    return [v for e in node.elts for v in literals(e)]
  return []


def name_uses(tree, names):
  """(line, name, how) of every comparison with, or table keyed by, one of `names`."""
  for node in ast.walk(tree):
    if isinstance(node, ast.Compare):
      for operand in [node.left, *node.comparators]:
        for value in literals(operand):
          if value in names:
            yield node.lineno, value, 'compared'
    elif isinstance(node, ast.Dict):
      for key in node.keys:
        for value in literals(key) if key is not None else []:
          if value in names:
            yield node.lineno, value, 'a table key'


def test_component_names_appear_only_in_their_registries():
  names = set(ENVS.names()) | set(AGENTS.names()) | set(BACKENDS)
  found = []
  for path in python_files():
    rel = os.path.relpath(path, ROOT)
    with open(path) as f:
      tree = ast.parse(f.read(), path)
    allowed = TABLES.get(rel, set())
    found += [f'{rel}:{line}: {name!r} {how}' for line, name, how in name_uses(tree, names)
              if name not in allowed]
  assert not found, 'component names outside their registries:\n' + '\n'.join(found)


def test_the_scan_finds_what_it_looks_for():
  tree = ast.parse("if config.agent.name == 'a3c': pass\n"
                   "WORDS = {'bandit': 1}\n"
                   "ok = name in ('mp', 'other')\n")
  assert sorted(v for _, v, _ in name_uses(tree, {'a3c', 'bandit', 'mp'})) == [
      'a3c', 'bandit', 'mp']


def module_name(path: str) -> str:
  rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
  return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def imported(path: str, modules) -> set:
  """The project modules a file imports (at the top or inside functions)."""
  package = module_name(path) if path.endswith('__init__.py') else module_name(
      path).rpartition('.')[0]
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      targets = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        parts = package.split('.')[:len(package.split('.')) - node.level + 1]
        base = '.'.join(p for p in parts + [base] if p)
      # `from package import module` imports that module; other names, the package
      subs = [f'{base}.{a.name}' for a in node.names]
      targets = [t for t in subs if t in modules]
      if len(targets) < len(subs):
        targets.append(base)
    else:
      continue
    for target in targets:
      while target and target not in modules:
        target = target.rpartition('.')[0]
      if target:
        found.add(target)
  return found - {module_name(path)}


def test_no_module_imports_one_that_imports_it_back():
  paths = {module_name(p): p for p in python_files()}
  graph = {m: imported(p, paths) for m, p in paths.items()}

  def reaches(start, goal, seen):
    for nxt in graph[start]:
      if nxt == goal:
        return True
      if nxt not in seen:
        seen.add(nxt)
        if reaches(nxt, goal, seen):
          return True
    return False

  cycles = sorted(m for m in graph if reaches(m, m, set()))
  assert not cycles, f'modules on an import cycle: {cycles}'
