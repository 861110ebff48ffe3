"""Frozen-weight analysis of an episodic or incremental agent on the episodic two-step task
(Ritter et al. 2018; seed 002) from its params.pickle.

    python main.py --config=configs/episodic_two_step_eval.py \
        --config.params_path=runs/RUN/params.pickle

Writes into a new `<time>_eval` folder beside the params (or `config.run_dir`):
eval_data.pickle, stay_probability.csv (uncued, cued and episodic analyses),
reward_per_trial.csv (cued vs uncued) and stay_probability.png. Every other field is that
of configs/two_step_eval.py.
"""

import os
import runpy

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  two_step = runpy.run_path(os.path.join(os.path.dirname(__file__), 'two_step_eval.py'))
  c = two_step['get_config']()
  c.name = 'episodic_two_step_eval'
  c.env.context_size = config_dict.placeholder(int)
  return c
