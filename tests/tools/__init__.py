"""Tools the tests and benchmarks/ share, not part of the installed package: starting and
damaging runs on purpose (`faults`), a Ray cluster of several nodes on one machine
(`local_cluster`)."""
