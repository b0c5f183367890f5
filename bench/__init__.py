"""Benchmarks: `python bench/run.py` (figures for the README) and `python bench/statements.py`."""
