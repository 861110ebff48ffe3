"""What every figure of metarl shares (matplotlib, no display needed): `save` at 300 dpi and
as a PDF beside it, written atomically; round-probability ticks; the two-step stay bars and
the colours of the belief-state networks, which two analyses each draw. Each figure itself is
written beside its analysis (`metarl/analysis/<analysis>.py`; a sweep's in launch/sweep.py)."""

import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from metarl.io import atomic_write_bytes  # noqa: E402

__all__ = ['DPI', 'NETWORK_COLORS', 'plt', 'probability_ticks', 'save', 'stay_bars']


DPI = 300


def save(fig, path: str) -> None:
  """Writes the figure at DPI (temp file, then rename) and, beside it, as a PDF."""
  import io
  root, ext = os.path.splitext(path)
  for fmt, target in ((ext[1:] or 'png', path), ('pdf', root + '.pdf')):
    if fmt == 'pdf' and target == path and ext:
      continue
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI, bbox_inches='tight')
    atomic_write_bytes(target, buf.getvalue())
  plt.close(fig)


def probability_ticks(descending: np.ndarray, values=(1.0, 0.75, 0.5, 0.25, 0.0)):
  """Rows and labels for round probabilities on an axis of rows sorted from the highest
  probability down: each value at the first row at or below it (only values in range)."""
  rows, labels = [], []
  for v in values:
    if descending.min() <= v <= descending.max():
      rows.append(int(np.searchsorted(-descending, -v)))
      labels.append(f'{v:.2f}')
  return rows, labels


def stay_bars(ax, rows, title: str) -> None:
  by = {(r['rewarded'], r['common']): r for r in rows}
  width = 0.35
  for i, rewarded in enumerate((1, 0)):
    for j, common in enumerate((1, 0)):
      row = by[(rewarded, common)]
      x = i + (j - 0.5) * width
      ax.bar(x, row['stay_probability'], width, yerr=row['sem'], capsize=3,
             color='#1f4e9c' if common else '#c0392b',
             label=('common' if common else 'uncommon') if i == 0 else None)
      if row['published'] != '':
        ax.plot([x], [row['published']], 'o', color='k', ms=5,
                label='Wang et al. 2018' if (i, j) == (0, 0) else None)
  ax.set_xticks([0, 1])
  ax.set_xticklabels(['rewarded', 'unrewarded'])
  ax.set_ylim(0.0, 1.05)
  ax.set_ylabel('stay probability')
  ax.set_title(title)
  ax.legend(fontsize='small', loc='upper center', bbox_to_anchor=(0.5, -0.1), ncol=3)


NETWORK_COLORS = {'belief model': 'k', 'trained': '#d62728', 'untrained': '#7f7f7f'}
