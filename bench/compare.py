"""Side by side with Probot: the shared perf harness's `e2e_compare.sh`, as ratios.

`e2e_compare.sh` (the perf harness beside the project, `../shared/perf`, or the folder named
by SLA_BOT_PERF_DIR; see its README) runs the Probot peer and `sla-bot serve` (SQLite, and
PostgreSQL when one answers) in one run, alternating, each pinned to one core, each sent 2,000
`issues.opened` deliveries for distinct issues at once, timed to the 2,000th label call at its
fast fake GitHub, SLA_GITHUB_WRITE_RATE=0. Where the harness is, a full run measures three
rounds afresh (about three minutes, in a copy of the harness, as its README asks) and keeps
their `results.jsonl` as `bench/profiles/e2e-<date>-<commit>.jsonl`; without it, and with
--quick, the newest of those files is shown, under its name. The goals are checked on that
run alone; `e2e-before.jsonl` and `e2e-after.jsonl` are the speed work's first runs, kept for
the record. Ratios are taken within each round, since the machine's speed drifts between runs.
The profiles (`bench/profiles/before.*`, `after.*`, made with `bench/profiles/record.sh`)
are summarised under the findings; later rounds, measured by hand, are sections 13 to 18.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.results import Result, fmt, git_commit
from bench.servers import ROOT, postgres_url

NAME = "compare"
TITLE = "8. Side by side with Probot (e2e_compare.sh) and the worker's profile"
PROFILES = Path(__file__).with_name("profiles")
SERVERS = {"app": "sla-bot SQLite", "app-pg": "sla-bot PostgreSQL"}
GOALS = {"app": 1.0, "app-pg": 0.8}
ROUNDS = 3


def _rounds(path: Path) -> dict[int, dict[str, dict[str, float]]]:
    found: dict[int, dict[str, dict[str, float]]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            found[int(row["round"])][row["server"]] = row
    return found


def _harness() -> Path | None:
    folder = Path(os.environ.get("SLA_BOT_PERF_DIR") or ROOT.parent / "shared" / "perf")
    return folder if (folder / "e2e_compare.sh").is_file() else None


def _measure(harness: Path) -> Path:
    """`e2e_compare.sh` run now, in a copy of the harness; its results kept in PROFILES."""
    work = Path(tempfile.mkdtemp(prefix="sla-bot-perf-")) / "perf"
    shutil.copytree(harness, work, ignore=shutil.ignore_patterns("tmp", ".venv", "node_modules"))
    env = {**os.environ, "ROUNDS": str(ROUNDS)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # sla-bot
    env.pop("APP_PG_URL", None)
    if url := postgres_url():
        env["APP_PG_URL"] = url
    try:
        done = subprocess.run(
            ["bash", "e2e_compare.sh"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        found = [
            line.split(" ", 1)[1]
            for line in done.stdout.splitlines()
            if line.startswith("results: ")
        ]
        if done.returncode != 0 or not found:
            raise RuntimeError(
                f"e2e_compare.sh failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        when = time.strftime("%Y-%m-%dT%H%M", time.gmtime())
        kept = PROFILES / f"e2e-{when}-{git_commit()}.jsonl"
        shutil.copyfile(found[0], kept)
        return kept
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)


def _newest() -> Path | None:
    """The newest run kept (their names begin with the date, UTC)."""
    kept = sorted(PROFILES.glob("e2e-2*.jsonl"))
    return kept[-1] if kept else None


def run(quick: bool = False) -> list[Result]:
    harness = None if quick else _harness()
    latest = _measure(harness) if harness is not None else _newest()
    runs = [(path.stem, path, True) for path in [latest] if path is not None]
    runs += [(when, PROFILES / f"e2e-{when}.jsonl", False) for when in ("before", "after")]
    out = []
    for when, path, checked in runs:
        if not path.exists():
            continue
        out += _ratios(when, path, checked)
    if out:
        out[0].detail = _profiles()
    return out


def _ratios(when: str, path: Path, checked: bool) -> list[Result]:
    out = []
    rounds = _rounds(path)
    for server, label in SERVERS.items():
        labeled, accepted, raw = [], [], []
        for figures in rounds.values():
            probot, app = figures.get("probot"), figures.get(server)
            if not probot or not app or not probot.get("labeled_per_s"):
                continue
            labeled.append((app.get("labeled_per_s") or 0.0) / probot["labeled_per_s"])
            accepted.append(app["accepted_per_s"] / probot["accepted_per_s"])
            raw.append(f"{fmt(app.get('labeled_per_s') or 0.0)} vs {fmt(probot['labeled_per_s'])}")
        if not labeled:
            continue
        goal = GOALS[server]
        out.append(
            Result(
                NAME,
                f"{when}: {label} labeled/s ÷ Probot's",
                "×",
                labeled,
                goal=f"≥ {goal}" if checked else "",
                better="higher",
                note="labeled/s per round, sla-bot vs Probot: " + "; ".join(raw),
            )
        )
        if checked:
            out[-1].check(goal)
        out.append(
            Result(NAME, f"{when}: {label} accepted/s ÷ Probot's", "×", accepted, better="higher")
        )
    return out


def _profiles() -> str:
    """The top of the before and after profiles, side by side."""
    parts = [
        "py-spy on `sla-bot serve` (SQLite) taking 2,000 deliveries at once, the thread "
        "holding the GIL sampled (`bench/profiles/record.sh`); flame graphs: "
        "[before](profiles/before.svg), [after](profiles/after.svg)."
    ]
    for when in ("before", "after"):
        text = PROFILES / f"{when}.txt"
        result = PROFILES / f"{when}.result"
        if not text.exists():
            continue
        lines = text.read_text().splitlines()
        inclusive = lines[lines.index("## top frames by inclusive samples") + 1 :]
        ours = [line for line in inclusive if "(app/" in line][:14]
        head = result.read_text().strip() if result.exists() else ""
        parts += [f"**{when}** ({lines[0]}) {head}", "", "```", *ours, "```"]
    return "\n\n".join(parts[:1]) + "\n\n" + "\n".join(parts[1:])
