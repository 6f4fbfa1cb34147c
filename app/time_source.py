"""The one real time function: the composition roots (the CLI, `serve`, the stand-ins run on
their own) pass it in as `time`; everything else receives it and never reads the time itself."""

from __future__ import annotations

from datetime import UTC, datetime


def system_time() -> datetime:
    return datetime.now(UTC)
