"""POST /webhooks/github: verify the signature over the raw body, store, answer 202."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.http import body
from app.logs import failure
from app.metrics import event_label
from app.store import deliveries

log = logging.getLogger(__name__)
PATH = "/webhooks/github"

MAX_BODY = 25 * 1024 * 1024  # GitHub never sends more (docs: webhook payload cap)
IN_MEMORY = 1024 * 1024  # a body beyond this is spooled to disk until its signature checks out
IN_FLIGHT = 256  # deliveries read at once; a delivery takes milliseconds, a flood waits out 503s
SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")
MAX_INT = 2**31 - 1  # issue numbers (the store's Integer)
MAX_BIGINT = 2**63 - 1  # installation ids (BigInteger)
MAX_REPO = 255  # the store's column; GitHub: owner 39 + "/" + name 100


STALL_SECONDS = 10.0  # a body that sends nothing for this long is dropped (slow clients)


def limits() -> body.Limits:
    """The receiver's bounds (read at each request: tests shorten the stall)."""
    return body.Limits(most=MAX_BODY, in_memory=IN_MEMORY, stall=STALL_SECONDS, in_flight=IN_FLIGHT)


def _answer(status: int, detail: str, **extra: Any) -> Response:
    """A small JSON answer (orjson: Starlette's JSONResponse renders through json.dumps,
    a twentieth of the receiver's CPU at full load)."""
    payload = orjson.dumps({"detail": detail, **extra})
    return Response(payload, status_code=status, media_type="application/json")


def parse_payload(raw_body: bytes, content_type: str) -> dict[str, Any]:
    """JSON, or the form-encoded `payload=` field (a hook's content type may be either).

    orjson: a 7 KB delivery parses in a third of the standard library's time (ingest at full
    load on PostgreSQL: +10%); it takes no NaN, no integer beyond 64 bits and no nesting past
    1,024, none of which GitHub sends (each answered 400, as any malformed body)."""
    raw: bytes | str = raw_body
    if content_type.startswith("application/x-www-form-urlencoded"):
        raw = parse_qs(raw_body.decode("utf-8")).get("payload", [""])[0]
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the payload is not a JSON object")
    return data


async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """POST PATH as a bare ASGI app, called by the app ahead of its middleware and routing
    (a delivery needs neither; they were a fifth of its CPU). A delivery that cannot be
    stored is answered 503 (not accepted: GitHub's redelivery, or ours, sends it again)."""
    request = Request(scope, receive)
    try:
        response = await handle(request)
    except ClientDisconnect:  # gone before its body arrived: nobody to answer, nothing stored
        log.warning("delivery dropped: the client went away mid-body")
        return
    except Exception as exc:
        delivery = (request.headers.get("x-github-delivery") or "")[:80]
        failure(log, "delivery not stored", exc, delivery_id=delivery)
        response = _answer(503, "the delivery could not be stored; send it again")
    await response(scope, receive, send)


