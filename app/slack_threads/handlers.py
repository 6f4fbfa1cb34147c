"""The stored Slack events, handled in the worker: a reaction with the policy's emoji or a
mention of the app opens a request for its thread (once per thread); the rest of the work
(reading the message, opening the issue) goes out through the outbox."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event
from sqlalchemy import Connection

from app.sla import keys
from app.slack_threads import channels
from app.slack_threads.endpoint import EVENT
from app.store import outbox, slack
from app.store.effects import EffectKind
from app.webhooks.context import Context

log = logging.getLogger(__name__)
router = Router()


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
    intake = await ctx.db.run(channels.resolve, channel, ctx.policies.fallback)
    if intake is None:
        return  # given up, or claimed twice since the event was stored
    policy = await ctx.policies.get(intake.installation_id, intake.repo)
    if kind == "reaction_added":
        if found.get("reaction") != policy.intake.slack.emoji or item.get("type") != "message":
            return
        ts = str(item.get("ts") or "")
        ctx.write(request, intake, channel, ts, ts, _team(data), ctx.now)
    elif kind == "app_mention":
        ts = str(found.get("thread_ts") or found.get("ts") or "")
        ctx.write(request, intake, channel, ts, ts, _team(data), ctx.now)


def request(
    conn: Connection,
    intake: slack.ChannelIntake,
    channel: str,
    thread_ts: str,
    message_ts: str,
    team: str | None,
    now: Any,
    answers: dict[str, str] | None = None,
) -> None:
    """A request for the thread, once: its message is read through the outbox. `answers`:
    the type and priority a team member's shortcut gave (else the policy's defaults)."""
    if not thread_ts:
        return
    thread_id = slack.open_thread(
        conn,
        channel=channel,
        thread_ts=thread_ts,
        message_ts=message_ts,
        repo=intake.repo,
        installation_id=intake.installation_id,
        requester="",
        team_id=team,
        now=now,
    )
    if thread_id is None:
        return  # the thread has its request already: a second reaction changes nothing
    outbox.enqueue(
        conn,
        EffectKind.SLACK_OPEN,
        key=keys.key("slack", "open", channel, thread_ts),
        payload={"thread": thread_id, "answers": answers},
        now=now,
        installation_id=intake.installation_id,
        repo=intake.repo,
    )


def _people(found: dict[str, Any]) -> bool:
    """A person's reply in a thread (not sla-bot's post, not an edit or a deletion)."""
    threaded = found.get("thread_ts") not in (None, found.get("ts"))
    return (
        threaded
        and not found.get("bot_id")
        and found.get("subtype")
        in (
            None,
            "thread_broadcast",
            "file_share",
        )
    )


@router.register(EVENT)
async def on_thread_reply(event: Event, ctx: Context) -> None:
    found = event.data.get("event")
    if not isinstance(found, dict) or found.get("type") != "message" or not _people(found):
        return
    channel, thread_ts = str(found.get("channel") or ""), str(found.get("thread_ts"))
    thread = await ctx.db.run(slack.thread_at, channel, thread_ts)
    if thread is None or thread.status not in (slack.OPENING, slack.OPEN):
        return  # a thread nobody asked sla-bot to track
    policy = await ctx.policies.get(thread.installation_id, thread.repo)
    reply = {
        "ts": str(found.get("ts")),
        "user": str(found.get("user") or ""),
        "text": str(found.get("text") or ""),
        "team": str(found.get("user_team") or found.get("team") or ""),
        "installed": _team(event.data) or "",
        "name": _profile_name(found),
    }
    from app.slack_threads.send import replied

    ctx.write(replied, thread, reply, policy, ctx.now)


@router.register(EVENT)
async def on_message_edited(event: Event, ctx: Context) -> None:
    """A message edited or deleted in a request's thread: its comment or the issue follows.
    A change that leaves the words as they were (a reply count, an unfurl) changes nothing;
    a bot's message (sla-bot's own posts) is never followed."""
    found = event.data.get("event")
    if not isinstance(found, dict) or found.get("type") != "message":
        return
    subtype, channel = found.get("subtype"), str(found.get("channel") or "")
    if subtype == "message_changed":
        now_reads, was = found.get("message"), found.get("previous_message")
        if not isinstance(now_reads, dict) or now_reads.get("bot_id"):
            return
        if isinstance(was, dict) and was.get("text") == now_reads.get("text"):
            return
        ts, words = str(now_reads.get("ts") or ""), str(now_reads.get("text") or "")
    elif subtype == "message_deleted":
        was = found.get("previous_message")
        if isinstance(was, dict) and was.get("bot_id"):
            return
        ts, words = str(found.get("deleted_ts") or ""), None
    else:
        return
    if channel and ts:
        from app.slack_threads.edits import edited

        edit_ts = str(found.get("event_ts") or found.get("ts") or "")
        ctx.write(edited, channel, ts, words, edit_ts, ctx.now)


def _profile_name(found: dict[str, Any]) -> str:
    profile = found.get("user_profile") or {}
    for name in (profile.get("display_name"), profile.get("real_name")):
        if isinstance(name, str) and name.strip():
            return name.strip()
    return ""


@router.register("issues", action="closed")
async def on_issue_closed(event: Event, ctx: Context) -> None:
    issue = event.data.get("issue") or {}
    repo = (event.data.get("repository") or {}).get("full_name")
    if not isinstance(issue, dict) or not isinstance(repo, str) or "number" not in issue:
        return
    from app.slack_threads.send import closed

    closer = (event.data.get("sender") or {}).get("login")
    reason = str(issue.get("state_reason") or "completed")
    ctx.write(closed, repo, int(issue["number"]), closer, reason, ctx.now)
