"""Comments: a responder's meets the clocks owed to the customer; a customer's resumes
paused clocks and, once the team has answered, starts the next-response clock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event
from sqlalchemy import Connection

from app.sla import rules
from app.sla.issue import MalformedPayload, installation_id, issue_from, parse_time
from app.slack_threads import send as slack_threads
from app.store import clocks, tracking
from app.webhooks.context import Context

router = Router()
# How GitHub shows an organisation member whose membership is private.
PRIVATE_MEMBER = frozenset({"CONTRIBUTOR", "NONE"})


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
    # Rule 7: a responder's comment is a response, on an issue the responder opened too.
    responder = association in policy.responders.associations or (
        # Private org members show as CONTRIBUTOR or NONE: ask for their role (cached). An
        # outside collaborator (a customer in a private repository) is not asked for.
        association in PRIVATE_MEMBER
        and author != issue.author
        and await ctx.has_role(issue.repo, author, policy)
    )
    body = str(comment.get("body") or "")
    link = rules.postmortem_link(body)
    said = rules.Commented(at, author, responder, link is not None, link)
    if responder:  # a request from Slack: the answer goes to its thread too
        ctx.write(slack_threads.echo, issue.repo, issue.number, comment, author, policy, ctx.now)
    pause = policy.pause_label.label.casefold()
    ctx.write(
        tracking.handle,
        tracking.Subject.of(issue, installation_id(event.data)),
        said,
        policy,
        ctx.now,
        is_open=issue.state == "open",
        pause_label_on=any(name.casefold() == pause for name in issue.labels),
    )


def _tracked(conn: Connection, repo: str, number: int) -> bool:
    return bool(clocks.history(conn, repo, number)) or bool(
        clocks.live(conn, repo, number, clocks.POSTMORTEM)
    )
