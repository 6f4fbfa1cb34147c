"""A local PagerDuty Events API v2 stand-in: validates events as the API documents them and
keeps each incident's status by `dedup_key`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.standins.server import LoopbackServer

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
ROUTING_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32"  # integration keys are 32 characters


@dataclass
class Incident:
    dedup_key: str
    summary: str
    status: str = "triggered"
    events: list[str] = field(default_factory=list)


class FakePagerDuty:
    """`POST /v2/enqueue`; `events` holds every accepted event, `incidents` their state."""

    def __init__(self, routing_key: str = ROUTING_KEY) -> None:
        self.routing_key = routing_key
        self.events: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []
        self.incidents: dict[str, Incident] = {}
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

    async def _enqueue(self, request: Request) -> JSONResponse:
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
            incident = self.incidents.get(key)
            if event["event_action"] == "trigger" and incident is None:
                incident = self.incidents[key] = Incident(key, event["payload"]["summary"])
            if incident is not None:
                incident.events.append(event["event_action"])
                if incident.status != "resolved":
                    incident.status = {"trigger": incident.status, "acknowledge": "acknowledged",
                                       "resolve": "resolved"}[event["event_action"]]  # fmt: skip
        body = {"status": "success", "message": "Event processed", "dedup_key": key}
        return JSONResponse(body, status_code=202)

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


def _invalid(errors: list[str]) -> JSONResponse:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    return JSONResponse(body, status_code=400)
