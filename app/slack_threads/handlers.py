"""The stored Slack events, handled in the worker: a reaction with the policy's emoji or a
mention of the app opens a request for its thread (once per thread); the rest of the work
(reading the message, opening the issue) goes out through the outbox."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event
from sqlalchemy import Connection

from app.slack_threads import channels
from app.slack_threads.endpoint import EVENT
from app.store import outbox, slack
from app.webhooks.context import Context

log = logging.getLogger(__name__)
router = Router()
OPEN = "slack-open"  # read the message, who wrote it and its link (Slack)
CREATE = "slack-create-issue"  # the issue (GitHub), then the thread is told
REPLY = "slack-reply"  # a message in the request's thread (Slack)
REACT = "slack-react"  # ✅ on the request's message (Slack)
COMMENT = "slack-comment"  # a reply in the thread as an issue comment (GitHub)


def _team(data: dict[str, Any]) -> str | None:
    """The workspace sla-bot is installed in (the event's authorization)."""
    for auth in data.get("authorizations") or []:
        if isinstance(auth, dict) and auth.get("team_id"):
            return str(auth["team_id"])
    team = data.get("team_id")
    return str(team) if team else None


@router.register(EVENT)
async def on_slack_event(event: Event, ctx: Context) -> None:
    data = event.data
    found = data.get("event")
    if not isinstance(found, dict):
        return
    kind = found.get("type")
    item = found.get("item") if kind == "reaction_added" else found
    if not isinstance(item, dict) or not isinstance(item.get("channel"), str):
        return
    channel = str(item["channel"])
    owner = await ctx.db.run(channels.resolve, channel, ctx.policies.fallback)
    if owner is None:
        return  # given up, or claimed twice since the event was stored
    policy = await ctx.policies.get(owner.installation_id, owner.repo)
    if kind == "reaction_added":
        if found.get("reaction") != policy.intake.slack.emoji or item.get("type") != "message":
            return
        ts = str(item.get("ts") or "")
        ctx.write(request, owner, channel, ts, ts, _team(data), ctx.now)
    elif kind == "app_mention":
        ts = str(found.get("thread_ts") or found.get("ts") or "")
        ctx.write(request, owner, channel, ts, ts, _team(data), ctx.now)


def request(
    conn: Connection,
    owner: slack.Owner,
    channel: str,
    thread_ts: str,
    message_ts: str,
    team: str | None,
    now: Any,
) -> None:
    """A request for the thread, once: its message is read through the outbox."""
    if not thread_ts:
        return
    thread_id = slack.open_thread(
        conn,
        channel=channel,
        thread_ts=thread_ts,
        message_ts=message_ts,
        repo=owner.repo,
        installation_id=owner.installation_id,
        requester="",
        team_id=team,
        now=now,
    )
    if thread_id is None:
        return  # the thread has its request already: a second reaction changes nothing
    outbox.enqueue(
        conn,
        key=f"slack:open:{channel}:{thread_ts}",
        target=outbox.SLACK,
        kind=OPEN,
        payload={"thread": thread_id},
        now=now,
        installation_id=owner.installation_id,
        repo=owner.repo,
    )
