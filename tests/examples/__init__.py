"""Worked examples of docs/guide.md (tests/test_examples.py runs them)."""
