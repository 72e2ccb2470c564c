"""Benchmarks of dive (``python -m benchmarks.throughput``, ``make bench``)."""
