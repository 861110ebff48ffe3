"""Small trained agents that ship with metarl: evaluate one without training first.

    metarl --config=eval --config.params_path=pretrained:bandit
    metarl.evaluate('pretrained:bandit')

Each `<name>.pickle` in this folder is the params.pickle of a run of one of the configs
(the default config, trained to its end; the README's "Pretrained agents" says what each
scored), and `pretrained:<name>` names it wherever a params path is taken. An evaluation
of a pretrained agent writes to a new runs/<time>_eval_<name> folder here, not inside the
package.
"""

import os

PREFIX = 'pretrained:'
FOLDER = os.path.dirname(os.path.abspath(__file__))


def names() -> list[str]:
  """The agents that ship, by name."""
  return sorted(f[:-len('.pickle')] for f in os.listdir(FOLDER) if f.endswith('.pickle'))


def name_of(path: str) -> str | None:
  """The agent's name if `path` is `pretrained:<name>` (or one of the shipped files)."""
  if path.startswith(PREFIX):
    return path[len(PREFIX):]
  if os.path.dirname(os.path.abspath(path)) == FOLDER and path.endswith('.pickle'):
    return os.path.basename(path)[:-len('.pickle')]
  return None


def resolve(path: str) -> str:
  """The file of `pretrained:<name>`; other paths unchanged (an unknown name is returned as
  is: validation then names the shipped ones)."""
  name = name_of(path) if path.startswith(PREFIX) else None
  if name is None or name not in names():
    return path
  return os.path.join(FOLDER, f'{name}.pickle')
