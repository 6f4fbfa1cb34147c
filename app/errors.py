"""Operator mistakes as one short message naming the culprit (no traceback unless --debug)."""

from __future__ import annotations

from typing import Any

import aiohttp
from gidgethub import BadRequest, GitHubBroken
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from app.config import ConfigError
from app.sla.policy import PolicyError
from app.store.connect import StoreMissing


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
        url = getattr(settings, "database_url", "") or ""
        where = f"the store at {_url(url)}" if url else "the store"
        lines = str(exc.orig).strip().splitlines() if exc.orig else []
        reason = lines[0] if lines else type(exc).__name__
        return f"DATABASE_URL: cannot use {where}: {reason}"
    if isinstance(exc, BadRequest) and exc.status_code == 401:
        return (
            f"GitHub refused the App's credentials (401 {exc}): check that GITHUB_APP_ID and "
            "GITHUB_PRIVATE_KEY are the App's (generate a new key on the App's settings page) "
            "and that this machine's clock is right"
        )
    if isinstance(exc, BadRequest) and exc.status_code == 403:
        return (
            f"GitHub refused the request (403 {exc}): the App lacks a permission or is not "
            "installed there (README, Troubleshooting)"
        )
    if isinstance(exc, GitHubBroken):
        return f"GitHub answered {exc.status_code}: it is having trouble; retried later"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return (
            f"cannot reach {exc.host}:{exc.port}: {type(exc).__name__} (check GITHUB_API_URL, "
            "SLACK_API_URL, PAGERDUTY_EVENTS_URL, the network and any proxy)"
        )
    if isinstance(exc, aiohttp.ClientError | TimeoutError):
        return (
            f"cannot reach the service: {type(exc).__name__} (check GITHUB_API_URL, "
            "SLACK_API_URL, PAGERDUTY_EVENTS_URL, the network and any proxy)"
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
