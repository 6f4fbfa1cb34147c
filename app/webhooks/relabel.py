"""Relabeling: a person's priority label starts, replaces or stops the issue's clock."""

from __future__ import annotations

from gidgethub.routing import Router
from gidgethub.sansio import Event
from sqlalchemy import Connection

from app.sla import rules
from app.sla.issue import Issue, installation_id, issue_from, sender_login
from app.sla.policy import Policy
from app.sla.rebuild import INTAKE_WINDOW
from app.store import tracking
from app.webhooks.context import Context

router = Router()


@router.register("issues", action="labeled")
@router.register("issues", action="unlabeled")
async def on_label_change(event: Event, ctx: Context) -> None:
    issue = issue_from(event.data)
    if issue.is_pull_request:
        return
    raw = event.data.get("label")
    label = raw.get("name") if isinstance(raw, dict) else None
    policy, note = await ctx.paging_policy(issue.repo, issue.pages)
    if label == policy.postmortem.done.label and event.data.get("action") == "labeled":
        ctx.write(_postmortem_done, issue, policy, ctx)  # usually on a closed issue
        return
    if label is not None and str(label).casefold() == policy.pause_label.label.casefold():
        pausing = event.data.get("action") == "labeled"
        ctx.write(_pause, issue, policy, ctx, pausing, sender_login(event.data))
        return
    if issue.state != "open" or (
        label is not None and policy.priority_for_label(str(label)) is None
    ):
        return  # type, breached and other labels never move a clock
    ctx.write(_sync, issue, policy, ctx, installation_id(event.data), note)


def _sync(
    conn: Connection,
    issue: Issue,
    policy: Policy,
    ctx: Context,
    installation: int | None,
    note: str | None = None,
) -> None:
    """The issue's priority labels as they are now, to the core (rules 1 and 2)."""
    # The payload carries no event time; `updated_at` moves with the label change.
    at = issue.updated_at
    labeled = issue.request_type(policy)
    event = rules.Prioritized(
        at,
        issue.priority(policy),
        None if labeled is None else str(labeled),
        intake=at - issue.created_at <= INTAKE_WINDOW,
        created_at=issue.created_at,
    )
    tracking.handle(
        conn, tracking.Subject.of(issue, installation), event, policy, ctx.now, note=note
    )


def _pause(
    conn: Connection, issue: Issue, policy: Policy, ctx: Context, pausing: bool, who: str
) -> None:
    """The pause label on: next-response and resolution clocks wait; off: they run again."""
    event = rules.Paused(issue.updated_at, pausing, who)
    tracking.handle(conn, tracking.Subject.of(issue, None), event, policy, ctx.now)


def _postmortem_done(conn: Connection, issue: Issue, policy: Policy, ctx: Context) -> None:
    event = rules.PostmortemDone(issue.updated_at)
    tracking.handle(
        conn,
        tracking.Subject.of(issue, None),
        event,
        policy,
        ctx.now,
        is_open=issue.state == "open",
    )
