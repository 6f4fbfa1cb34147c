"""A long-running sla-bot process keeps the garbage collector out of each delivery's way."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.engine.process import COLLECT_AFTER, collect_rarely


@pytest.fixture
def collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("collector")
def test_start_up_objects_are_set_aside_and_young_ones_collected_rarely() -> None:
    made_at_start = [[] for _ in range(1000)]
    collect_rarely()
    assert gc.get_freeze_count() >= len(made_at_start)  # never walked by a collection again
    assert gc.get_threshold()[0] == COLLECT_AFTER > 700  # CPython's default
    # Cycles are still collected: only less often.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
