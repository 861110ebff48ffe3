"""Haiku cores and heads; factories return pure init/apply/unroll functions."""

from metarl.networks.cores import CORE_TYPES, make_core
from metarl.networks.policy_value import (
                                          PolicyValueNetworks,
                                          PolicyValueOutput,
                                          make_policy_value_networks,
)

__all__ = ['CORE_TYPES', 'make_core', 'PolicyValueNetworks', 'PolicyValueOutput',
           'make_policy_value_networks']
