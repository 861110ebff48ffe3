"""value-rnn-td's training recipe in PyTorch, to time metarl against it on the same machine.

Written for this benchmark from value-rnn-td's description (not its code): 2 cues with reward
delays 10 and 15, ITI ~ Geometric(0.5), one fixed set of 100 trials (50 per cue), minibatches
of 12 padded trials through a packed LSTM(2), Vhat = sum relu(h), the loss of V(t) -
gamma V(t+1) against r(t) summed trial by trial over the unpadded steps, Adam 0.003. One
seed, a fixed number of epochs (no early stopping), run in one process.

    /path/to/torch/python benchmarks/torch_value_td.py --epochs=2000 --seed=0

Prints one JSON line: {"seed", "epochs", "seconds", "final_loss"}. PyTorch is not a metarl
dependency; `benchmarks/value_td.py --torch_python=...` runs this in another environment.
"""

import argparse
import json
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence


def make_trials(rng, delays=(10, 15), per_cue=50):
  trials = []
  for cue in np.tile(np.arange(len(delays)), per_cue):
    iti = rng.geometric(0.5)
    x = np.zeros((iti + delays[cue] + 2, len(delays) + 1), np.float32)
    x[iti, cue] = 1.0
    x[iti + delays[cue], -1] = 1.0
    trials.append(x)
  return trials


class ValueLSTM(nn.Module):

  def __init__(self, inputs, hidden):
    super().__init__()
    self.rnn = nn.LSTM(inputs, hidden)

  def forward(self, packed):
    out, _ = self.rnn(packed)
    out, _ = pad_packed_sequence(out)
    return torch.relu(out).sum(-1)  # [T, B]


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--epochs', type=int, default=2000)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--batch_size', type=int, default=12)
  parser.add_argument('--gamma', type=float, default=0.5)
  args = parser.parse_args()
  torch.manual_seed(args.seed)
  torch.set_num_threads(1)
  trials = make_trials(np.random.default_rng(args.seed))
  model = ValueLSTM(trials[0].shape[1], 2)
  optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
  batches = []
  for i in range(0, len(trials), args.batch_size):
    chunk = [torch.from_numpy(t) for t in trials[i:i + args.batch_size]]
    lengths = [len(t) for t in chunk]
    x = pad_sequence(chunk)  # [T, B, D]; the input holds r(t) as its last channel
    batches.append((x, x[..., -1], lengths))
  start = time.time()
  loss_value = float('nan')
  for _ in range(args.epochs):
    for x, r, lengths in batches:
      value = model(pack_padded_sequence(x, lengths, enforce_sorted=False))
      pred = value[:-1] - args.gamma * value[1:]
      loss = 0.0
      for b, length in enumerate(lengths):
        loss = loss + ((pred[:length - 1, b] - r[:length - 1, b]) ** 2).mean()
      loss = loss / len(lengths)
      optimizer.zero_grad()
      loss.backward()
      optimizer.step()
      loss_value = float(loss.detach())
  print(json.dumps(dict(seed=args.seed, epochs=args.epochs, seconds=time.time() - start,
                        final_loss=loss_value)))


if __name__ == '__main__':
  main()
