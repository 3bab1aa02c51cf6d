"""Matching core: price-time-priority books in numba, with a pure-Python reference book as oracle. No I/O."""
