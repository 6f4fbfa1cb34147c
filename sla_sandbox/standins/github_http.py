"""FakeGitHub's HTTP plumbing: replies, recording, rate limits, faults, paging and ETags."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from sla_sandbox.standins.github_auth import Caller
from sla_sandbox.standins.github_model import DOCS

ANONYMOUS_LIMIT = 60


@dataclass(frozen=True)
class IncomingRequest:
    """The parts of an HTTP request the fake looks at."""

    method: str
    raw_path: str
    path: str
    query: dict[str, str]
    body: Any
    bad_json: bool
    authorization: str | None
    accept: str
    if_none_match: str | None
    base: str
    user_agent: str = ""


@dataclass(frozen=True)
class RecordedCall:
    """One request as the fake received it, with the status it answered."""

    method: str
    path: str  # percent-decoded
    query: dict[str, str]
    json: Any
    authorization: str | None
    status: int
    counted: bool = False  # whether it used primary rate limit (a 304 does not)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, message: str, **more: Any) -> Reply:
    body = {"message": message, **more, "documentation_url": DOCS, "status": str(status)}
    return Reply(status, body)


def not_found() -> Reply:
    return error(404, "Not Found")


def invalid(resource: str, code: str, name: str) -> Reply:
    """GitHub's 422 shape, e.g. `already_exists` for a duplicate label name."""
    problem = {"resource": resource, "code": code, "field": name}
    return error(422, "Validation Failed", errors=[problem])


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    reply: Reply
    times: int


@dataclass(frozen=True)
class Ctx:
    """What a handler sees of a request."""

    params: dict[str, str]  # path parameters, percent-decoded
    query: dict[str, str]
    body: Any
    caller: Caller
    url: str  # this resource's absolute URL without the query, for Link headers
    accept: str = ""


class NotFound(Exception):
    """Raised by handlers: GitHub answers 404 for missing and for inaccessible resources."""


class Gone(Exception):
    """Raised by handlers for a deleted issue: GitHub answers 410."""


class RateLimits:
    """Primary rate limit per credential, in hourly windows on the stand-in's time (GitHub's
    `reset`, epoch seconds)."""

    def __init__(self, limit: int, time: Callable[[], datetime]) -> None:
        self.limit = limit
        self._time = time
        self._used: dict[str, tuple[int, int]] = {}  # bucket -> (used, reset epoch)

    def _window(self, bucket: str) -> tuple[int, int]:
        now = int(self._time().timestamp())
        used, reset = self._used.get(bucket, (0, 0))
        if now >= reset:
            used, reset = 0, now + 3600
            self._used[bucket] = (used, reset)
        return used, reset

    def limit_for(self, bucket: str) -> int:
        return ANONYMOUS_LIMIT if bucket == "anonymous" else self.limit

    def remaining(self, bucket: str) -> int:
        return max(0, self.limit_for(bucket) - self._window(bucket)[0])

    def count(self, bucket: str) -> None:
        used, reset = self._window(bucket)
        self._used[bucket] = (used + 1, reset)

    def headers(self, bucket: str) -> dict[str, str]:
        used, reset = self._window(bucket)
        return {
            "x-ratelimit-limit": str(self.limit_for(bucket)),
            "x-ratelimit-remaining": str(self.remaining(bucket)),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-used": str(used),
            "x-ratelimit-resource": "core",
        }


def page_of(items: list[Any], query: dict[str, str], url: str) -> tuple[list[Any], dict[str, str]]:
    """One page by `per_page`/`page`, and an absolute Link header pointing back at `url`."""
    per_page = min(max(_int(query.get("per_page"), 30), 1), 100)
    page = max(_int(query.get("page"), 1), 1)
    last = max(1, -(-len(items) // per_page))
    rels: list[tuple[str, int]] = []
    if page > 1:
        rels.append(("prev", min(page - 1, last)))
    if page < last:
        rels += [("next", page + 1), ("last", last)]
    if page > 1:
        rels.append(("first", 1))
    links = [f'<{url}?{urlencode({**query, "page": p})}>; rel="{rel}"' for rel, p in rels]
    headers = {"link": ", ".join(links)} if links else {}
    return items[(page - 1) * per_page : page * per_page], headers


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def etag(content: bytes, link: str = "") -> str:
    return 'W/"' + hashlib.sha256(content + link.encode()).hexdigest()[:40] + '"'


def etag_matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    wanted = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in wanted or tag.removeprefix("W/") in wanted


def encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    return json.dumps(body, separators=(",", ":")).encode()


def respond(reply: Reply, request_id: str) -> Response:
    headers = {
        "content-type": "application/json; charset=utf-8",
        "x-github-media-type": "github.v3; format=json",
        "x-github-api-version-selected": "2022-11-28",
        "x-github-request-id": request_id,
        **reply.headers,
    }
    if reply.status in (204, 304):
        headers.pop("content-type")
        return Response(status_code=reply.status, headers=headers)
    return Response(encode(reply.body), reply.status, headers)
