"""Benchmarks: the real server under load, beside bare baselines of the same path.

`python -m bench <scenario>` starts everything it measures on loopback, prints a table, and
writes the figures as JSON under `bench/results/`.
"""
