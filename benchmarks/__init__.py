"""Benchmark scripts of ompo-envs (run with ``ompo-bench`` or ``python -m benchmarks.NAME``)."""
