"""Profiles for missed goals: py-spy on a server process, cProfile in this process.

py-spy is optional (`.venv/bin/pip install py-spy`, not a dependency of sla-bot); without
it a missed server-side goal says so instead of showing a profile.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.results import table

ROOT = Path(__file__).resolve().parents[1]


def pyspy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


def start_pyspy(
    pid: int, seconds: float, out: Path, *, gil: bool = False
) -> subprocess.Popen[bytes] | None:
    """Sample process `pid` for `seconds` into `out` (collapsed stacks); None without py-spy.

    `gil` samples only the thread holding the GIL (where a CPU-bound process's Python time
    goes); otherwise every thread that is not idle (waits on the database count too).
    """
    exe = pyspy()
    if exe is None:
        return None
    duration = str(max(1, round(seconds)))
    command = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        duration,
        "--rate",
        "200",
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
    ]
    if gil:
        command.append("--gil")
    _modes[out] = gil
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_modes: dict[Path, bool] = {}


def finish_pyspy(process: subprocess.Popen[bytes] | None, out: Path) -> str:
    """Wait for py-spy and summarise what it recorded as markdown."""
    if process is None:
        return "_No profile: py-spy is not installed (`.venv/bin/pip install py-spy`)._"
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if not out.exists():
        return "_No profile: py-spy could not attach (it needs ptrace permission)._"
    return summarize_collapsed(out.read_text(errors="replace"), gil=_modes.pop(out, False))


def _short(frame: str) -> str:
    """`fn (/abs/path/site-packages/pkg/mod.py:12)` as `fn (pkg/mod.py:12)`."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            if marker == "lib/python3":
                where = "stdlib " + where.split("/", 1)[1]
            break
    return f"{name} ({where})" if where else name


# Leaf frames of threads waiting for work, which py-spy does not always see as idle.
IDLE = ("_worker (concurrent/futures/thread.py:81)",)


def summarize_collapsed(text: str, top: int = 15, *, gil: bool = False) -> str:
    """Self and inclusive time per frame, and the same rolled up per app/ line."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    app_inclusive: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames or frames[-1] in IDLE:
            continue
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
            if "(app/" in frame and "(app/cli/main.py" not in frame:
                app_inclusive[frame] += samples
    if not total:
        return "_The profile recorded no samples._"

    def rows(counter: Counter[str]) -> list[tuple[str, str]]:
        return [(f"`{f}`", f"{100 * n / total:.1f}%") for f, n in counter.most_common(top)]

    return "\n\n".join(
        [
            f"py-spy, {total} samples at 200 Hz of "
            + (
                "the thread holding the GIL: where the server's Python CPU time goes."
                if gil
                else "every thread not idle (pool threads waiting for work left out): CPU, and "
                "waits on the database and the network."
            ),
            "Where the time is spent (self time, top frames):",
            table(rows(own), ("frame", "self")),
            "Which app/ code it is spent under (inclusive time):",
            table(rows(app_inclusive), ("app frame", "inclusive")),
        ]
    )


def cprofile(fn: Callable[[], object], top: int = 15) -> str:
    """Run `fn` under cProfile; the top functions by cumulative and by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        fn()
    finally:
        profiler.disable()
    parts = []
    for key, title in (("cumulative", "cumulative time"), ("tottime", "own time")):
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        stats.sort_stats(key).print_stats(top)
        body = buffer.getvalue().split("ncalls", 1)
        text = "ncalls" + body[1] if len(body) == 2 else buffer.getvalue()
        parts.append(f"cProfile, top {top} by {title}:\n\n```\n{_trim(text)}\n```")
    return "\n\n".join(parts)


def _trim(text: str) -> str:
    text = re.sub(r"\S*site-packages/", "", text)
    text = re.sub(r"\S*/lib/python3\.\d+/", "stdlib ", text)
    return text.replace(f"{ROOT}/", "").rstrip()
