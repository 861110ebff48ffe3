"""Wang, Kurth-Nelson et al. (2018), simulation 5: learning to learn (Harlow 1949), on an
abstract version of the task whose objects are fixed random vectors.

python main.py --config=configs/wang2018_harlow.py        # 8 networks side by side
python main.py --config=configs/eval.py --config.params_path=runs/<run>/params.pickle

The paper's settings (../shared/SCIENCE.md section D): a 3-D task with ImageNet images, an
LSTM of 256 units on a convolutional network, 32 threads, RMSProp at 7.5e-4, gamma 0.91,
entropy cost 0.001, value cost 0.4; trials of a fixation (reward 0.2), a choice between two
objects left and right (+1 for the episode's target, -1 for the other) and an interval; 6
trials an episode; 1,000 training and 1,000 held-out objects. Here the objects are vectors
of 8 numbers from N(0, 1) fed straight to the LSTM (no vision to learn), so the LSTM has
128 units, not 256, to train faster on 2 cores; the interval is 2 steps, the first
of which brings the reward and still shows the two objects (env.objects_at_outcome, as the
paper's screen shows the image looked at when its reward comes). The entropy cost is 0.03,
not the paper's 0.001: with 0.001, 7 of 8 networks settled at 75% correct from trial 2 on
(they kept the object that paid and, after a loss, guessed for the rest of the episode);
with 0.03 most learn to learn (docs/tasks/wang2018.md has the measures). 32 environments per
update play whole episodes of 24 steps, each one unroll whose returns are bootstrapped
over it. The analysis (configs/eval.py, metarl.analysis.harlow) plays the held-out
objects.
"""

import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.run('wang2018_harlow')
  c.num_seeds = 8  # the paper's networks, 8 of them trained side by side
  common.budget(c, total_env_steps=15_000_000, log_every_env_steps=500_000)
  common.checkpoints(c, every=2_000_000)

  c.env = ml_collections.ConfigDict()
  c.env.name = 'harlow'
  c.env.object_dim = 8
  c.env.num_objects = 1000  # training objects; as many more are held out
  c.env.object_set = 'train'  # train | test (the held-out objects)
  c.env.object_seed = 0
  c.env.trials_per_episode = 6
  c.env.iti_steps = 2
  c.env.objects_at_outcome = True  # the outcome step still shows the two objects
  c.env.fixation_reward = 0.2
  c.env.correct_reward = 1.0
  c.env.wrong_reward = -1.0

  c.network = common.network(hidden_size=128)
  c.agent = common.wang2018_a2c(
      num_envs=32, unroll_length=24, n_step=24, gamma=0.91, value_coef=0.4,
      entropy_coef=0.03, entropy_coef_end=0.03, learning_rate=7.5e-4,
      learning_rate_end=7.5e-4)

  c.eval = ml_collections.ConfigDict()
  c.eval.every_env_steps = 500_000
  c.eval.num_episodes = 200
  c.launch = common.launch(updates_per_call=50)
  c.log = common.log()
  return c
