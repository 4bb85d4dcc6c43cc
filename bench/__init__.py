"""Benchmarks of the adapter: the decision and profile validation in-process, intake and
`$check-eligibility` over HTTP, and what authentication + audit cost per request.

Run `python -m bench` (or `make bench`); `--quick` for a short run, `--help` for the knobs.
"""
