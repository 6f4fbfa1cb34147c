"""Benchmarks for sla-bot: ingest, end to end, sweep scaling, API economy, calendar math.

Run them all with `.venv/bin/python -m bench` (writes bench/RESULTS.md); each module's
`run(quick)` returns a list of `bench.results.Result`. They are not tests: CI does not run
them, and tests/test_bench.py only checks that each one starts and finishes a tiny run.
"""
