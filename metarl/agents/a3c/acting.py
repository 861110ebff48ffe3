"""Acting with the policy-value network: sample from the softmax policy (the actor every
recurrent actor-critic agent shares, `metarl.agents.actor_critic`)."""

from metarl.agents.actor_critic import make_actor

__all__ = ['make_actor']
