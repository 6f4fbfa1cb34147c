"""Comments: a responder's meets the clocks owed to the customer; a customer's resumes
paused clocks and, once the team has answered, starts the next-response clock."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event
from sqlalchemy import Connection

from app import effects, tracking
from app.effects import IssueRef
from app.issue import Issue, MalformedPayload, installation_id, issue_from, parse_time
from app.sla.clock import ClockEvent, ClockKind, ClockState
from app.sla.policy import Policy
from app.store import clocks
from app.store.clocks import Clock
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
    if issue.is_pull_request or is_bot(user, comment):
        return  # costs nothing: no policy read, no store write
    if not await ctx.db.run(_tracked, issue.repo, issue.number):
        return  # no clock ever: nothing a comment could start or stop
    policy = await ctx.policy(issue.repo)
    responder = author != issue.author and (
        association in policy.responders.associations
        # Private org members show as CONTRIBUTOR or NONE: ask for their role (cached).
        or await ctx.has_role(issue.repo, author, policy)
    )
    if not responder:
        ctx.write(_customer, issue, author, at, policy, ctx.now, installation_id(event.data))
        return
    has_link = LINK.search(str(comment.get("body") or "")) is not None
    ctx.write(_respond, issue, author, at, has_link, policy, ctx.now)


def _tracked(conn: Connection, repo: str, number: int) -> bool:
    return bool(clocks.history(conn, repo, number)) or bool(
        clocks.live(conn, repo, number, clocks.POSTMORTEM)
    )


def _respond(
    conn: Connection,
    issue: Issue,
    author: str,
    at: datetime,
    has_link: bool,
    policy: Policy,
    now: datetime,
) -> None:
    repo, number = issue.repo, issue.number
    clock = clocks.live(conn, repo, number)
    if clock is not None and at >= clock.started_at:
        tracking.apply(
            conn, clock, ClockEvent.RESPOND, policy=policy, at=at, now=now, responder=author
        )  # met: an incident's update interval starts with it
    elif clock is None and issue.state == "open" and (lead := _answered(conn, repo, number)):
        tracking.renew_updates(conn, lead, policy=policy, at=at, now=now, by=author)
    waiting = clocks.live(conn, repo, number, str(ClockKind.NEXT_RESPONSE))
    if waiting is not None and at >= waiting.started_at:
        tracking.apply(
            conn, waiting, ClockEvent.RESPOND, policy=policy, at=at, now=now, responder=author
        )
    postmortem = clocks.live(conn, repo, number, clocks.POSTMORTEM)
    if postmortem is not None and has_link and at >= postmortem.started_at:
        # A responder's comment with a link is the post-mortem being linked.
        tracking.apply(
            conn, postmortem, ClockEvent.RESPOND, policy=policy, at=at, now=now, responder=author
        )


def _answered(conn: Connection, repo: str, number: int) -> Clock | None:
    """The issue's latest first-response clock, when the team has answered it."""
    past = clocks.history(conn, repo, number)
    return past[-1] if past and past[-1].state == ClockState.MET else None


def _customer(
    conn: Connection,
    issue: Issue,
    author: str,
    at: datetime,
    policy: Policy,
    now: datetime,
    installation: int | None,
) -> None:
    """The customer spoke: paused clocks run again (the pause label comes off), and once the
    team has answered, the team owes a next response."""
    if issue.state != "open":
        return
    repo, number = issue.repo, issue.number
    for kind in (ClockKind.NEXT_RESPONSE, ClockKind.RESOLUTION):
        live = clocks.live(conn, repo, number, str(kind))
        if live is not None and at >= (live.paused_at or live.started_at):
            tracking.apply(conn, live, ClockEvent.RESUME, policy=policy, at=at, now=now,
                           by=f"comment by {author}")  # fmt: skip
    pause = policy.pause_label.label.casefold()
    if any(name.casefold() == pause for name in issue.labels):
        ref = IssueRef(installation, repo, number)
        key = f"pause:off:{repo}#{number}:{at.isoformat()}"
        effects.remove_label(conn, ref, key=key, label=policy.pause_label.label, now=now)
    lead = _answered(conn, repo, number)
    if lead is not None and lead.met_at is not None and at >= lead.met_at:
        tracking.follow(conn, lead, ClockKind.NEXT_RESPONSE, policy=policy, at=at,
                        by=f"comment by {author}", now=now)  # fmt: skip
