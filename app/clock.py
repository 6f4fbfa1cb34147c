"""The one real clock: the composition roots (the CLI, `serve`, the stand-ins run on their own)
pass it in; everything else receives a clock and never reads the time itself."""

from __future__ import annotations

from datetime import UTC, datetime


def system_clock() -> datetime:
    return datetime.now(UTC)
