"""`python -m bench`: run every benchmark and write bench/RESULTS.md.

    .venv/bin/python -m bench                  # all of them, about 13 minutes
    .venv/bin/python -m bench --only sweep,calendar
    .venv/bin/python -m bench --quick          # one tiny run of each (what the test does)

PostgreSQL comes from SLA_BOT_BENCH_POSTGRES_URL, else SLA_BOT_TEST_POSTGRES_URL, else
postgresql://postgres@127.0.0.1:5432/test; without one answering, only SQLite is measured.
Everything runs on 127.0.0.1. py-spy, when installed in the venv, profiles missed server-side
goals (`.venv/bin/pip install py-spy`); it is not a dependency of sla-bot.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

from bench import (
    backfill,
    calendar_math,
    calls,
    compare,
    e2e,
    economy,
    fairness,
    host,
    ingest,
    retention,
    slack_intake,
    sweep,
    urgent_first,
)
from bench.results import Section, fmt, render

MODULES: dict[str, ModuleType] = {
    "ingest": ingest,
    "e2e": e2e,
    "sweep": sweep,
    "economy": economy,
    "calendar": calendar_math,
    "urgent": urgent_first,
    "backfill": backfill,
    "compare": compare,
    "retention": retention,
    "calls": calls,
    "fairness": fairness,
    "slack": slack_intake,
}
OUTPUT = Path(__file__).with_name("RESULTS.md")
# Where the figures measured by hand begin; `python -m bench` keeps them.
HAND = "<!-- measured by hand: python -m bench keeps what follows -->"


def _about(module: ModuleType, busy: float) -> str:
    doc = (module.__doc__ or "").strip().split("\n", 1)
    text = doc[1].strip() if len(doc) == 2 else ""
    load = (
        f"_Before it started, other processes kept {busy:.0%} of the cores busy._"
        if busy == busy
        else ""
    )
    return f"{text}\n\n{load}".strip()


def run_one(key: str, *, quick: bool, quiet_wait: float) -> Section:
    module = MODULES[key]
    busy = host.wait_quiet(quiet_wait) if quiet_wait > 0 else host.busy(0.5)
    section = Section(key, module.TITLE, _about(module, busy))
    started = time.perf_counter()
    try:
        section.results = module.run(quick=quick)
    except Exception as exc:
        section.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    section.seconds = time.perf_counter() - started
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="one tiny iteration of each")
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(MODULES)}")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default: bench/RESULTS.md")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="wait up to this long for other load to stop before each one",
    )
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.only.split(",")] if args.only else list(MODULES)
    unknown = [k for k in keys if k not in MODULES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    sections = []
    for key in keys:
        print(f"bench: {key} ...", file=sys.stderr, flush=True)
        section = run_one(key, quick=args.quick, quiet_wait=0 if args.quick else args.quiet_wait)
        for r in section.results:
            mark = {True: "met", False: "MISSED", None: ""}[r.met]
            print(f"  {r.name}: {fmt(r.median)} {r.unit} {r.goal} {mark}".rstrip(), file=sys.stderr)
        print(f"  ({section.seconds:.0f} s)", file=sys.stderr, flush=True)
        sections.append(section)
    command = "python -m bench" + (" --quick" if args.quick else "")
    if args.only:
        command += f" --only {args.only}"
    kept = kept_by_hand(args.output)
    text = render(sections, quick=args.quick, command=command) + kept
    args.output.write_text(text, encoding="utf-8")
    print(f"bench: wrote {args.output}", file=sys.stderr)
    return 1 if any(s.error for s in sections) else 0


def kept_by_hand(path: Path) -> str:
    """The old file's part measured by hand (from HAND on): a new run carries it over."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    return "\n" + old[old.index(HAND) :] if HAND in old else ""


if __name__ == "__main__":
    sys.exit(main())
