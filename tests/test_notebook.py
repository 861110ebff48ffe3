"""docs/notebooks/quickstart.ipynb, executed as a reader would run it (slow: it trains an
agent for about a minute): every cell runs, the agent learns, the evaluation and its
figures are written."""

import csv
import os

import pytest

nbformat = pytest.importorskip('nbformat')  # requirements.txt installs it (and nbclient)
from nbclient import NotebookClient  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, 'docs', 'notebooks', 'quickstart.ipynb')
RANDOM_REGRET = 16.7  # uniform random play, 100 trials of two independent arms


@pytest.mark.slow
def test_the_quickstart_notebook_runs_and_its_agent_learns(tmp_path, monkeypatch):
  monkeypatch.setenv('METARL_NOTEBOOK_OUT', str(tmp_path))
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  NotebookClient(notebook, timeout=900, kernel_name='python3',
                 resources={'metadata': {'path': ROOT}}).execute()
  errors = [o for cell in notebook.cells if cell.cell_type == 'code'
            for o in cell.get('outputs', []) if o.get('output_type') == 'error']
  assert not errors, errors
  with open(tmp_path / 'bandit' / 'eval.csv') as f:
    final = list(csv.DictReader(f))[-1]
  assert float(final['mean_cumulative_regret']) < 0.5 * RANDOM_REGRET, final
  with open(tmp_path / 'bandit_eval' / 'eval_summary.csv') as f:
    methods = {row['method'] for row in csv.DictReader(f)}
  assert {'agent', 'thompson', 'bayes_optimal'} <= methods
  images = [o for cell in notebook.cells for o in cell.get('outputs', [])
            if 'image/png' in o.get('data', {})]
  assert len(images) >= 3  # the training curves and the two evaluation figures
