"""Value RNNs on the tasks of Starkweather et al. (2017), as studied by Hennig et al. (2023),
"Emergence of belief-like representations through reinforcement learning".

One cue; the reward comes 6..14 steps (1.2..2.8 s at 0.2 s a step) after it, with weights of
a Normal(2.0 s, 0.5 s) density. Task 1: every trial is rewarded. Task 2: the reward is
omitted on 10% of trials, and an omitted trial lasts as long as the longest delay. ITI: 10 +
(Geometric(1/8) - 1) steps. Episodes of 20 trials (the state runs through the ITIs), 10,000
trials per network; PyTorch's GRU(50) with its initialisation (network.init) and a linear
readout, gamma 0.93, TD(0), Adam 0.003, batches of 12 episodes, 150 epochs, the weights of
the lowest training loss kept. 12 seeds in one run, split over the CPU cores. At the end,
Hennig et al.'s belief-state analysis (metarl/analysis/beliefs.py: two 1,000-trial sessions,
the first trial of each dropped, noise on the activity) of the trained networks and of the
same networks with their initial weights: beliefs.csv, rpe_by_delay.csv, figures; the same
tables as configs/eval.py on the run's params.pickle.

    python main.py --config=configs/starkweather.py                  # Task 2
    python main.py --config=configs/starkweather.py --config.task=1
"""

import ml_collections

from configs import common

# P(delay = 6..14 steps): a Normal(2.0 s, 0.5 s) density at 1.2..2.8 s, normalised
DELAY_PROBS = (.0477, .0835, .1246, .1584, .1716, .1584, .1246, .0835, .0477)


def get_config(task: str = '2') -> ml_collections.ConfigDict:
  if str(task) not in ('1', '2'):
    raise ValueError(f"Starkweather's tasks are 1 and 2 (configs/starkweather.py:1), not "
                     f'{task!r}')
  task = str(task)
  config = common.run(f'starkweather_task{task}')
  config.num_seeds = 12  # seeds seed, seed+1, ... trained side by side (vmapped)
  config.init_params_path = ''
  common.checkpoints(config, every=0)

  config.env = ml_collections.ConfigDict()
  config.env.name = 'cue_reward'
  config.env.cue_delays = (10,)
  config.env.delay_offsets = (-4, -3, -2, -1, 0, 1, 2, 3, 4)  # delays 6..14 steps
  config.env.delay_offset_probs = DELAY_PROBS
  config.env.cue_probs = ()
  config.env.delay_jitter = 0
  config.env.iti_distribution = 'geometric'
  config.env.iti_p = 1 / 8
  config.env.iti_min = 10
  config.env.iti_max = 150  # the geometric tail past it is below 1e-8
  config.env.omission_prob = 0.1 if task == '2' else 0.0
  config.env.omission_length = 'longest'
  config.env.trials_per_episode = 20
  config.env.reward_in_observation = True

  config.network = ml_collections.ConfigDict()
  config.network.core = 'gru'
  config.network.core_layers = 1  # stacked layers (lru only)
  config.network.hidden_size = 50
  config.network.readout = 'linear'
  config.network.cell_bias = 0.0
  config.network.init = 'pytorch'  # PyTorch's GRU and its initialisation, as the paper's

  config.agent = ml_collections.ConfigDict()
  config.agent.name = 'td'
  config.agent.gamma = 0.93
  config.agent.optimizer = 'adam'
  config.agent.learning_rate = 0.003
  config.agent.learning_rate_end = 0.003
  config.agent.learning_rate_schedule = 'constant'
  config.agent.optimizer_eps = 1e-8
  config.agent.max_grad_norm = 0.0
  config.agent.num_trials = 500  # episodes of 20 trials: 10,000 trials per network
  config.agent.resample_trials = False  # one training set, as in the paper
  config.agent.batch_size = 12
  config.agent.epochs = 150
  config.agent.keep_best = True  # params.pickle: the weights of the lowest epoch loss
  config.agent.freeze = ()

  config.launch = common.launch(num_evaluators=0)

  config.log_every_epochs = 10
  config.eval = ml_collections.ConfigDict()
  config.eval.every_epochs = 50
  config.eval.num_episodes = 50  # evaluation episodes (1,000 trials)
  config.eval.analyze_at_end = True

  config.log = common.log()
  return config
