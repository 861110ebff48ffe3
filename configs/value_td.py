"""Value RNN trained with TD(0) on cue-to-reward timing trials (seed 000).

Two cues with reward delays 10 and 15 steps, ITI ~ Geometric(0.5) (>= 1, truncated at 10),
an LSTM with 2 units read out as Vhat(t) = sum_j relu(h_j(t)), gamma 0.5, Adam 0.003,
minibatches of 12 from a set of 100 trials, 10 seeds trained together (one vmapped call).

    python main.py --config=configs/value_td.py
    python main.py --config=configs/value_td.py --config.env.cue_delays=5,10,15 \
        --config.network.readout=linear --config.num_seeds=1
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.name = 'value_td'
  config.mode = 'train'
  config.seed = 0
  config.num_seeds = 10  # seeds seed, seed+1, ... trained side by side (vmapped)
  config.run_dir = ''  # '' -> runs/<time>_<name>
  config.init_params_path = ''  # a params.pickle to start from (fine-tuning)
  config.checkpoint_every = 1_000_000  # env steps (per seed) between checkpoints (0: none)
  config.keep_checkpoints = 3  # newest checkpoints kept in run_dir/checkpoints
  config.resume = False  # True: continue the run in run_dir from its newest checkpoint
  config.max_bad_updates = 100  # updates with NaN/Inf skipped in a row before it stops

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
  config.network.core = 'lstm'  # lstm | gru
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

  config.launch = ml_collections.ConfigDict()
  config.launch.backend = 'mp'  # td runs in the manager on both backends (no children)
  config.launch.num_workers = 0  # td trains in one process; seeds are vmapped instead
  config.launch.num_evaluators = 0  # 0 = evaluate inline (cheap for value RNNs)
  config.launch.queue_timeout_s = 0.5
  config.launch.startup_timeout_s = 300.0

  config.log_every_epochs = 100
  config.eval = ml_collections.ConfigDict()
  config.eval.every_epochs = 200
  config.eval.num_episodes = 200  # evaluation trials (the same for every seed)
  config.eval.analyze_at_end = True  # value_data.pickle, value.png, hidden.png in run_dir

  config.log = ml_collections.ConfigDict()
  # True: train.csv and eval.csv also as TensorBoard scalars in run_dir/tensorboard
  # (to view them: pip install tensorboard; tensorboard --logdir runs/)
  config.log.tensorboard = False
  return config
