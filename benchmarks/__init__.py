"""Speed and memory targets, measured as ratios taken in the same run (pytest-benchmark).

Run with `python -m benchmarks [--quick]`; see `benchmarks/__main__.py`.
"""
