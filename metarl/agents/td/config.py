"""The TD value agent's config fields, their rules and defaults (value-rnn-td: LSTM(2) read out
as Vhat = sum relu(h), gamma 0.5, Adam 0.003, minibatches of 12 trials from 100), and the
checks between them."""

from metarl import config_rules as rules
from metarl.agents.optim import OPTIMIZER_FIELDS
from metarl.networks.cores import CORE_INITS, CORE_TYPES
from metarl.networks.value import READOUTS

# Names users give in `agent.freeze`, and the parameter paths they stand for.
PARAM_GROUPS = {'core': r'^(lstm|gru|lru)/', 'readout': r'^readout/'}

NETWORK = {
    'core': rules.Choice(CORE_TYPES, default='lstm'),
    'core_layers': rules.Int(1, default=1),  # stacked layers of the core (lru only)
    'hidden_size': rules.Int(1, default=2),
    'readout': rules.Choice(READOUTS, default='relu_sum'),
    'cell_bias': rules.Real(-10.0, 10.0, default=2.0),
    # 'pytorch': a gru core and linear readout as PyTorch's nn.GRU and nn.Linear compute and
    # initialise them (Hennig et al. 2023's networks)
    'init': rules.Choice(CORE_INITS, default='haiku'),
}

AGENT = {
    'gamma': rules.Real(0.0, 1.0, default=0.5),
    **OPTIMIZER_FIELDS,
    'learning_rate': OPTIMIZER_FIELDS['learning_rate'].with_default(0.003),
    'learning_rate_end': OPTIMIZER_FIELDS['learning_rate_end'].with_default(0.0003),
    'learning_rate_schedule': OPTIMIZER_FIELDS['learning_rate_schedule'].with_default(
        'constant'),
    'max_grad_norm': rules.Real(0.0, default=0.0),
    'num_trials': rules.Int(1, default=100),
    'resample_trials': rules.Bool(default=True),
    'batch_size': rules.Int(1, default=12),
    'epochs': rules.Int(1, default=2000),
    # True: params.pickle holds the weights after the epoch of the lowest mean training loss
    # (Hennig et al. 2023), not the last
    'keep_best': rules.Bool(default=False),
    'freeze': rules.ListOf(lambda n: isinstance(n, str),
                           f'a list of parameter groups {list(PARAM_GROUPS)} or regexes over '
                           'parameter paths', default=()),
}

FIELDS = {'agent': AGENT, 'network': NETWORK}


def freeze_patterns(names) -> list:
  """Regexes for `agent.freeze` entries: group names or regexes over parameter paths."""
  return [PARAM_GROUPS.get(n, n) for n in names]


def supports(env):
  if env.spec.num_actions or env.spec.action_dim:
    return 'it predicts value on tasks without actions'
  if not (hasattr(env, 'sample_trials') and hasattr(env, 'true_value')):
    return ('it trains on whole trials: the env needs sample_trials and true_value (as '
            'cue_reward has)')
  return None
