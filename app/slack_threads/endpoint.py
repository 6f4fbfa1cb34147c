"""POST /slack/events: Slack's Events API. Verified, stored durably as a delivery (its id is
Slack's `event_id`, so Slack's retries are stored once) and answered at once; the work runs in
the worker and goes out through the outbox.

https://docs.slack.dev/apis/events-api/ (answer within 3 s; retries carry X-Slack-Retry-Num)
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.http import signatures
from app.http.interactions import read_signed
from app.slack_threads import channels
from app.store import queue

log = logging.getLogger(__name__)
http = APIRouter()
PATH = "/slack/events"
EVENT = "slack"  # the stored deliveries' event name (GitHub's are issues, issue_comment, ...)
# What sla-bot listens to; everything else is answered and dropped.
HANDLED = frozenset({"reaction_added", "app_mention", "message"})
# Message subtypes that are a person's words in a thread (a plain message has none).
PEOPLE = frozenset({None, "thread_broadcast", "file_share", "message_changed", "message_deleted"})


def _channel(event: dict[str, Any]) -> str | None:
    item = event.get("item")
    channel = item.get("channel") if isinstance(item, dict) else event.get("channel")
    return channel if isinstance(channel, str) and channel else None


def wanted(event: dict[str, Any]) -> bool:
    """An event sla-bot acts on: not a bot's own message (sla-bot's included), not a join or
    a topic change."""
    if event.get("type") not in HANDLED:
        return False
    if event.get("type") == "message":
        subtype = event.get("subtype")
        if subtype in ("message_changed", "message_deleted"):
            return True  # the changed message (a bot's included) is looked at by the handler
        threaded = event.get("thread_ts") not in (None, event.get("ts"))
        return subtype in PEOPLE and threaded and not event.get("bot_id")
    return not event.get("bot_id")


@http.post(PATH)
async def events(request: Request) -> Response:
    services = request.app.state.services
    secret = services.settings.signing_secret()
    if secret is None:
        return JSONResponse(
            {"detail": "Slack events are off: SLACK_SIGNING_SECRET is not set"}, 404
        )
    # The one reader of every signed endpoint (bounded, stall-proof), Slack's v0 signature.
    check = signatures.slack(secret, request.headers, services.time())
    body = await read_signed(
        request,
        check,
        services.gates.slack,
        "slack event",
        "missing, wrong or stale X-Slack-Signature",
    )
    if isinstance(body, Response):
        return body
    try:
        data = orjson.loads(body)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        return JSONResponse({"detail": "malformed event: not a JSON object"}, 400)
    if data.get("type") == "url_verification":
        return JSONResponse({"challenge": str(data.get("challenge") or "")})
    event, event_id = data.get("event"), data.get("event_id")
    if data.get("type") != "event_callback" or not isinstance(event, dict):
        return Response(status_code=200)  # app_rate_limited and other notices
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 64:
        return JSONResponse({"detail": "malformed event: no event_id"}, 400)
    channel = _channel(event)
    if not wanted(event) or channel is None:
        return Response(status_code=200)
    intake = await services.db.run(channels.resolve, channel, services.policies.fallback)
    if intake is None:
        log.info(
            "slack event ignored: no repository takes this channel's requests",
            extra={"channel": channel[:32], "event_id": event_id},
        )
        return Response(status_code=200)
    row = {
        "id": f"slack:{event_id}",
        "event": EVENT,
        "action": str(event["type"])[:64],
        "installation_id": intake.installation_id,
        "repo": intake.repo,
        "issue_number": None,
        "body": body.decode("utf-8", "replace"),
        "received_at": services.time(),
        "status": "pending",
        "next_attempt_at": services.time(),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "lane": queue.ROUTINE_LANE,
    }
    retry = request.headers.get("x-slack-retry-num")
    if not await services.writer.record(row):
        log.info("slack event already stored", extra={"event_id": event_id, "retry": retry})
        return Response(status_code=200)
    log.info(
        "slack event stored",
        extra={"event_id": event_id, "repo": intake.repo, "event": event["type"], "retry": retry},
    )
    services.runner.kick(stored=1)
    return Response(status_code=200)
