"""Worked examples of the README's "New to metarl" section (tests/test_examples.py runs them)."""
