"""A long-running sla-bot process keeps the garbage collector out of each delivery's way."""

from __future__ import annotations

import subprocess
import sys

# In a process of its own: freezing the test process's heap would hold back, then release,
# the garbage of every test before it.
CHECK = """
import gc
from app.engine.process import COLLECT_AFTER, collect_rarely
made_at_start = [[] for _ in range(1000)]
collect_rarely()
assert gc.get_freeze_count() >= len(made_at_start), gc.get_freeze_count()
assert gc.get_threshold()[0] == COLLECT_AFTER > 700, gc.get_threshold()
cycle = []
cycle.append(cycle)
del cycle
assert gc.collect() >= 1  # cycles are still collected, only less often
"""


def test_start_up_objects_are_set_aside_and_young_ones_collected_rarely() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
