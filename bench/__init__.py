"""Benchmarks: `python bench/<name>.py`; not part of `make test` (a smoke run of each is)."""
