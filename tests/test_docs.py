"""The README and docs/ stay readable and whole: every relative link opens a file (and the
heading it points at), the README stays short, and the systems metarl replaces are named by
their names, never by the specification's "seed 00N" shorthand."""

import glob
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = sorted(['README.md'] + [os.path.relpath(p, ROOT) for p in
                                glob.glob(os.path.join(ROOT, 'docs', '**', '*.md'),
                                          recursive=True)])


def anchors(path: str) -> set:
  """The anchors GitHub gives the headings of a markdown page."""
  found = set()
  with open(path) as f:
    text = re.sub(r'```.*?```', '', f.read(), flags=re.S)
  for line in text.splitlines():
    if line.startswith('#'):
      title = line.lstrip('#').strip().lower()
      found.add(re.sub(r'[^\w\- ]', '', title).replace(' ', '-'))
  return found


def test_anchors_follow_github():
  assert anchors(os.path.join(ROOT, 'docs', 'tasks', 'value_td.md')) >= {
      'belief-states-and-dopamine-like-rpes-starkweather-et-al-2017-hennig-et-al-2023'}


@pytest.mark.parametrize('page', PAGES)
def test_every_relative_link_opens(page):
  path = os.path.join(ROOT, page)
  with open(path) as f:
    text = re.sub(r'```.*?```', '', f.read(), flags=re.S)  # code is not linked
  for target in re.findall(r'\]\(([^)\s]+)\)', text):
    if re.match(r'[a-z]+://', target):
      continue
    file, _, anchor = target.partition('#')
    linked = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
    assert os.path.exists(linked), f'{page}: {target} does not exist'
    if anchor:
      assert anchor in anchors(linked), f'{page}: {target} names no heading of {file}'


def test_the_readme_stays_short():
  with open(os.path.join(ROOT, 'README.md')) as f:
    assert len(f.read().splitlines()) <= 300  # the rest belongs in docs/


def test_the_replaced_systems_are_named_by_their_names():
  tracked = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True)
  if tracked.returncode != 0:
    pytest.skip('not a git checkout')  # e.g. an sdist: the repository's files are not there
  pattern = re.compile(r'\bseeds?\s+00[0-4]\b', re.I)
  named = []
  for name in tracked.stdout.split():
    if not name.endswith(('.py', '.md', '.csv', '.cff', '.toml', '.txt', '.ipynb', '.cc',
                         '.cpp')):
      continue
    with open(os.path.join(ROOT, name), errors='replace') as f:
      if pattern.search(f.read()):
        named.append(name)
  assert not named, f'"seed 00N" instead of the system\'s name in {named}'
