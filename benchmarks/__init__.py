"""Benchmarks, run as `python -m benchmarks.NAME [--json FILE]`; never timed unit tests."""
