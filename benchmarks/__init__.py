"""Benchmarks: speed and accuracy targets live here, not in timed tests."""
