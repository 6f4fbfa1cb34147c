"""How busy the machine is: other processes share these cores, so each run records it."""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def busy(seconds: float = 1.0) -> float:
    """The fraction of all cores busy over the next `seconds` (0.0 to 1.0)."""
    try:
        b0, t0 = _cpu_times()
        time.sleep(seconds)
        b1, t1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


def wait_quiet(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (up to `max_wait` s) until other work leaves the cores idle; returns the last
    busy fraction seen, so a run on a busy machine says so next to its figures."""
    deadline = time.monotonic() + max_wait
    seen = busy(1.0)
    while seen > threshold and time.monotonic() < deadline:
        seen = busy(2.0)
    return seen


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and the processes it started
    (`serve`'s worker process)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    own = (int(fields[11]) + int(fields[12])) / _TICK
    return own + sum(process_cpu(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found


def own_cpu() -> float:
    """CPU seconds used so far by this process (all threads)."""
    return time.process_time()
