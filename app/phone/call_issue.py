"""The outbox effect of a call: its GitHub issue opened once (a retry whose answer was lost
finds it by its marker), then its body kept as the call is now (recording, transcript); the
page is edited to link the issue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from app.github import ops
from app.github.app import GitHubApp
from app.github.client import GitHubClient
from app.notify import oncall
from app.notify.messages import AlertContent, AlertKind, escape, format_time, render
from app.notify.twilio import mask
from app.phone.calls import HUNG_UP, SILENT, title_of
from app.sla import keys
from app.sla.domain import Priority, RequestType
from app.store import calls, clocks, effects
from app.store.calls import Call
from app.store.database import Database
from app.store.outbox import Item

__all__ = ["body_of", "opened", "send"]
NO_TRANSCRIPT = "_No transcript yet: Twilio sends it within minutes; the recording is above._"


def _title(call: Call, payload: dict[str, Any]) -> str:
    """The policy's name for the call's priority (an effect written before the names were
    kept: the built-in name of its key)."""
    name = (payload.get("names") or [None])[0]
    return title_of(
        call, name or Priority(payload.get("priority") or Priority.PRODUCTION_DOWN).title
    )


def marker(call: Call) -> str:
    return effects.marker(keys.key("call", call.sid))


def body_of(call: Call, payload: dict[str, Any]) -> str:
    """What the customer and the team read: when, who (the whole number only where the policy
    allows), what they said."""
    tz = ZoneInfo(payload["timezone"])
    number = call.from_number if payload.get("show_caller") else mask(call.from_number)
    caller = f"{payload['caller']}, {number}" if payload.get("caller") else number
    if payload.get("recognised") is False:
        caller += " (not recognised: not among the policy's `intake.phone.callers`)"
    lines = [
        marker(call),
        _opening(payload),
        "",
        f"- **Called at:** {format_time(call.called_at, tz)}",
        f"- **Caller:** {caller}",
    ]
    if call.outcome == HUNG_UP:
        lines.append("- **Message:** none: the caller hung up before describing the problem")
    elif call.outcome == SILENT:
        lines.append("- **Message:** none: the caller did not speak after the tone")
    elif call.recording_url:
        seconds = f" ({call.recording_seconds} s)" if call.recording_seconds is not None else ""
        lines.append(f"- **Recording:** {call.recording_url}{seconds}")
        lines += ["", "### What the caller said", ""]
        if call.transcript:
            lines += [f"> {line}" if line else ">" for line in call.transcript.splitlines()]
        elif call.transcript_status == "failed":
            lines.append("_Twilio could not transcribe the message: listen to the recording._")
        else:
            lines.append(NO_TRANSCRIPT)
    else:
        lines.append("- **Message:** the caller is speaking; the recording follows")
    lines += ["", "Reply here: this issue is where the customer and the team follow the outage."]
    return "\n".join(lines)


def _opening(payload: dict[str, Any]) -> str:
    # Effects written before `pages` was kept: only the built-in urgent answer paged nobody.
    pages = payload.get("pages", payload.get("priority") != Priority.URGENT)
    if not pages:
        name = (payload.get("names") or [None])[0] or Priority(payload["priority"]).title
        return (
            "A call to the escalation line. The caller pressed 2 (production is not down for "
            f"many of their users): priority {name}, nobody was paged."
        )
    return "A call to the production-down line. The on-call engineer was paged at the call."


async def send(
    db: Database, github: GitHubApp, item: Item, time: Callable[[], datetime]
) -> dict[str, Any]:
    """Open the call's issue (once) or bring its body up to date."""
    call = await db.run(calls.get, int(item.payload["call"]))
    if call is None or call.installation_id is None:
        raise ValueError(f"call {item.payload['call']} is not in the store or has no installation")
    payload = item.payload

    async def act(gh: GitHubClient) -> dict[str, Any]:
        if call.issue_number is not None:
            await ops.edit_issue_body(gh, call.repo, call.issue_number, body_of(call, payload))
            return {"number": call.issue_number, "edited": True}
        if not payload.get("opens"):
            # Only the call's first effect opens its issue (one issue per call, whatever
            # replica sends what); a later version waits for the number, then edits.
            from app.engine.dispatch import Retry

            raise Retry("the call's issue is not opened yet", timedelta(seconds=30))
        await db.run(calls.opening, call, time())
        found = None
        if item.attempts > 1:  # an earlier attempt may have opened it, its answer lost
            found = await ops.find_issue(gh, call.repo, payload["labels"][0], marker(call))
        if found is None:
            found = await ops.open_issue(
                gh, call.repo, _title(call, payload), body_of(call, payload), payload["labels"]
            )
        number, url = int(found["number"]), str(found["html_url"])
        await db.run(opened, call, number, url, payload, time())
        return {"number": number, "url": url}

    return await github.call(call.installation_id, act, write=True)


def opened(
    conn: Connection, call: Call, number: int, url: str, payload: dict[str, Any], now: datetime
) -> None:
    """The issue exists: the call's clocks and effects take its number, and the page links
    it (edited in place, with the buttons its episode still has)."""
    if not calls.opened(conn, call, number, url, _title(call, payload)):
        return
    episode = None if call.clock_id is None else clocks.get(conn, call.clock_id)
    if episode is None or episode.paged_at is None:
        return
    tz = ZoneInfo(payload["timezone"])
    content = AlertContent(
        kind=AlertKind.PAGE,
        repo=episode.repo,
        issue_number=number,
        issue_url=url,
        title=episode.issue_title,
        opened_by=episode.issue_author,
        priority=Priority(episode.priority),
        request_type=RequestType(episode.request_type),
        started_at=episode.started_at,
        due_at=episode.due_at,
        tz=tz,
        now=now,
        # The policy's names (older effects, written before they were kept, have none).
        priority_name=(payload.get("names") or [None, None])[0],
        type_name=(payload.get("names") or [None, None])[1],
    )
    text, blocks = render(content)
    if episode.acked_at is not None:
        note = f":white_check_mark: *Acknowledged* at {format_time(episode.acked_at, tz)}"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    if payload.get("buttons") and episode.page_ended_at is None:
        blocks.append(oncall.buttons(episode.id, acknowledge=episode.acked_at is None))
    effects.update_message(
        conn,
        key=keys.key("slack", "page-update", "issue", episode.id),
        of=effects.alert_key(episode.id, AlertKind.PAGE),
        text=f"{text} ({escape(url)})",
        blocks=blocks,
        clock_id=episode.id,
        now=now,
    )
