"""The on-call engineer's answers from where the page reached them: the Slack page's
Acknowledge and Resolve buttons (POST /slack/interactions) and PagerDuty's own acknowledge and
resolve (POST /pagerduty/webhooks, V3 webhooks). Both are signed and read by the shared body
reader (app/http/body.py); a click counts only from the on-call team's hands (`refusal`); the
work goes out through the outbox.

https://docs.slack.dev/interactivity/handling-user-interaction (answer within 3 s)
https://developer.pagerduty.com/docs/webhooks/v3-overview/
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import orjson
from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from app.github.http import Session
from app.http import body as body_reader
from app.http import signatures
from app.notify import oncall, pagerduty
from app.notify.messages import AlertKind
from app.notify.slack import NotifyError
from app.notify.slack_directory import Directory, Member
from app.store import clocks, effects, meta, outbox

log = logging.getLogger(__name__)
http = APIRouter()
# Slack's and PagerDuty's bodies are a few kilobytes: 1 MiB at most, 64 KiB of each in memory,
# 64 read at once per endpoint (a flood of forged ones: 4 MiB of memory at most).
LIMITS = body_reader.Limits(most=1024 * 1024, in_memory=64 * 1024, stall=10.0, in_flight=64)
MAX_ID = 2**63 - 1  # the store's ids (BigInteger)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ACTIONS = {"sla_acknowledge": oncall.acknowledge, "sla_resolve": oncall.resolve}


def slack_signature(secret: str, body: bytes, at: datetime) -> dict[str, str]:
    """The headers Slack signs a request with (the demo's clicks use them)."""
    return signatures.slack_headers(secret, body, at)


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


@http.post("/slack/interactions")
async def interact(request: Request, background: BackgroundTasks) -> Response:
    services = request.app.state.services
    secret = services.settings.signing_secret()
    if secret is None:
        return JSONResponse({"detail": "buttons are off: SLACK_SIGNING_SECRET is not set"}, 404)
    check = signatures.slack(secret, request.headers, services.time())
    body = await read_signed(
        request,
        check,
        services.gates.slack,
        "slack interaction",
        "missing, wrong or stale X-Slack-Signature",
    )
    if isinstance(body, Response):
        return body
    payload = _payload(body, form=True)
    if payload is None:
        return JSONResponse({"detail": "malformed interaction payload"}, 400)
    if payload.get("type") in ("message_action", "view_submission"):
        from app.slack_threads import shortcut  # the Slack intake's own interactions

        return await shortcut.handle(services, payload)
    try:
        found = _action(body)
    except RecursionError:  # nesting orjson takes and the standard library's parser does not
        return JSONResponse({"detail": "malformed interaction payload"}, 400)
    if found is None or found[0] not in ACTIONS:
        return Response(status_code=200)  # another kind of interaction: nothing to do
    if _absurd(found):
        return JSONResponse({"detail": "the action names no page"}, 400)
    action, clock_id, who = found
    refused = await _authorize(services, payload, clock_id)
    if refused is not None:
        return _refuse(services, payload, refused, background)
    return await _act(services, ACTIONS[action], action.removeprefix("sla_"), clock_id, who)


# -- who may press the page's buttons --

REFUSED = "Only the on-call team can acknowledge this page."
UNCHECKED = (
    "sla-bot could not check with Slack who may press this button ({error}); acknowledge in "
    "PagerDuty or answer on the GitHub issue."
)


@dataclass(frozen=True)
class Page:
    """Where the page was posted, as Slack answered the post (channel id and message ts)."""

    channel: str
    ts: str


def refusal(
    payload: dict[str, Any],
    *,
    team: str,
    page: Page | None,
    member: Member | None,
    responders: frozenset[str] | None,
) -> str | None:
    """Why a click does not count (for the log), or None when it does: it must come from the
    workspace sla-bot is installed in (`team`, from auth.test), on the page's own message,
    by a full member of that workspace (not a guest, not a Slack Connect member of another
    organisation), and, when the policy names `responders`, by one of them."""
    user, container = _dict(payload.get("user")), _dict(payload.get("container"))
    if page is None:
        return "the button names no page"
    if _dict(payload.get("team")).get("id") != team:
        return "a click from another workspace"
    channel = container.get("channel_id") or _dict(payload.get("channel")).get("id")
    ts = container.get("message_ts") or _dict(payload.get("message")).get("ts")
    if (channel, ts) != (page.channel, page.ts):
        return "not the page's message"
    if user.get("team_id", team) != team or member is None or member.id != user.get("id"):
        return "a user from another organisation"
    if member.team_id != team or member.stranger:
        return "a user from another organisation"
    if member.guest:
        return "a guest"
    if responders is not None and member.id not in responders:
        return "not in oncall.responders"
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def _authorize(services: Any, payload: dict[str, Any], clock_id: int) -> str | None:
    """The facts `refusal` weighs, asked from the store and (cached) from Slack."""
    clock = await services.db.run(clocks.get, clock_id)
    page = await services.db.run(_page_of, clock_id) if clock is not None else None
    if clock is None or page is None:
        return refusal(payload, team="", page=None, member=None, responders=None)
    # Answered from the store as `_act` is: GitHub refusing the key does not stop a click.
    policy = (await services.policies.read(clock.installation_id, clock.repo)).policy
    directory = services.directory
    user = str(_dict(payload.get("user")).get("id") or "")
    try:
        team = await directory.team_id()
        same_team = _dict(payload.get("user")).get("team_id", team) == team
        member = await directory.member(user) if user and same_team else None
        responders = await _responders(directory, policy.oncall.responders)
    except NotifyError as exc:
        log.warning(
            "click not checked: slack could not be asked", extra={"error": exc.error or str(exc)}
        )
        return UNCHECKED.format(error=exc.error or "unreachable")
    return refusal(payload, team=team, page=page, member=member, responders=responders)


async def _responders(directory: Directory, named: tuple[str, ...]) -> frozenset[str] | None:
    """The user ids `oncall.responders` names (a group's members read from Slack)."""
    if not named:
        return None
    found: set[str] = set()
    for who in named:
        found |= await directory.group_members(who) if who.startswith("S") else {who}
    return frozenset(found)


def _page_of(conn: Connection, clock_id: int) -> Page | None:
    sent = outbox.by_key(conn, effects.alert_key(clock_id, AlertKind.PAGE))
    if sent is None or not sent.result or "ts" not in sent.result:
        return None
    return Page(channel=str(sent.result.get("channel")), ts=str(sent.result["ts"]))


def _refuse(
    services: Any, payload: dict[str, Any], reason: str, background: BackgroundTasks
) -> Response:
    """Nothing changes; the one who clicked is told so, and only they see it."""
    user, team = _dict(payload.get("user")), _dict(payload.get("team"))
    who = {"user": str(user.get("id"))[:32], "team": str(team.get("id"))[:32]}
    log.warning("click refused: %s", reason, extra=who)
    text = reason if reason.startswith("sla-bot") else REFUSED
    answer = {"response_type": "ephemeral", "replace_original": False, "text": text}
    url = payload.get("response_url")
    if isinstance(url, str) and _slack_url(url, services.settings.slack_api_url):
        background.add_task(_tell, services.http, url, answer)
    return JSONResponse(answer, 200)


def _slack_url(url: str, api_url: str) -> bool:
    """Only Slack's own response URLs (or the stand-in's, beside its Web API) are called."""
    where, api = urlsplit(url), urlsplit(api_url)
    if where.scheme == "https" and where.hostname == "hooks.slack.com":
        return True
    return (where.scheme, where.netloc) == (api.scheme, api.netloc) and api.hostname in LOOPBACK


async def _tell(http: Session, url: str, answer: dict[str, Any]) -> None:
    try:
        async with asyncio.timeout(5):
            status, _, _ = await http.request(
                "POST", url, {"content-type": "application/json"}, json.dumps(answer).encode()
            )
        if status >= 400:
            log.warning("ephemeral refusal not taken", extra={"status": status})
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("ephemeral refusal not sent: %s", type(exc).__name__)


LEGACY = "sla-bot-clock-"  # incident keys before deployments had ids
PAGERDUTY_EVENTS = {
    "incident.acknowledged": oncall.acknowledge,
    "incident.resolved": oncall.resolve,
}


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


def _legacy_id(key: str) -> int | None:
    """The clock id an incident key of the old form names (`sla-bot-clock-<id>`), as written,
    out of the store's range too; None for any other key."""
    try:
        return int(key.removeprefix(LEGACY)) if key.startswith(LEGACY) else None
    except ValueError:
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
        return JSONResponse(
            {"detail": "inbound PagerDuty is off: no PAGERDUTY_WEBHOOK_SECRET"}, 404
        )
    check = signatures.pagerduty(secret, request.headers.get("x-pagerduty-signature", ""))
    body = await read_signed(
        request,
        check,
        services.gates.pagerduty,
        "pagerduty webhook",
        "missing or wrong X-PagerDuty-Signature",
    )
    if isinstance(body, Response):
        return body
    if _payload(body, form=False) is None:
        return JSONResponse({"detail": "malformed webhook payload"}, 400)
    try:
        found = _incident(body)
    except RecursionError:
        return JSONResponse({"detail": "malformed webhook payload"}, 400)
    if found is None or found[0] not in PAGERDUTY_EVENTS:
        return Response(status_code=200)
    kind, key, who = found
    if _absurd((_legacy_id(key),)):
        return JSONResponse({"detail": "the incident names no page"}, 400)
    clock_id = await services.db.run(episode_clock, key)
    if clock_id is None:
        return Response(status_code=200)  # not an incident of ours
    return await _act(services, PAGERDUTY_EVENTS[kind], kind, clock_id, who)


def _unsigned(what: str, detail: str) -> Response:
    """401, and one log line without the body."""
    log.warning("%s refused: %s", what, detail)
    return JSONResponse({"detail": detail}, 401)


async def read_signed(
    request: Request,
    check: signatures.Check | None,
    gate: body_reader.Gate,
    what: str,
    refusal: str,
) -> bytes | Response:
    """The signed body, or the answer that refuses it (the shared reader's rules). Headers
    that already refuse it (`check` None) cost no read."""
    if check is None:
        return _unsigned(what, refusal)
    mac, signed = check
    try:
        return await body_reader.read(request, mac, signed, LIMITS, gate)
    except body_reader.TooLarge:
        return JSONResponse({"detail": "payload too large"}, 413)
    except body_reader.Stalled:
        return JSONResponse({"detail": f"no body data for {LIMITS.stall:.0f} s"}, 408)
    except body_reader.Busy:
        return JSONResponse(
            {"detail": "too many requests in flight"}, 503, headers={"retry-after": "1"}
        )
    except body_reader.Forged:
        return _unsigned(what, refusal)
    except body_reader.ClientDisconnect:  # nobody left to answer (uvicorn drops the reply)
        log.warning("%s dropped: the client went away mid-body", what)
        return Response(status_code=400)


def _payload(body: bytes, *, form: bool) -> dict[str, Any] | None:
    """The JSON object (Slack's form field `payload`, or the whole body); None when it is
    none, or one the parsers cannot take: over 1,024 levels deep, NaN, beyond 64 bits."""
    try:
        raw: bytes | str = body
        if form:
            raw = parse_qs(body.decode("utf-8", "strict"), max_num_fields=50)["payload"][0]
        data = orjson.loads(raw)
    except (KeyError, IndexError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _absurd(found: tuple[Any, ...]) -> bool:
    """An id out of the store's range (a 20-digit value, a negative one) names nothing."""
    return any(isinstance(v, int) and not 0 < v <= MAX_ID for v in found)


async def _act(services: Any, step: Any, name: str, clock_id: int, who: str) -> Response:
    """Acknowledge or resolve the page of `clock_id` as `who`; a second time changes nothing.
    The answer is immediate: the comments, PagerDuty and the page edit go out through the
    outbox."""
    clock = await services.db.run(clocks.get, clock_id)
    if clock is None:
        return Response(status_code=200)
    # The click is answered from the store: GitHub refusing the key does not stop it.
    policy = (await services.policies.read(clock.installation_id, clock.repo)).policy
    done = await services.db.run(step, clock, policy, who=who, at=services.time())
    log.info("page %s", name, extra={"clock": clock_id, "by": who, "changed": done})
    services.runner.kick()
    return Response(status_code=200)
