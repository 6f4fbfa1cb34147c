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
    servers,
    slack_intake,
    sweep,
    urgent_first,
)
from bench.results import Result
from tests import processes


@pytest.fixture(autouse=True)
def forked_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """sla-bot's servers forked from the tests' zygote (the bench itself starts fresh ones)."""
    monkeypatch.setattr(servers.Server, "launch", staticmethod(processes.Popen))


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


def test_a_run_keeps_the_part_measured_by_hand(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    out.write_text(f"# old figures\n\n## 1. Old\n\n{cli.HAND}\n## 13. By hand\n\nkept\n")
    kept = cli.kept_by_hand(out)
    assert kept == f"\n{cli.HAND}\n## 13. By hand\n\nkept\n"
    assert "Old" not in kept
    assert cli.kept_by_hand(tmp_path / "none.md") == ""


def test_the_results_file_writes_by_hand_only_after_the_marker() -> None:
    """Whatever `python -m bench` writes above the marker it writes again: a section written
    by hand there would be lost at the next run. Below it, the sections are numbered on from 13."""
    generated, hand = cli.OUTPUT.read_text(encoding="utf-8").split(cli.HAND)
    order = [int(m.TITLE.split(".")[0]) for m in cli.MODULES.values()]
    assert order == list(range(1, len(cli.MODULES) + 1))  # sections 1 to 12, in the run's order
    titles = {m.TITLE for m in cli.MODULES.values()} | {
        "Goals at a glance",
        "Missed goals and findings",
    }
    names = {m.NAME for m in cli.MODULES.values()}
    for line in generated.splitlines():
        if line.startswith("## "):
            assert line[3:] in titles, line
        elif line.startswith("### "):  # a finding: `bench: figure (missed or finding)`
            assert line[4:].split(":")[0] in names, line
    numbers = [
        int(line[3:].split(".")[0])
        for line in hand.splitlines()
        if line.startswith("## ") and line[3:4].isdigit()
    ]
    assert numbers == list(range(len(cli.MODULES) + 1, len(cli.MODULES) + 1 + len(numbers)))
    assert numbers, "the sections measured by hand are numbered after the generated ones"
