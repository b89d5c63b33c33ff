"""Benchmarks: run by hand (``pytest benchmarks/``), not in CI; their figures are in the docs."""
