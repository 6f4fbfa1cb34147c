"""PagerDuty Events API v2: one incident per production-down episode, acknowledged and
resolved with the same `dedup_key`. https://developer.pagerduty.com/docs/events-api-v2/overview/"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from app.github.http import Session

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_LIMIT = 1024  # the API refuses a longer payload.summary
KEY_LIMIT = 255  # and a longer dedup_key


class PagerDutyError(Exception):
    """An event PagerDuty did not take: its HTTP `status` (None: no answer) and any
    `retry_after`; what that means is app/engine/failures.py's PagerDuty table."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def dedup_key(deployment: str, repo: str, number: int, paged_at: datetime) -> str:
    """An episode's incident key: this deployment, the issue, and when it paged. Retries and
    replicas share it; another store, another deployment on the routing key, or the same
    issue paged again (the key of a resolved incident would open a new incident) never do.
    PagerDuty dedupes a key only while its incident is open."""
    stamp = paged_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"sla-bot-{deployment}-{repo}#{number}-{stamp}"[:KEY_LIMIT]


@dataclass(frozen=True)
class Episode:
    """What an incident key names: a deployment's page of one issue, at one time."""

    deployment: str
    repo: str
    number: int
    paged_at: datetime


_KEY = re.compile(
    r"^sla-bot-(?P<deployment>[0-9a-f]{12})-(?P<repo>[^#\s]+)#(?P<number>-?\d{1,18})"
    r"-(?P<stamp>\d{8}T\d{6}Z)$"
)


def episode_of(key: str) -> Episode | None:
    """The episode an incident key names, or None when it is not one of sla-bot's."""
    found = _KEY.match(key)
    if found is None:
        return None
    paged_at = datetime.strptime(found["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return Episode(found["deployment"], found["repo"], int(found["number"]), paged_at)


def trigger(
    key: str, *, summary: str, source: str, url: str, details: dict[str, Any]
) -> dict[str, Any]:
    """The trigger event (without the routing key, which never reaches the store)."""
    return {
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {
            "summary": summary[:SUMMARY_LIMIT],
            "source": source,
            "severity": "critical",
            "custom_details": details,
        },
        "links": [{"href": url, "text": "The GitHub issue"}],
    }


def follow_up(key: str, action: str) -> dict[str, Any]:
    """`acknowledge` or `resolve` for the incident of `key`."""
    return {"event_action": action, "dedup_key": key}


class PagerDuty:
    """Sends events over an aiohttp session of its own (its timeout is PagerDuty's)."""

    def __init__(self, http: Session, routing_key: str, url: str = EVENTS_URL):
        self._http = http
        self._key = routing_key
        self._url = url

    async def send(self, event: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({**event, "routing_key": self._key}).encode()
        try:
            status, headers, content = await self._http.request(
                "POST", self._url, {"content-type": "application/json"}, body
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PagerDutyError(f"pagerduty unreachable: {type(exc).__name__}") from None
        if status == 202:
            data: dict[str, Any] = json.loads(content)
            return {"dedup_key": data.get("dedup_key"), "status": data.get("status")}
        text = content[:300].decode("utf-8", "replace").replace(self._key, "[routing key]")
        retry_after = headers.get("retry-after")
        raise PagerDutyError(
            f"pagerduty refused the event: HTTP {status}: {text}",
            status=status,
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
