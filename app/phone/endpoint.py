"""The escalation number's webhooks (Twilio Programmable Voice): POST /twilio/voice answers a
call with TwiML and opens its production-down request at once (or asks the policy's question
first: its answer opens it); the <Record> action, the transcription, the nothing-heard
redirect and the call's status complete it on the issue.

Every request is checked against X-Twilio-Signature over the public URL Twilio requested
(SLA_PUBLIC_URL + path) and its POST parameters; unsigned, forged or replayed: 403, nothing
changes. https://www.twilio.com/docs/usage/webhooks/webhooks-security
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.http.interactions import read_signed
from app.notify import twilio
from app.notify.twilio import mask
from app.phone import calls
from app.sla.domain import Priority
from app.store import calls as stored
from app.store.calls import Call

log = logging.getLogger(__name__)
http = APIRouter()
PATH = "/twilio/voice"
RECORDED, TRANSCRIBED, SILENT, STATUS, ANSWERED = (
    f"{PATH}/{name}" for name in ("recorded", "transcribed", "silent", "status", "answered")
)
MAX_BODY = 64 * 1024
# Twilio ends a call after 4 hours; a voice webhook for an older call is a replay. Its
# callbacks (a transcription comes minutes after the call) are taken for a day.
CALL_LIFE, CALLBACK_LIFE = timedelta(hours=4), timedelta(days=1)
TWIML = "application/xml"


def _twiml(text: str) -> Response:
    return Response(text, media_type=TWIML)


def _public(request: Request) -> str:
    """The URL Twilio requested, as it signed it: SLA_PUBLIC_URL (behind a proxy the
    request's own URL is not what Twilio called), else the request's."""
    base = request.app.state.services.settings.sla_public_url
    if not base:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base.rstrip('/')}{request.url.path}{query}"


def base_url(request: Request) -> str:
    base = request.app.state.services.settings.sla_public_url
    return (base or str(request.base_url)).rstrip("/")


async def _signed(request: Request) -> dict[str, str] | Response:
    """The request's POST parameters once its signature is good; else the answer to give."""
    token = request.app.state.services.settings.twilio_token()
    if token is None:
        return JSONResponse({"detail": "the phone line is off: TWILIO_AUTH_TOKEN is not set"}, 404)
    # Twilio signs the URL and the parameters, not the raw body: the shared reader bounds
    # the read (size, stall, bodies in flight) and the signature is checked after it.
    unsigned = (hmac.new(b"twilio", digestmod=hashlib.sha256), lambda _digest: True)
    body = await read_signed(
        request,
        unsigned,
        request.app.state.services.gates.twilio,
        "twilio request",
        "missing or wrong X-Twilio-Signature",
    )
    if isinstance(body, Response):
        return body
    try:
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        params = {}
    signature = request.headers.get(twilio.SIGNATURE, "")
    if not params or not twilio.valid(token, _public(request), params, signature):
        log.warning(
            "twilio request refused: missing or wrong X-Twilio-Signature",
            extra={"path": request.url.path},
        )
        return JSONResponse({"detail": "missing or wrong X-Twilio-Signature"}, 403)
    return params


def _replayed(call: Call, now: Any, life: timedelta) -> Response | None:
    if now - call.called_at <= life:
        return None
    log.warning("twilio request refused: replay of an old call", extra={"call": call.sid})
    return JSONResponse({"detail": "a replay of an old call"}, 403)


@http.post(PATH)
async def voice(request: Request) -> Response:
    """A call: the greeting, the tone, the recording; the page goes out at once. With the
    policy's question, the caller is asked first (<Gather>) and the answer decides."""
    params = await _signed(request)
    if isinstance(params, Response):
        return params
    services = request.app.state.services
    sid, to, caller = params.get("CallSid", ""), params.get("To", ""), params.get("From", "")
    if not sid:
        return JSONResponse({"detail": "no CallSid"}, 400)
    line = await calls.line_of(services, to)
    if line is None:
        log.warning("call to a number no policy claims", extra={"call": sid, "to": to})
        return _twiml(twilio.say_and_hang_up(twilio.UNKNOWN_NUMBER))
    now = services.time()
    known = await services.db.run(stored.by_sid, sid)
    asks = line.policy.intake.phone.question
    if known is not None:
        refused = _replayed(known, now, CALL_LIFE)
        if refused is not None:
            return refused
    else:
        await _new_call(request, line, sid=sid, to=to, caller=caller, now=now)
    base = base_url(request)
    if asks and (known is None or known.clock_id is None):
        return _twiml(twilio.ask(line.team, answered=base + ANSWERED))
    priority = None if known is None else await services.db.run(calls.priority_of, known)
    return _twiml(_record(base, line.policy, priority, line.greeting))


async def _new_call(
    request: Request, line: calls.Line, *, sid: str, to: str, caller: str, now: Any
) -> None:
    """Stored; paged at once, unless the policy asks its question first (the answer pages)."""
    services = request.app.state.services
    if line.policy.intake.phone.question:
        await services.db.run(calls.store, sid=sid, line=line, to=to, caller=caller, now=now)
        log.info("call received; caller asked", extra={"call": sid, "repo": line.repo})
        return
    url = _issues(request, line.repo)
    call = await services.db.run(
        calls.receive, sid=sid, line=line, to=to, caller=caller, now=now, url=url
    )
    if call is not None:
        services.runner.kick()  # the page goes out now, not at the next poll
        log.info(
            "call received; on-call paged",
            extra={"call": sid, "repo": line.repo, "caller": mask(caller)},
        )


def _issues(request: Request, repo: str) -> str:
    return f"{request.app.state.services.settings.github_web_url()}/{repo}/issues"


def _record(base: str, policy: Any, priority: Priority | None, greeting: str) -> str:
    """The tone and the recording, and what a caller who says nothing hears."""
    urgent = priority is not None and not policy.pages(priority)
    return twilio.answer(
        greeting,
        max_length=policy.intake.phone.max_length,
        recorded=base + RECORDED,
        transcribed=base + TRANSCRIBED,
        silent=base + SILENT,
        nothing_heard=twilio.NOTHING_HEARD_URGENT if urgent else twilio.NOTHING_HEARD,
    )


# A callback's change: (connection, call, policy, now, Twilio's parameters, issues URL).
Change = Callable[[Any, Call, Any, Any, dict[str, str], str], bool]


async def _callback(
    request: Request,
    change: Change,
    answer: str | Callable[[Priority | None, Any, Call], str] | None,
) -> Response:
    """A follow-up of a known call: `change` stored, and `answer` (TwiML, or made from the
    priority the call was opened as, the policy and the call) said to the caller."""
    params = await _signed(request)
    if isinstance(params, Response):
        return params
    services = request.app.state.services
    call = await services.db.run(stored.by_sid, params.get("CallSid", ""))
    if call is None:
        log.warning("twilio callback for an unknown call", extra={"path": request.url.path})
        return JSONResponse({"detail": "not a call of this line"}, 403)
    now = services.time()
    refused = _replayed(call, now, CALLBACK_LIFE)
    if refused is not None:
        return refused
    policy = await services.policies.get(call.installation_id, call.repo)
    if await services.db.run(change, call, policy, now, params, _issues(request, call.repo)):
        services.runner.kick()
        log.info("call updated", extra={"call": call.sid, "path": request.url.path})
    if callable(answer):
        answer = answer(await services.db.run(calls.priority_of, call), policy, call)
    return _twiml(answer if answer is not None else twilio.empty())


def _recorded(
    conn: Any, call: Call, policy: Any, now: Any, params: dict[str, str], url: str
) -> bool:
    url = params.get("RecordingUrl", "")
    if not url:
        return False
    seconds = params.get("RecordingDuration", "")
    return calls.left(
        conn,
        call,
        policy,
        now,
        outcome=calls.MESSAGE,
        recording_url=url,
        recording_seconds=int(seconds) if seconds.isdigit() else None,
    )


def _transcribed(
    conn: Any, call: Call, policy: Any, now: Any, params: dict[str, str], url: str
) -> bool:
    status = params.get("TranscriptionStatus", "")
    text = params.get("TranscriptionText", "") if status == "completed" else None
    values: dict[str, Any] = {"transcript": text, "transcript_status": status[:16] or None}
    if params.get("RecordingUrl") and not call.recording_url:
        values.update(outcome=calls.MESSAGE, recording_url=params["RecordingUrl"])
    return calls.left(conn, call, policy, now, **values)


def _silent(conn: Any, call: Call, policy: Any, now: Any, params: dict[str, str], url: str) -> bool:
    if call.outcome is not None:
        return False
    return calls.left(conn, call, policy, now, outcome=calls.SILENT)


def _status(conn: Any, call: Call, policy: Any, now: Any, params: dict[str, str], url: str) -> bool:
    if params.get("CallStatus") not in ("completed", "canceled", "busy", "failed", "no-answer"):
        return False
    return calls.ended(conn, call, policy, now, url)


def _answered(
    conn: Any, call: Call, policy: Any, now: Any, params: dict[str, str], url: str
) -> bool:
    """The question's answer (Digits, as <Gather> posts it; none when the caller pressed
    nothing): 2 opens an urgent request and pages nobody, anything else pages."""
    urgent = params.get("Digits", "").strip() == "2"
    priority = calls.not_paging(policy) if urgent else calls.paging(policy)
    return calls.open_request(conn, call, policy, priority, now, url) is not None


def _closing(priority: Priority | None, policy: Any, call: Call) -> str:
    if priority is not None and not policy.pages(priority):
        return twilio.say_and_hang_up(twilio.CLOSING_URGENT)
    return twilio.say_and_hang_up(twilio.CLOSING)


@http.post(ANSWERED)
async def answered(request: Request) -> Response:
    """<Gather>'s action, or the redirect after it when nothing was pressed: the request is
    opened as the answer says, then the tone and the recording."""

    def record(priority: Priority | None, policy: Any, call: Call) -> str:
        greeting = calls.Line(call.installation_id, call.repo, policy).greeting
        return _record(base_url(request), policy, priority, greeting)

    return await _callback(request, _answered, record)


@http.post(RECORDED)
async def recorded(request: Request) -> Response:
    """<Record>'s action: the recording's link; the caller hears the closing line."""
    return await _callback(request, _recorded, _closing)


@http.post(TRANSCRIBED)
async def transcribed(request: Request) -> Response:
    return await _callback(request, _transcribed, None)


@http.post(SILENT)
async def silent(request: Request) -> Response:
    """Nothing was recorded (verbs after <Record> run only then): the caller said nothing."""
    return await _callback(request, _silent, lambda _priority, _policy, _call: twilio.hang_up())


@http.post(STATUS)
async def status(request: Request) -> Response:
    """The number's call-status callback: a call over with nothing left was hung up on."""
    return await _callback(request, _status, None)
