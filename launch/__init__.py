"""Processes: how metarl's pure pieces run on cores (manager, workers, evaluators)."""
