"""POST /webhooks/github: verify the signature over the raw body, store, answer 202."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from gidgethub import ValidationFailure
from gidgethub.sansio import validate_event

from app.issue import installation_id
from app.store import deliveries

log = logging.getLogger(__name__)
http = APIRouter()

MAX_BODY = 25 * 1024 * 1024  # GitHub never sends more (docs: webhook payload cap)


class TooLarge(Exception):
    pass


def _answer(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, refused before it is read whole when it is over `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def parse_payload(body: bytes, content_type: str) -> dict[str, Any]:
    """JSON, or the form-encoded `payload=` field (a hook's content type may be either)."""
    text = body.decode("utf-8")
    if content_type.startswith("application/x-www-form-urlencoded"):
        text = parse_qs(text).get("payload", [""])[0]
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the payload is not a JSON object")
    return data


@http.post("/webhooks/github", status_code=202)
async def receive(request: Request) -> Response:
    services = request.app.state.services
    count = services.metrics.deliveries
    event = request.headers.get("x-github-event") or ""
    try:
        body = await read_body(request)
    except TooLarge:
        count.labels(event or "unknown", "too_large").inc()
        return _answer(413, "payload over 25 MiB")
    signature = request.headers.get("x-hub-signature-256", "")
    try:
        if not signature.startswith("sha256="):  # gidgethub would also take a legacy sha1=
            raise ValidationFailure(signature)
        validate_event(body, signature=signature, secret=services.webhook_secret)
    except ValidationFailure:  # missing or wrong: checked before anything is parsed
        count.labels(event or "unknown", "unauthorized").inc()
        return _answer(401, "missing or wrong X-Hub-Signature-256")
    delivery_id = request.headers.get("x-github-delivery") or ""
    try:
        _check_headers(event, delivery_id)
        payload = parse_payload(body, request.headers.get("content-type", ""))
    except (ValueError, UnicodeDecodeError) as exc:
        await _reject(services, event, delivery_id, body, str(exc)[:200])
        count.labels(event or "unknown", "rejected").inc()
        return _answer(400, f"malformed delivery: {str(exc)[:200]}")
    row = _row(delivery_id, event, payload, body, request, services.clock())
    if not await services.writer.record(row):
        count.labels(event, "duplicate").inc()
        return _answer(200, "duplicate delivery, already stored", delivery=delivery_id)
    count.labels(event, "accepted").inc()
    services.worker.kick()
    return _answer(202, "accepted", delivery=delivery_id)


def _check_headers(event: str, delivery_id: str) -> None:
    if not event or not delivery_id:
        raise ValueError("missing X-GitHub-Event or X-GitHub-Delivery header")
    if len(event) > 64 or len(delivery_id) > 80:
        raise ValueError("X-GitHub-Event or X-GitHub-Delivery is too long")


async def _reject(services: Any, event: str, delivery_id: str, body: bytes, reason: str) -> None:
    """Keep a malformed delivery for the record (signed, so it came from GitHub)."""
    await services.db.run(
        deliveries.record,
        delivery_id=f"rejected:{delivery_id[:80] or uuid.uuid4()}",
        event=event[:64] or "unknown",
        action=None,
        installation_id=None,
        repo=None,
        issue_number=None,
        body=body.decode("utf-8", "replace")[:100_000],
        now=services.clock(),
        status=deliveries.REJECTED,
        error=reason,
    )
    log.warning("delivery rejected", extra={"delivery_id": delivery_id[:80], "reason": reason})


def _row(
    delivery_id: str, event: str, payload: dict[str, Any], body: bytes, request: Request,
    now: datetime,
) -> dict[str, Any]:  # fmt: skip
    return {
        "id": delivery_id,
        "event": event,
        "action": _str(payload.get("action")),
        "installation_id": installation_id(payload),
        "repo": _str(_field(payload, "repository", "full_name")),
        "issue_number": _int(_field(payload, "issue", "number")),
        # The raw JSON as GitHub sent it; a form-encoded delivery is stored as its JSON.
        "body": body.decode() if _is_json(request) else json.dumps(payload),
        "received_at": now,
        "status": deliveries.PENDING,
        "next_attempt_at": now,
    }


def _is_json(request: Request) -> bool:
    return not request.headers.get("content-type", "").startswith("application/x-www-form")


def _field(payload: dict[str, Any], outer: str, inner: str) -> Any:
    value = payload.get(outer)
    return value.get(inner) if isinstance(value, dict) else None


def _str(value: Any) -> str | None:
    return value[:64] if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
