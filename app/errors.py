"""Operator mistakes as one short message naming the culprit (no traceback unless --debug)."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from app.config import ConfigError
from app.sla.policy import PolicyError
from app.store.db import StoreMissing


def explain(exc: BaseException, settings: Any = None) -> str | None:
    """What to tell an operator about `exc`, or None when it is a bug (show the traceback)."""
    if isinstance(exc, ConfigError):
        return f"configuration error: {exc}"
    if isinstance(exc, ValidationError):  # the environment did not make a Settings
        return "configuration error: " + "; ".join(_setting(e) for e in exc.errors())
    if isinstance(exc, PolicyError | StoreMissing):
        return str(exc)
    if isinstance(exc, NoSuchModuleError | ArgumentError | ModuleNotFoundError):
        return (
            "configuration error: DATABASE_URL: only sqlite:///path.db and "
            "postgresql://user:pass@host/db are supported"
        )
    if isinstance(exc, DBAPIError):
        where = _url(getattr(settings, "database_url", "") or "")
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return f"DATABASE_URL: cannot use the store at {where}: {reason}"
    if isinstance(exc, httpx.TransportError):
        try:
            url = f"{exc.request.url.scheme}://{exc.request.url.host}"
        except RuntimeError:
            url = "the service"
        return (
            f"cannot reach {url}: {type(exc).__name__} (check GITHUB_API_URL, SLACK_API_URL, "
            "PAGERDUTY_EVENTS_URL, the network and any proxy)"
        )
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return None


def _setting(error: Any) -> str:
    name = "_".join(str(part) for part in error.get("loc", ())).upper() or "settings"
    return f"{name}: {error.get('msg', 'invalid')}"


def _url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "DATABASE_URL"
