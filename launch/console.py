"""What a run shows a person: the log file that gets every row and message, and the one-line
progress display on the console."""

import logging as py_logging
import sys
from typing import Any

from absl import logging


def add_log_file(path: str):
  """Sends absl logging (INFO and up) to `path`; returns the handler (remove it when done).

  The console keeps only warnings and errors (the progress line is the console's); the log
  file has every row and message.
  """
  handler = py_logging.FileHandler(path)
  handler.setFormatter(logging.PythonFormatter())
  handler.setLevel(py_logging.INFO)
  logging.get_absl_logger().addHandler(handler)
  logging.set_verbosity(logging.INFO)
  return handler


class Progress:
  """A one-line progress display (tqdm) with the rate and the latest evaluation."""

  def __init__(self, total: int, unit: str = 'step', rate_label: str = 'env-steps/s'):
    from tqdm import tqdm
    self._bar = tqdm(total=total, unit=unit, unit_scale=True, dynamic_ncols=True,
                     mininterval=1.0, file=sys.stderr)
    self._rate_label = rate_label
    self._rate: float | None = None  # until the first training row measures it
    self._eval = ''

  def update(self, position: int, rate: float | None = None,
             eval_metrics: dict[str, float] | None = None) -> None:
    if rate is not None:
      self._rate = rate
    if eval_metrics:
      self._eval = ' '.join(f'{k}={v:.3g}' for k, v in eval_metrics.items())
    rate = '-' if self._rate is None else f'{self._rate:,.1f}'
    self._bar.set_postfix_str(f'{rate} {self._rate_label} | eval: {self._eval or "-"}',
                              refresh=False)
    self._bar.update(max(0, min(position, self._bar.total) - self._bar.n))

  def note(self, text: str) -> None:
    """One short line above the bar, without breaking it."""
    self._bar.write(text, file=sys.stderr)

  def close(self) -> None:
    self._bar.close()

  def discard(self) -> None:
    """Closes the bar and clears its line (a run that stops before training shows its
    one-line reason, not a bar at 0)."""
    self._bar.leave = False
    self._bar.close()


def format_row(row: dict[str, Any]) -> str:
  return ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                  for k, v in row.items())