async def handle(request: Request) -> Response:
    """Verify, parse, store, answer: the route at PATH (also a plain Starlette endpoint)."""
    services = request.app.state.services
    count = services.metrics.deliveries
    event = request.headers.get("x-github-event") or ""
    signature = request.headers.get("x-hub-signature-256", "")
    # Nothing unauthenticated names a metric series: its event is "unknown" whatever it says.
    if not SIGNATURE.fullmatch(signature):  # missing, legacy sha1=, non-ASCII, malformed
        return _refused(count, request, "missing or malformed")
    mac = hmac.new(services.webhook_secret.encode(), digestmod=hashlib.sha256)
    expected = signature.removeprefix("sha256=")
    try:
        raw = await body.read(
            request,
            mac,
            lambda digest: hmac.compare_digest(digest, expected),
            limits(),
            services.gates.github,
        )
    except body.TooLarge:
        count.labels("unknown", "too_large").inc()
        return _answer(413, "payload over 25 MiB")
    except body.Stalled:
        count.labels("unknown", "stalled").inc()
        return _answer(408, f"no body data for {STALL_SECONDS:.0f} s")
    except body.Busy:
        count.labels("unknown", "busy").inc()
        return busy()
    except body.Forged:
        return _refused(count, request, "wrong")
    delivery_id = request.headers.get("x-github-delivery") or ""
    try:
        _check_headers(event, delivery_id)
        payload = parse_payload(raw, request.headers.get("content-type", ""))
        row = _row(delivery_id, event, payload, raw, request, services.time())
        row["lane"] = services.urgency.lane(event, payload)  # production down goes first
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        reason = (str(exc) or type(exc).__name__)[:200]  # RecursionError: absurdly nested
        await _reject(services, event, delivery_id, raw, reason)
        count.labels(event_label(event), "rejected").inc()
        return _answer(400, f"malformed delivery: {reason}")
    if not await services.writer.record(row):
        count.labels(event_label(event), "duplicate").inc()
        return _answer(200, "duplicate delivery, already stored", delivery=delivery_id)
    count.labels(event_label(event), "accepted").inc()
    services.runner.kick(lane=row["lane"], stored=1)
    return _answer(202, "accepted", delivery=delivery_id)


def busy() -> Response:
    """503 without reading: the endpoint already reads as many bodies as it takes at once."""
    answer = _answer(503, "too many requests in flight; send it again")
    answer.headers["retry-after"] = "1"
    return answer


def _refused(count: Any, request: Request, how: str) -> Response:
    """401, and one log line without the body (the delivery id is GitHub's, not a secret)."""
    count.labels("unknown", "unauthorized").inc()
    delivery = (request.headers.get("x-github-delivery") or "")[:80]
    log.warning(
        "delivery refused: %s X-Hub-Signature-256",
        how,
        extra={"delivery_id": delivery.encode("ascii", "replace").decode()},
    )
    return _answer(401, "missing or wrong X-Hub-Signature-256")


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
        now=services.time(),
        status=deliveries.REJECTED,
        error=reason,
    )
    log.warning("delivery rejected", extra={"delivery_id": delivery_id[:80], "reason": reason})


def _row(
    delivery_id: str,
    event: str,
    payload: dict[str, Any],
    body: bytes,
    request: Request,
    now: datetime,
) -> dict[str, Any]:
    installation = _number(payload, "installation", "id", MAX_BIGINT)
    number = _number(payload, "issue", "number", MAX_INT)
    return {
        "id": delivery_id,
        "event": event,
        "action": _str(payload.get("action")),
        "installation_id": installation,
        "repo": _repo(payload),
        "issue_number": number,
        # The raw JSON as GitHub sent it; a form-encoded delivery is stored as its JSON.
        "body": body.decode() if _is_json(request) else json.dumps(payload),
        "received_at": now,
        "status": deliveries.PENDING,
        "next_attempt_at": now,
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }


def _is_json(request: Request) -> bool:
    return not request.headers.get("content-type", "").startswith("application/x-www-form")


def _field(payload: dict[str, Any], outer: str, inner: str) -> Any:
    value = payload.get(outer)
    return value.get(inner) if isinstance(value, dict) else None


def _str(value: Any) -> str | None:
    return value[:64] if isinstance(value, str) else None


def _repo(payload: dict[str, Any]) -> str | None:
    """The repository's full name whole (GitHub's are at most 140 characters): the tenant
    check compares it with the stored owner, and a clipped name matched none (skipped)."""
    value = _field(payload, "repository", "full_name")
    if not isinstance(value, str):
        return None
    if len(value) > MAX_REPO:
        raise ValueError("repository.full_name is too long")
    return value


def _number(payload: dict[str, Any], outer: str, inner: str, most: int) -> int | None:
    """`outer.inner` when it is a whole number (None when absent or not a number); outside
    1..`most` it is malformed (orjson reads an integer beyond 64 bits as a float)."""
    value = _field(payload, outer, inner)
    number = _int(value)
    if isinstance(value, float) or (number is not None and not 0 < number <= most):
        raise ValueError(f"{outer}.{inner} is out of range")
    return number


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
