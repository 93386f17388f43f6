"""Benchmarks at city scale: `python -m bench.NAME` (see bench/README.md)."""
