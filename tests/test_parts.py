"""The parts a checkpoint holds (launch/trainers/parts.py): each restores what it saved, and
refuses in one line, naming the file, what does not fit."""


import jax.numpy as jnp
import numpy as np
import pytest

from launch.trainers.parts import Counters, Schedule, Tree
from metarl.io import RunFileError


def test_the_schedule_evaluates_and_checkpoints_on_its_cadence_and_goes_on_after_a_restore():
  schedule = Schedule(eval_every=100, checkpoint_every=300)
  due = [p for p in range(0, 1000, 50) if schedule.evaluation_due(p, version=p, final=False)]
  assert due == list(range(100, 1000, 100))
  # the final evaluation: only if the newest params were not evaluated already
  assert not schedule.evaluation_due(950, version=900, final=True)
  assert schedule.evaluation_due(950, version=950, final=True)
  assert [s for s in range(0, 1000, 250) if schedule.checkpoint_due(s)] == [500, 750]
  saved = schedule.save()
  assert saved['next_eval'] == 1000 and saved['next_checkpoint'] == 900
  assert saved['last_eval_version'] == 950
  later = Schedule(eval_every=100, checkpoint_every=300)
  later.restore(dict(saved, elapsed=60.0), 'ckpt')
  assert later.save()['next_checkpoint'] == 900 and later.next_eval == 1000
  assert 59.9 < later.elapsed() < 70  # the clock goes on from the saved 60 s
  off = Schedule(eval_every=100, checkpoint_every=None)  # resumed with checkpoint_every=0
  off.restore(saved, 'ckpt')
  assert off.next_checkpoint is None and not off.checkpoint_due(10**9)
  turned_on = Schedule(eval_every=100, checkpoint_every=400)  # a run that had none
  turned_on.restore(dict(saved, next_checkpoint=None), 'ckpt')
  assert turned_on.next_checkpoint == 400
  with pytest.raises(RunFileError, match='^ckpt: its schedule is not one this metarl wrote'):
    Schedule(100, 300).restore({'next_eval': 1}, 'ckpt')


def test_a_tree_restores_into_the_structure_it_holds_or_its_template():
  fresh = {'w': jnp.zeros((2, 3)), 'b': jnp.zeros(3, jnp.int32)}
  trained = {'w': jnp.ones((2, 3)), 'b': jnp.arange(3, dtype=jnp.int32)}
  learner = Tree('learner state', trained)
  restored = Tree('learner state', fresh)
  restored.restore(learner.save(), 'ckpt')
  np.testing.assert_array_equal(restored.state['b'], [0, 1, 2])
  with pytest.raises(RunFileError, match='^ckpt: holds no learner state$'):
    restored.restore(None, 'ckpt')
  with pytest.raises(RunFileError, match='^ckpt: its learner state does not fit this config'):
    restored.restore(learner.save()[:1], 'ckpt')
  # a state made when training starts: None until then, restored into a fresh template
  rollout = Tree('rollout state', template=lambda: fresh)
  assert rollout.save() is None
  rollout.restore(learner.save(), 'ckpt')
  np.testing.assert_array_equal(rollout.state['w'], np.ones((2, 3)))
  rollout.restore(None, 'ckpt')
  assert rollout.state is None
  workers = Tree('rollout state', template=lambda: fresh, wanted=False)  # acting elsewhere
  workers.restore(learner.save(), 'ckpt')
  assert workers.state is None


def test_counters_come_back_as_the_trainer_holds_them():
  class Owner:
    calls, epoch = 7, 3

  owner = Owner()
  saved = Counters(owner, ('calls', 'epoch')).save()
  assert saved == {'calls': 7, 'epoch': 3}
  other = Owner()
  other.calls = other.epoch = 0
  Counters(other, ('calls', 'epoch')).restore({'calls': np.int64(7), 'epoch': 3}, 'ckpt')
  assert (other.calls, other.epoch) == (7, 3) and type(other.calls) is int
  with pytest.raises(RunFileError, match=r"^ckpt: its counters do not fit this run \(KeyError"):
    Counters(other, ('calls', 'epoch')).restore({'calls': 1}, 'ckpt')
