"""A local PagerDuty stand-in that behaves as the Events API v2 and V3 webhooks document it
(https://developer.pagerduty.com/docs/events-api-v2/overview/), not as sla-bot expects:

- a `dedup_key` deduplicates only while its incident is open: a trigger after the resolve
  opens a new incident (the phone rings again);
- acknowledge or resolve of an unknown or resolved key is accepted (202) and does nothing;
- every status change is reported back as a signed V3 webhook, the ones the integration
  itself made included (agent: the service), as are a person's in the app (agent: a user)
  and PagerDuty's own (auto-resolve, merge);
- `lose_answers` takes the next events and drops the answer (a 502 after the fact).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sla_sandbox.standins.server import LoopbackServer

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
ROUTING_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32"  # integration keys are 32 characters
SERVICE = {"id": "PSLABOT", "summary": "sla-bot (Events API v2)", "type": "service_reference"}


@dataclass
class Incident:
    number: int
    dedup_key: str
    summary: str
    status: str = "triggered"
    events: list[str] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.status != "resolved"


class FakePagerDuty:
    """`POST /v2/enqueue`; `events` holds every accepted event, `incidents` every incident
    opened (oldest first), `webhook(url, secret)` sends V3 webhooks back there."""

    def __init__(self, routing_key: str = ROUTING_KEY) -> None:
        self.routing_key = routing_key
        self.events: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []
        self.incidents: list[Incident] = []
        self.lose_answers = 0
        self._hooks: list[tuple[str, str]] = []
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None
        self.app = Starlette(routes=[Route("/v2/enqueue", self._enqueue, methods=["POST"])])

    def serve(self) -> LoopbackServer:
        self._server = LoopbackServer(self.app).start()
        return self._server

    @property
    def url(self) -> str:
        assert self._server is not None, "FakePagerDuty is not serving"
        return self._server.url + "/v2/enqueue"

    def reset(self) -> None:
        with self._lock:
            self.events.clear()
            self.refused.clear()
            self.incidents.clear()
            self._hooks.clear()
            self.lose_answers = 0

    def webhook(self, url: str, secret: str) -> None:
        """Report every status change to `url`, signed with `secret` (a V3 subscription)."""
        self._hooks.append((url, secret))

    def incident(self, dedup_key: str) -> Incident | None:
        """The open incident of `dedup_key`, else its latest."""
        found = [i for i in self.incidents if i.dedup_key == dedup_key]
        return next((i for i in reversed(found) if i.open), found[-1] if found else None)

    def act(self, incident: Incident, action: str, agent: dict[str, str]) -> None:
        """A person in PagerDuty's app (agent `user_reference`) or PagerDuty itself
        (auto-resolve, merge: agent `service_reference`) changes an incident."""
        with self._lock:
            changed = self._change(incident, action)
        if changed:
            self._report(incident, agent)

    async def _enqueue(self, request: Request) -> Response:
        try:
            event = await request.json()
        except ValueError:
            return _invalid(["Event object is not valid JSON"])
        errors = self._problems(event) if isinstance(event, dict) else ["not an object"]
        with self._lock:
            if errors:
                self.refused.append(event)
                return _invalid(errors)
            self.events.append(event)
            key = event.get("dedup_key") or f"generated-{len(self.events)}"
            incident, changed = self._apply(key, event)
            lost = self.lose_answers > 0
            self.lose_answers -= lost
        if changed and incident is not None:
            self._report(incident, SERVICE)  # the integration's own change comes back too
        if lost:
            return Response("Bad Gateway", status_code=502)
        body = {"status": "success", "message": "Event processed", "dedup_key": key}
        return JSONResponse(body, status_code=202)

    def _apply(self, key: str, event: dict[str, Any]) -> tuple[Incident | None, bool]:
        action = event["event_action"]
        incident = self.incident(key)
        if action == "trigger" and (incident is None or not incident.open):
            incident = Incident(next(self._numbers), key, event["payload"]["summary"])
            self.incidents.append(incident)
            incident.events.append(action)
            return incident, True
        if incident is None or not incident.open:
            return None, False  # accepted, and nothing happens
        incident.events.append(action)
        return incident, self._change(incident, action)

    @staticmethod
    def _change(incident: Incident, action: str) -> bool:
        status = {"acknowledge": "acknowledged", "resolve": "resolved"}.get(action)
        if status is None or not incident.open or incident.status == status:
            return False
        incident.status = status
        return True

    def _report(self, incident: Incident, agent: dict[str, str]) -> None:
        body = json.dumps(
            {
                "event": {
                    "id": f"01EVENT{len(self.events):06d}",
                    "event_type": f"incident.{incident.status}",
                    "resource_type": "incident",
                    "occurred_at": "2026-11-29T02:00:00.000Z",
                    "agent": agent,
                    "data": {
                        "id": f"PINC{incident.number}",
                        "type": "incident",
                        "number": incident.number,
                        "status": incident.status,
                        "incident_key": incident.dedup_key,
                        "title": incident.summary,
                    },
                }
            }
        ).encode()
        for url, secret in list(self._hooks):
            signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers = {"content-type": "application/json", "x-pagerduty-signature": signature}
            threading.Thread(target=_post, args=(url, body, headers), daemon=True).start()

    def _problems(self, event: dict[str, Any]) -> list[str]:
        errors = []
        if event.get("routing_key") != self.routing_key:
            errors.append("'routing_key' is invalid")
        action = event.get("event_action")
        if action not in ACTIONS:
            errors.append("'event_action' is invalid")
        key = event.get("dedup_key")
        if key is not None and (not isinstance(key, str) or len(key) > 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        if action in ("acknowledge", "resolve") and not key:
            errors.append("'dedup_key' is required to acknowledge or resolve")
        if action == "trigger":
            payload = event.get("payload")
            if not isinstance(payload, dict):
                return [*errors, "'payload' is missing"]
            summary = payload.get("summary")
            if not isinstance(summary, str) or not 0 < len(summary) <= 1024:
                errors.append("'payload.summary' must be 1 to 1024 characters")
            if not payload.get("source"):
                errors.append("'payload.source' is missing")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' is invalid")
        return errors


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    """A webhook delivery; PagerDuty retries failures, the stand-in gives up quietly."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(url, content=body, headers=headers, timeout=5)


def _invalid(errors: list[str]) -> JSONResponse:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    return JSONResponse(body, status_code=400)
