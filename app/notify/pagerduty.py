"""PagerDuty Events API v2: one incident per production-down clock, acknowledged and resolved
with the same `dedup_key`. https://developer.pagerduty.com/docs/events-api-v2/overview/"""

from __future__ import annotations

from typing import Any

import httpx

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_LIMIT = 1024  # the API refuses a longer payload.summary


class PagerDutyError(Exception):
    """An event PagerDuty did not take; `permanent` when resending cannot help (400)."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def dedup_key(clock_id: int) -> str:
    """The incident's key, derived from the clock: the same on every retry and replica."""
    return f"sla-bot-clock-{clock_id}"


def trigger(
    clock_id: int, *, summary: str, source: str, url: str, details: dict[str, Any]
) -> dict[str, Any]:
    """The trigger event (without the routing key, which never reaches the store)."""
    return {
        "event_action": "trigger",
        "dedup_key": dedup_key(clock_id),
        "payload": {
            "summary": summary[:SUMMARY_LIMIT],
            "source": source,
            "severity": "critical",
            "custom_details": details,
        },
        "links": [{"href": url, "text": "The GitHub issue"}],
    }


def follow_up(clock_id: int, action: str) -> dict[str, Any]:
    """`acknowledge` or `resolve` for the clock's incident."""
    return {"event_action": action, "dedup_key": dedup_key(clock_id)}


class PagerDuty:
    """Sends events over the app's shared httpx client."""

    def __init__(self, http: httpx.AsyncClient, routing_key: str, url: str = EVENTS_URL):
        self._http = http
        self._key = routing_key
        self._url = url

    async def send(self, event: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = await self._http.post(self._url, json={**event, "routing_key": self._key})
        except httpx.TransportError as exc:
            raise PagerDutyError(f"pagerduty unreachable: {type(exc).__name__}",
                                 permanent=False) from None  # fmt: skip
        if reply.status_code == 202:
            data: dict[str, Any] = reply.json()
            return {"dedup_key": data.get("dedup_key"), "status": data.get("status")}
        text = reply.text[:300].replace(self._key, "[routing key]")
        retry_after = reply.headers.get("retry-after")
        raise PagerDutyError(
            f"pagerduty refused the event: HTTP {reply.status_code}: {text}",
            permanent=reply.status_code == 400,
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
