"""The benchmarks start and finish one tiny iteration each (they are not run in CI otherwise)."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import pytest

from bench import __main__ as cli
from bench import (
    backfill,
    calendar_math,
    calls,
    e2e,
    economy,
    fairness,
    ingest,
    retention,
    slack_intake,
    sweep,
    urgent_first,
)
from bench.results import Result


def _check(results: list[Result], bench: str) -> None:
    assert results, f"{bench} returned no figures"
    for result in results:
        assert result.bench == bench
        assert result.runs, f"{bench}: {result.name} measured nothing"
        assert all(math.isfinite(v) for v in result.runs), result
        if result.goal:
            assert result.met is not None, result


@pytest.mark.slow
@pytest.mark.parametrize(
    "module",
    [
        ingest,
        e2e,
        sweep,
        economy,
        calendar_math,
        urgent_first,
        backfill,
        retention,
        calls,
        slack_intake,
        fairness,
    ],
    ids=lambda m: m.NAME,
)
def test_each_benchmark_runs_one_tiny_iteration(module: ModuleType) -> None:
    _check(module.run(quick=True), module.NAME)


def test_the_command_writes_a_results_file(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    assert cli.main(["--quick", "--only", "calendar", "--output", str(out)]) == 0
    text = out.read_text()
    assert "# sla-bot benchmark results" in text and "| cpu |" in text
    assert "BusinessCalendar.add" in text and "< 1,000 µs" in text
