"""metarl: fast JAX training of recurrent and meta-RL agents.

`metarl.train`, `metarl.evaluate` and `metarl.load` (`metarl.api`) run configs from Python;
`metarl.runs` reads run folders into pandas. They are imported when first used, so a
process that imports a part of metarl (a worker) does not import them.
"""

_API = ('train', 'evaluate', 'load', 'UsageError')


def __getattr__(name):
  if name in _API:
    from metarl import api
    return getattr(api, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
  return sorted(list(globals()) + list(_API))
