"""Close and reopen: closing stops the clock; a closed incident owes a post-mortem."""

from __future__ import annotations

from datetime import datetime

from gidgethub.routing import Router
from gidgethub.sansio import Event
from sqlalchemy import Connection

from app import effects, oncall, tracking
from app.domain import Priority
from app.effects import IssueRef
from app.issue import Issue, installation_id, issue_from, parse_time, sender_login
from app.notify.messages import AlertKind
from app.sla.clock import ClockEvent, ClockState
from app.sla.policy import Policy
from app.store import clocks
from app.triage import local_time
from app.webhooks.context import Context

router = Router()

POSTMORTEM_CHECKLIST = (
    "This production-down incident is resolved. A post-mortem is due by **{due}**:\n\n"
    "- [ ] Timeline: first report, page, mitigation, resolution\n"
    "- [ ] Impact: who and how many end users, for how long\n"
    "- [ ] Root cause and contributing factors\n"
    "- [ ] What went well, what did not\n"
    "- [ ] Action items with owners and dates\n\n"
    "Link the post-mortem in a comment here (or label `{done}`) to close this follow-up."
)


@router.register("issues", action="closed")
@router.register("issues", action="transferred")
@router.register("issues", action="deleted")
async def on_closed(event: Event, ctx: Context) -> None:
    # A transfer or a deletion takes the request away from this repository: its clocks here
    # end silently. Only a close as one of the policy's reasons (completed) owes a post-mortem.
    issue = issue_from(event.data)
    if issue.is_pull_request:
        return
    data = event.data["issue"]
    closed_at = parse_time(data.get("closed_at") or issue.updated_at.isoformat())
    policy = await ctx.policy(issue.repo)
    action = event.data.get("action")
    if action == "deleted":
        closed_at = ctx.now  # the payload carries no deletion time
    # Older GitHub Enterprise Server versions send no state_reason: a close is a close.
    reason = data.get("state_reason") or "completed"
    incident = action == "closed" and reason in policy.postmortem.after
    closer = sender_login(event.data) if action == "closed" else None
    ctx.write(_close, issue, policy, ctx, installation_id(event.data), closed_at, incident, closer)


def _close(
    conn: Connection,
    issue: Issue,
    policy: Policy,
    ctx: Context,
    installation: int | None,
    closed_at: datetime,
    incident: bool,
    closer: str | None = None,
) -> None:
    clock = clocks.live(conn, issue.repo, issue.number)
    if clock is not None:
        tracking.apply(conn, clock, ClockEvent.CLOSE, policy=policy, at=closed_at, now=ctx.now)
    # A close meets the resolution clock; a deletion or transfer (no closer) only ends it.
    tracking.end_followers(conn, issue.repo, issue.number, ClockEvent.CLOSE, policy=policy,
                           at=closed_at, now=ctx.now, closed_by=closer)  # fmt: skip
    if not incident:  # gone, moved, or closed as not planned: a post-mortem clock ends too
        follow_up = clocks.live(conn, issue.repo, issue.number, clocks.POSTMORTEM)
        if follow_up is not None:
            tracking.apply(
                conn, follow_up, ClockEvent.CLOSE, policy=policy, at=closed_at, now=ctx.now
            )
    past = clocks.history(conn, issue.repo, issue.number)
    if past and policy.priorities[Priority(past[-1].priority)].page:
        oncall.end_incident(conn, past[-1], policy, ctx.now)  # however it ended
    if not incident or not past or past[-1].priority != Priority.PRODUCTION_DOWN:
        return
    page = past[-1]
    if channel := policy.slack.page_channel:
        effects.alert(
            conn,
            content=tracking.content(page, policy, AlertKind.RESOLVED, ctx.now),
            channel=channel,
            clock_id=page.id,
            now=ctx.now,
            thread_of=AlertKind.PAGE,
        )
    if clocks.live(conn, issue.repo, issue.number, clocks.POSTMORTEM) is not None:
        return
    due = policy.postmortem_due(closed_at)
    clocks.start(
        conn,
        installation_id=installation,
        repo=issue.repo,
        issue_number=issue.number,
        kind=clocks.POSTMORTEM,
        priority=page.priority,
        request_type=page.request_type,
        started_at=closed_at,
        due_at=due,
        issue_title=issue.title,
        issue_url=issue.url,
        issue_author=issue.author,
    )
    where = f"{issue.repo}#{issue.number}:{page.id}"
    ref = IssueRef(installation, issue.repo, issue.number)
    effects.add_labels(
        conn,
        ref,
        key=f"postmortem:label:{where}",
        labels=[policy.postmortem.due.label],
        now=ctx.now,
    )
    body = POSTMORTEM_CHECKLIST.format(
        due=local_time(due, policy), done=policy.postmortem.done.label
    )
    effects.comment(conn, ref, key=f"postmortem:comment:{where}", body=body, now=ctx.now)


@router.register("issues", action="reopened")
async def on_reopened(event: Event, ctx: Context) -> None:
    issue = issue_from(event.data)
    if issue.is_pull_request:
        return
    policy = await ctx.policy(issue.repo)
    ctx.write(_reopen, issue, policy, ctx, installation_id(event.data))


def _reopen(
    conn: Connection, issue: Issue, policy: Policy, ctx: Context, installation: int | None
) -> None:
    """A reopened request nobody answered gets a new clock from the reopen time."""
    priority = issue.priority(policy)
    if priority is None or clocks.live(conn, issue.repo, issue.number) is not None:
        return
    past = clocks.history(conn, issue.repo, issue.number)
    if any(c.state == ClockState.MET for c in past):
        return
    tracking.start_clock(
        conn,
        policy=policy,
        issue=issue,
        installation_id=installation,
        priority=priority,
        started_at=issue.updated_at,
        now=ctx.now,
        started_by="reopened",
    )
