"""Analyses of trained agents: bandit baselines and regret, plots."""
