"""Logging: short lowercase messages with structured fields; JSON lines on request."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from app.config import Settings

# uvicorn's `color_message` repeats the message with raw ANSI codes: never shown.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}
# Control characters (a newline in an issue title, an ANSI escape) would forge or garble a
# text log line; they are shown escaped instead. JSON lines escape them already.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape(text: str) -> str:
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


# Tokens and keys that must never reach a log line, whatever a library puts in a message.
_SECRETS = re.compile(
    r"(gh[pousr]_[A-Za-z0-9]{20,}|xox[abpr]-[A-Za-z0-9-]+|"
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----|"
    r"(?i:bearer|token)\s+[A-Za-z0-9._-]{16,})",
    re.DOTALL,
)


def redact(text: str) -> str:
    return _SECRETS.sub("[redacted]", text)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, default=str))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = _escape(
            f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        )
        extra = " ".join(f"{k}={_escape(str(v))}" for k, v in _fields(record).items())
        if extra:
            line = f"{line} {extra}"
        if record.exc_info:  # a traceback keeps its own lines
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return redact(line)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr as it is when a line is written, not when logging was configured: a program
    that swaps it (pytest's capture, between tests) must not leave the log writing to a
    closed file."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


# An operator's failure (the store gone, GitHub unreachable or refusing the App's key) is told
# in one line, once a minute per kind while it lasts, with how many more there were.
EVERY = 60.0


class Throttle(logging.Filter):
    """Lets through one record per kind (`failure`'s) every `every` seconds, on the records'
    own timestamps; the next one let through says how many were held back meanwhile."""

    def __init__(self, every: float = EVERY) -> None:
        super().__init__()
        self._every = every
        self._kinds: dict[str, tuple[float, int]] = {}  # kind -> (last told, held back since)
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        kind = getattr(record, "_kind", None)
        if kind is None:
            return True
        with self._lock:
            told = self._kinds.get(kind)
            if told is not None and record.created - told[0] < self._every:
                self._kinds[kind] = (told[0], told[1] + 1)
                return False
            self._kinds[kind] = (record.created, 0)
        if told is not None and told[1]:
            record.msg, record.args = f"{record.getMessage()} ({told[1]} more like it)", None
        return True


def failure(logger: logging.Logger, message: str, exc: BaseException, **fields: Any) -> None:
    """Log a failure: an operator's (one `app.errors.explain` knows) as one line naming the
    culprit, at most once a minute per kind; anything else (a bug) with its traceback. With
    LOG_LEVEL=DEBUG (or --debug) the operator's failures show their traceback too."""
    from app.errors import explain

    reason = explain(exc)
    if reason is None:
        logger.error(message, exc_info=exc, extra=fields)
        return
    trace = exc if logger.isEnabledFor(logging.DEBUG) else None
    kind = f"{logger.name}:{message}:{type(exc).__name__}"
    logger.error("%s: %s", message, reason, exc_info=trace, extra={**fields, "_kind": kind})


def configure(settings: Settings) -> None:
    handler = _Stderr()
    handler.addFilter(Throttle())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # One line per GitHub call is noise next to sla-bot's own per-delivery line, and so are
    # the migration steps on every command.
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # An in-process retry is not news: its failure, if the last attempt fails, is logged once
    # by whoever called; each attempt shows with --debug.
    if root.level > logging.DEBUG:
        logging.getLogger("stamina").setLevel(logging.ERROR)
