"""Acting with the policy-value network: sample from the softmax policy."""

from metarl.networks.policy_value import PolicyValueNetworks, sample_action
from metarl.rollout import Actor


def make_actor(networks: PolicyValueNetworks, record: bool = False) -> Actor:
  """An actor that samples a ~ softmax(logits).

  Args:
    networks: the policy-value network.
    record: report logits, value and the core activity `hidden` of every step in the
      trajectory's extras (for analyses); off in training, where nothing reads them.
  """

  def step(params, key, timestep, state):
    out, state = networks.step(params, timestep.observation, timestep.first, state)
    action = sample_action(key, out.logits)
    extras = dict(logits=out.logits, value=out.value, hidden=out.hidden) if record else {}
    return action, extras, state

  return Actor(initial_state=networks.initial_state, step=step)
