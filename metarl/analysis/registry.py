"""Offline analysis of a frozen agent, chosen by environment name."""

from metarl.analysis import bandit, class_query, episodic_two_step, two_step


def analyze(config, env, networks, params, out_dir: str) -> dict:
  """Runs the analysis of `config.env.name` and writes its files into `out_dir`."""
  if config.env.name == 'bandit':
    return bandit.analyze(config, env, networks, params, out_dir)
  if config.env.name == 'episodic_two_step':
    return episodic_two_step.analyze(config, env, networks, params, out_dir)
  if config.env.name == 'two_step':
    return two_step.analyze(config, env, networks, params, out_dir)
  if config.env.name == 'class_query':
    return class_query.analyze(config, env, networks, params, out_dir)
  raise ValueError(f'no offline analysis for config.env.name={config.env.name!r}')
