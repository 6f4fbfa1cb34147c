"""Relabeling: a person's priority label starts, replaces or stops the issue's clock."""

from __future__ import annotations

from datetime import timedelta

from gidgethub.routing import Router
from gidgethub.sansio import Event
from sqlalchemy import Connection

from app import tracking
from app.issue import Issue, installation_id, issue_from, sender_login
from app.sla.clock import ClockEvent, ClockKind
from app.sla.policy import Policy
from app.store import clocks
from app.webhooks.context import Context

router = Router()

# Labels that arrive this soon after creation were put on at intake (the form's `labels:`):
# their clock starts at the issue's creation, not at the label time.
INTAKE_WINDOW = timedelta(minutes=2)


@router.register("issues", action="labeled")
@router.register("issues", action="unlabeled")
async def on_label_change(event: Event, ctx: Context) -> None:
    issue = issue_from(event.data)
    if issue.is_pull_request:
        return
    raw = event.data.get("label")
    label = raw.get("name") if isinstance(raw, dict) else None
    policy = await ctx.policy(issue.repo)
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
    ctx.write(_sync, issue, policy, ctx, installation_id(event.data))


def _sync(
    conn: Connection, issue: Issue, policy: Policy, ctx: Context, installation: int | None
) -> None:
    """Make the live clock agree with the issue's priority labels as they are now."""
    wanted = issue.priority(policy)
    clock = clocks.live(conn, issue.repo, issue.number)
    if clock is not None and wanted is not None and clock.priority == wanted:
        return  # our own intake label, or a label that does not change the highest priority
    # The payload carries no event time; `updated_at` moves with the label change.
    at = issue.updated_at
    event = ClockEvent.UNLABEL if wanted is None else ClockEvent.RELABEL
    if clock is not None:
        tracking.apply(conn, clock, event, policy=policy, at=at, now=ctx.now)
    # The clocks after the first response follow the priority: new ones start with it.
    tracking.end_followers(conn, issue.repo, issue.number, event, policy=policy, at=at,
                           now=ctx.now)  # fmt: skip
    if wanted is None:
        return
    past = clocks.history(conn, issue.repo, issue.number)
    if not past and at - issue.created_at <= INTAKE_WINDOW:
        at = issue.created_at
    tracking.start_clock(
        conn,
        policy=policy,
        issue=issue,
        installation_id=installation,
        priority=wanted,
        started_at=at,
        now=ctx.now,
        started_by=f"label {policy.label_for(wanted)}",
    )


def _pause(
    conn: Connection, issue: Issue, policy: Policy, ctx: Context, pausing: bool, who: str
) -> None:
    """The pause label on: next-response and resolution clocks wait; off: they run again."""
    event = ClockEvent.PAUSE if pausing else ClockEvent.RESUME
    by = f"{'label' if pausing else 'unlabel'} by {who}"
    for kind in (ClockKind.NEXT_RESPONSE, ClockKind.RESOLUTION):
        live = clocks.live(conn, issue.repo, issue.number, str(kind))
        if live is not None:
            tracking.apply(conn, live, event, policy=policy, at=issue.updated_at, now=ctx.now,
                           by=by)  # fmt: skip


def _postmortem_done(conn: Connection, issue: Issue, policy: Policy, ctx: Context) -> None:
    clock = clocks.live(conn, issue.repo, issue.number, clocks.POSTMORTEM)
    if clock is not None:
        tracking.apply(
            conn, clock, ClockEvent.RESPOND, policy=policy, at=issue.updated_at, now=ctx.now
        )
