"""Side by side with Probot: the perf harness's `e2e_compare.sh` runs, as ratios.

Not measured here: `e2e_compare.sh` (in the shared perf harness, see its README) runs the
Probot peer and `sla-bot serve` (SQLite, and PostgreSQL with APP_PG_URL) in one run, each
pinned to one core, each sent 2,000 `issues.opened` deliveries for distinct issues at once,
timed to the 2,000th label call at its fast fake GitHub, SLA_GITHUB_WRITE_RATE=0. Its
`results.jsonl` files are kept as `bench/profiles/e2e-before.jsonl` (main at the start of
the work) and `bench/profiles/e2e-after.jsonl` (this branch), and shown here as ratios to
Probot within each round of each run, since the machine's speed drifts between runs.
The profiles (`bench/profiles/before.*`, `after.*`, made with `bench/profiles/record.sh`)
are summarised under the findings; later rounds, measured by hand, are sections 13 and 14.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from bench.results import Result, fmt

NAME = "compare"
TITLE = "8. Side by side with Probot (e2e_compare.sh) and the worker's profile"
PROFILES = Path(__file__).with_name("profiles")
SERVERS = {"app": "sla-bot SQLite", "app-pg": "sla-bot PostgreSQL"}
GOALS = {"app": 1.0, "app-pg": 0.8}


def _rounds(path: Path) -> dict[int, dict[str, dict[str, float]]]:
    found: dict[int, dict[str, dict[str, float]]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            found[int(row["round"])][row["server"]] = row
    return found


def run(quick: bool = False) -> list[Result]:
    out = []
    for when in ("before", "after"):
        path = PROFILES / f"e2e-{when}.jsonl"
        if not path.exists():
            continue
        rounds = _rounds(path)
        for server, label in SERVERS.items():
            labeled, accepted, raw = [], [], []
            for figures in rounds.values():
                probot, app = figures.get("probot"), figures.get(server)
                if not probot or not app or not probot.get("labeled_per_s"):
                    continue
                labeled.append((app.get("labeled_per_s") or 0.0) / probot["labeled_per_s"])
                accepted.append(app["accepted_per_s"] / probot["accepted_per_s"])
                raw.append(
                    f"{fmt(app.get('labeled_per_s') or 0.0)} vs {fmt(probot['labeled_per_s'])}"
                )
            if not labeled:
                continue
            goal = GOALS[server]
            out.append(
                Result(
                    NAME,
                    f"{when}: {label} labeled/s ÷ Probot's",
                    "×",
                    labeled,
                    goal=f"≥ {goal}" if when == "after" else "",
                    better="higher",
                    note="labeled/s per round, sla-bot vs Probot: " + "; ".join(raw),
                )
            )
            if when == "after":
                out[-1].check(goal)
            out.append(
                Result(
                    NAME, f"{when}: {label} accepted/s ÷ Probot's", "×", accepted, better="higher"
                )
            )
    if out:
        out[0].detail = _profiles()
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
