"""Responses: the first responder comment after a clock's start meets it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event
from sqlalchemy import Connection

from app import tracking
from app.issue import MalformedPayload, issue_from, parse_time
from app.sla.clock import ClockEvent
from app.sla.policy import Policy
from app.store import clocks
from app.webhooks.context import Context

router = Router()
LINK = re.compile(r"https?://\S+")


def is_bot(user: Mapping[str, Any], comment: Mapping[str, Any]) -> bool:
    """Bots and apps (this one included) never count as a response. A person commenting
    through another App (`performed_via_github_app` with a User author, e.g. from Slack) is
    still that person."""
    return user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]")


@router.register("issue_comment", action="created")
async def on_comment(event: Event, ctx: Context) -> None:
    issue = issue_from(event.data)
    try:
        comment = event.data["comment"]
        user = comment["user"]
        author, association = str(user["login"]), str(comment["author_association"])
        at = parse_time(comment["created_at"])
        if not isinstance(user, dict):
            raise TypeError("comment.user is not an object")
    except (KeyError, TypeError) as exc:
        raise MalformedPayload(f"comment: missing or malformed field {exc}") from None
    if issue.is_pull_request or is_bot(user, comment) or author == issue.author:
        return  # costs nothing: no policy read, no store write
    policy = await ctx.policy(issue.repo)
    if association not in policy.responders.associations:
        # Private org members show as CONTRIBUTOR or NONE: ask for their role, but only when
        # there is a clock their answer could stop.
        if not await ctx.db.run(_awaiting, issue.repo, issue.number):
            return
        if not await ctx.has_role(issue.repo, author, policy):
            return
    has_link = LINK.search(str(comment.get("body") or "")) is not None
    await ctx.db.run(_respond, issue.repo, issue.number, author, at, has_link, policy, ctx.now)


def _awaiting(conn: Connection, repo: str, number: int) -> bool:
    return any(
        clocks.live(conn, repo, number, kind) for kind in (clocks.RESPONSE, clocks.POSTMORTEM)
    )


def _respond(
    conn: Connection,
    repo: str,
    number: int,
    author: str,
    at: datetime,
    has_link: bool,
    policy: Policy,
    now: datetime,
) -> None:
    clock = clocks.live(conn, repo, number)
    if clock is not None and at >= clock.started_at:
        tracking.apply(
            conn, clock, ClockEvent.RESPOND, policy=policy, at=at, now=now, responder=author
        )
    postmortem = clocks.live(conn, repo, number, clocks.POSTMORTEM)
    if postmortem is not None and has_link and at >= postmortem.started_at:
        # A responder's comment with a link is the post-mortem being linked.
        tracking.apply(
            conn, postmortem, ClockEvent.RESPOND, policy=policy, at=at, now=now, responder=author
        )
