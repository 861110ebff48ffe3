"""Value RNN trained with TD(0) on cue-to-reward timing trials (value-rnn-td).

Two cues with reward delays 10 and 15 steps, ITI ~ Geometric(0.5) (>= 1, truncated at 10),
an LSTM with 2 units read out as Vhat(t) = sum_j relu(h_j(t)), gamma 0.5, Adam 0.003,
minibatches of 12 from a set of 100 trials, 10 seeds trained together (one vmapped call).

    python main.py --config=configs/value_td.py
    python main.py --config=configs/value_td.py --config.env.cue_delays=5,10,15 \
        --config.network.readout=linear --config.num_seeds=1
"""

import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  config = common.run('value_td')
  config.num_seeds = 10  # seeds seed, seed+1, ... trained side by side (vmapped)
  config.init_params_path = ''  # a params.pickle to start from (fine-tuning)
  common.checkpoints(config, every=1_000_000)  # env steps per seed between checkpoints

  config.env = ml_collections.ConfigDict()
  config.env.name = 'cue_reward'
  config.env.cue_delays = (10, 15)  # one reward delay per cue (any number of cues)
  config.env.cue_probs = ()  # () = equally likely
  config.env.iti_distribution = 'geometric'  # geometric | uniform | fixed
  config.env.iti_p = 0.5  # geometric success probability
  config.env.iti_min = 1
  config.env.iti_max = 10  # geometric ITIs are truncated here
  config.env.delay_jitter = 0  # delay + uniform integer in [-jitter, jitter]
  config.env.omission_prob = 0.0  # probability that a trial's reward is left out
  config.env.reward_in_observation = True  # input at t: [cue one-hot, r(t)]

  config.network = ml_collections.ConfigDict()
  config.network.core = 'lstm'  # lstm | gru | lru (linear recurrence, parallel scan)
  config.network.core_layers = 1  # stacked layers (lru only)
  config.network.init = 'haiku'  # haiku | pytorch (a gru core as PyTorch's nn.GRU)
  config.network.hidden_size = 2
  config.network.readout = 'relu_sum'  # relu_sum (Vhat = sum relu(h)) | linear
  config.network.cell_bias = 2.0  # initial candidate-cell bias: every unit starts active

  config.agent = ml_collections.ConfigDict()
  config.agent.name = 'td'
  config.agent.gamma = 0.5
  config.agent.optimizer = 'adam'  # adam | rmsprop
  config.agent.learning_rate = 0.003
  config.agent.learning_rate_end = 0.0003
  config.agent.learning_rate_schedule = 'constant'  # constant | linear (to learning_rate_end)
  config.agent.optimizer_eps = 1e-8
  config.agent.max_grad_norm = 0.0  # 0 = no clipping
  config.agent.num_trials = 100  # trials per epoch
  config.agent.resample_trials = True  # True: new trials every epoch; False: one fixed set
  config.agent.batch_size = 12
  config.agent.epochs = 2000
  config.agent.freeze = ()  # groups kept fixed: core, readout (or regexes over param paths)

  # td trains every seed in the manager (vmapped) and evaluates there: no children
  config.launch = common.launch(num_evaluators=0)

  config.log_every_epochs = 100
  config.eval = ml_collections.ConfigDict()
  config.eval.every_epochs = 200
  config.eval.num_episodes = 200  # evaluation trials (the same for every seed)
  config.eval.analyze_at_end = True  # value_data.pickle, value.png, hidden.png in run_dir

  config.log = common.log()
  return config
