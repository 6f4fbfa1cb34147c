"""Figures as the benchmarks report them, and RESULTS.md written from them."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "gidgethub",
    "httpx",
    "sqlalchemy",
    "psycopg",
    "alembic",
    "holidays",
    "pydantic",
)


@dataclass
class Result:
    """One figure: every run's value, the goal beside it, and whether it was met.

    `better` says which way is good ("lower" for times, "higher" for rates) and picks the
    worst run for the goal check: a goal is met only if the median meets it.
    """

    bench: str
    name: str
    unit: str
    runs: list[float]
    goal: str = ""
    met: bool | None = None
    note: str = ""
    detail: str = ""  # markdown: the profile and what was tried, for a missed goal
    better: str = "lower"

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    @property
    def low(self) -> float:
        return min(self.runs) if self.runs else float("nan")

    @property
    def high(self) -> float:
        return max(self.runs) if self.runs else float("nan")

    def check(self, limit: float) -> Result:
        """Set `met` from the median against `limit` in the direction of `better`."""
        if self.runs:
            self.met = self.median <= limit if self.better == "lower" else self.median >= limit
        return self


def fmt(value: float) -> str:
    """Three significant figures, thousands separated: 14,200 / 3.27 / 0.0412."""
    if value != value:  # NaN
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def machine() -> list[tuple[str, str]]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages / 2**30:.1f} GiB"
    except (ValueError, OSError):
        pass
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("cpu", f"{cpu}, {os.cpu_count()} cores"),
        ("memory", memory),
        ("os", f"{platform.system()} {platform.release()}"),
        ("python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        ("postgresql", _postgres_version()),
        ("packages", ", ".join(versions)),
        ("commit", git_commit()),
    ]


def _postgres_version() -> str:
    from bench.servers import postgres_url, postgres_version

    url = postgres_url()
    return postgres_version(url) if url else "not used"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


@dataclass
class Section:
    """One benchmark's part of RESULTS.md."""

    key: str
    title: str
    about: str
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""


def _mark(result: Result) -> str:
    if result.met is None:
        return ""
    return "met" if result.met else "**missed**"


def render(sections: Sequence[Section], *, quick: bool, command: str) -> str:
    """RESULTS.md: the machine, then one table per benchmark, then the missed goals."""
    lines = ["# sla-bot benchmark results", ""]
    lines += [
        f"Written by `{command}`"
        + (" in **quick mode** (tiny runs: not figures to quote)." if quick else "."),
        "Each figure is the median of several runs, with the lowest and highest run beside it;",
        "the goal is checked against the median. How each benchmark works is in its module's",
        "docstring under `bench/`.",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in machine()]
    lines.append("")
    lines += _glance(sections)
    missed: list[Result] = []
    for section in sections:
        lines += [f"## {section.title}", "", section.about, ""]
        if section.error:
            lines += [f"**The benchmark failed:** `{section.error}`", ""]
        if section.results:
            lines += [
                "| figure | median | min | max | runs | goal | |",
                "|---|---:|---:|---:|---:|---|---|",
            ]
            for r in section.results:
                unit = f" {r.unit}" if r.unit else ""
                name = r.name + (f" <br><sub>{r.note}</sub>" if r.note else "")
                lines.append(
                    f"| {name} | {fmt(r.median)}{unit} | {fmt(r.low)} | {fmt(r.high)} "
                    f"| {len(r.runs)} | {r.goal} | {_mark(r)} |"
                )
            lines.append("")
        lines += [f"<sub>{section.seconds:.0f} s</sub>", ""]
        missed += [r for r in section.results if r.met is False or r.detail]
    if missed:
        lines += ["## Missed goals and findings", ""]
        for r in missed:
            state = "missed" if r.met is False else "finding"
            lines += [f"### {r.bench}: {r.name} ({state})", "", r.detail or "(no profile)", ""]
    return "\n".join(lines).rstrip() + "\n"


def _glance(sections: Sequence[Section]) -> list[str]:
    """Every figure that has a goal, in one table."""
    rows = [
        (f"{r.bench}: {r.name}", f"{fmt(r.median)} {r.unit}".rstrip(), r.goal, _mark(r))
        for s in sections
        for r in s.results
        if r.goal
    ]
    if not rows:
        return []
    return ["## Goals at a glance", "", table(rows, ("figure", "median", "goal", "")), ""]


def table(rows: Iterable[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A small markdown table for a finding's detail."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)
