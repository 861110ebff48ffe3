"""Replay buffers of metarl."""
