"""Benchmarks of the adapter: the decision in-process, and intake / `$check-eligibility` over HTTP.

Run `python -m bench` (or `make bench`); `--quick` for a short run, `--help` for the knobs.
"""
