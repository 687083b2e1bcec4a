"""Operability: Prometheus metrics (``metrics.py``). Imports nothing of ours, so any room may record into it."""
