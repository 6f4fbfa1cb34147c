"""The on-call engineer's answers from where the page reached them: the Slack page's
Acknowledge and Resolve buttons (POST /slack/interactions) and PagerDuty's own acknowledge and
resolve (POST /pagerduty/webhooks, V3 webhooks). Both are signed; the work goes out through
the outbox.

https://docs.slack.dev/interactivity/handling-user-interaction (answer within 3 s)
https://developer.pagerduty.com/docs/webhooks/v3-overview/
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from slack_sdk.signature import Clock, SignatureVerifier
from sqlalchemy import Connection

from app import oncall
from app.notify import pagerduty
from app.store import clocks, meta

log = logging.getLogger(__name__)
http = APIRouter()
MAX_BODY = 1024 * 1024
ACTIONS = {"sla_acknowledge": oncall.acknowledge, "sla_resolve": oncall.resolve}


class _Clock(Clock):
    """slack-sdk's clock over the app's injected clock (the 5-minute window)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock().timestamp()


def slack_signature(secret: str, body: bytes, at: datetime) -> dict[str, str]:
    """The headers Slack signs a request with (the demo's clicks use them)."""
    stamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {"x-slack-request-timestamp": stamp, "x-slack-signature": f"v0={digest.hexdigest()}"}


def verified(secret: str, clock: Callable[[], datetime], body: bytes, headers: Any) -> bool:
    """Slack's v0 signature over `v0:{timestamp}:{body}`, timestamp within 5 minutes."""
    try:
        return SignatureVerifier(secret, clock=_Clock(clock)).is_valid_request(body, headers)
    except (ValueError, TypeError):  # a timestamp that is not a number, a non-ASCII signature
        return False


def _action(body: bytes) -> tuple[str, int, str] | None:
    """(action id, clock id, who clicked) of a block_actions payload, or None."""
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
        if payload.get("type") != "block_actions":
            return None
        action = payload["actions"][0]
        user = payload["user"]
        who = str(user.get("name") or user.get("username") or user["id"])
        return str(action["action_id"]), int(action["value"]), who
    except (KeyError, IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError):
        return None


async def read_limited(request: Request, limit: int = MAX_BODY) -> bytes | None:
    """The body, or None when it is over `limit` (refused before it is read whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@http.post("/slack/interactions")
async def interact(request: Request) -> Response:
    services = request.app.state.services
    secret = services.settings.signing_secret()
    if secret is None:
        return JSONResponse({"detail": "buttons are off: SLACK_SIGNING_SECRET is not set"}, 404)
    body = await read_limited(request)
    if body is None:
        return JSONResponse({"detail": "payload too large"}, 413)
    if not verified(secret, services.clock, body, request.headers):
        log.warning("slack interaction refused: missing, wrong or stale signature")
        return JSONResponse({"detail": "missing, wrong or stale X-Slack-Signature"}, 401)
    found = _action(body)
    if found is None or found[0] not in ACTIONS:
        return Response(status_code=200)  # another kind of interaction: nothing to do
    action, clock_id, who = found
    return await _act(services, ACTIONS[action], action.removeprefix("sla_"), clock_id, who)


LEGACY = "sla-bot-clock-"  # incident keys before deployments had ids
PAGERDUTY_EVENTS = {
    "incident.acknowledged": oncall.acknowledge,
    "incident.resolved": oncall.resolve,
}


def pagerduty_verified(secret: str, body: bytes, header: str) -> bool:
    """`X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the body>[,v1=...]` (rotated secrets
    send several)."""
    expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace"))
               for given in header.split(","))  # fmt: skip


def _incident(body: bytes) -> tuple[str, str, str] | None:
    """(event type, incident key, who) of an incident event, or None."""
    try:
        event = json.loads(body)["event"]
        key = str(event["data"].get("incident_key") or "")
        # A person acknowledges or resolves as a user; the service itself (auto-resolve, a
        # merge, the echo of sla-bot's own events) as anything else: `who` is then empty.
        agent = event.get("agent") or {}
        person = str(agent.get("type", "")).startswith("user")
        who = str(agent.get("summary") or "someone") if person else ""
        return str(event["event_type"]), key, who
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def episode_clock(conn: Connection, key: str) -> int | None:
    """The episode (its clock id) an incident key of this deployment names; None for an
    incident of another store or deployment on the same routing key, or none of sla-bot's."""
    if key.startswith(LEGACY) and key.removeprefix(LEGACY).isdigit():
        return int(key.removeprefix(LEGACY))  # paged before incident keys named deployments
    episode = pagerduty.episode_of(key)
    if episode is None or episode.deployment != meta.deployment(conn):
        return None
    return clocks.paged(conn, episode.repo, episode.number, episode.paged_at)


@http.post("/pagerduty/webhooks")
async def pagerduty_webhook(request: Request) -> Response:
    services = request.app.state.services
    secret = services.settings.pagerduty_secret()
    if secret is None:
        return JSONResponse({"detail": "inbound PagerDuty is off: no PAGERDUTY_WEBHOOK_SECRET"},
                            404)  # fmt: skip
    body = await read_limited(request)
    if body is None:
        return JSONResponse({"detail": "payload too large"}, 413)
    signature = request.headers.get("x-pagerduty-signature", "")
    if not pagerduty_verified(secret, body, signature):
        log.warning("pagerduty webhook refused: missing or wrong signature")
        return JSONResponse({"detail": "missing or wrong X-PagerDuty-Signature"}, 401)
    found = _incident(body)
    if found is None or found[0] not in PAGERDUTY_EVENTS:
        return Response(status_code=200)
    kind, key, who = found
    clock_id = await services.db.run(episode_clock, key)
    if clock_id is None:
        return Response(status_code=200)  # not an incident of ours
    return await _act(services, PAGERDUTY_EVENTS[kind], kind, clock_id, who)


async def _act(services: Any, step: Any, name: str, clock_id: int, who: str) -> Response:
    """Acknowledge or resolve the page of `clock_id` as `who`; a second time changes nothing.
    The answer is immediate: the comments, PagerDuty and the page edit go out through the
    outbox."""
    clock = await services.db.run(clocks.get, clock_id)
    if clock is None:
        return Response(status_code=200)
    # The click is answered from the store: GitHub refusing the key does not stop it.
    policy = (await services.policies.read(clock.installation_id, clock.repo)).policy
    done = await services.db.run(step, clock, policy, who=who, at=services.clock())
    log.info("page %s", name, extra={"clock": clock_id, "by": who, "changed": done})
    services.runner.kick()
    return Response(status_code=200)
