"""The app's log lines during in-process benchmarks go to a file, as `serve` would write them."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def to_file(path: Path, level: int = logging.INFO) -> Iterator[None]:
    """Send every log record to `path` as JSON lines (the app's formatter) while inside."""
    from app.logs import JsonFormatter

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level)
    try:
        yield
    finally:
        root.handlers[:], level_before = saved
        root.setLevel(level_before)
        handler.close()
