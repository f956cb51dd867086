"""Benchmarks: CPU, wall time and memory of the hot read paths, as ratios (see README.md)."""
