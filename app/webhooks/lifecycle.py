"""Close and reopen: a close ends every clock (a closed incident owes a post-mortem); a
reopen pages again or owes an answer (the rules are in `app.sla.rules`)."""

from __future__ import annotations

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.sla import rules
from app.sla.issue import installation_id, issue_from, parse_time, sender_login
from app.store import tracking
from app.webhooks.context import Context

router = Router()


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
    closed = rules.Closed(
        closed_at,
        str(reason),
        sender_login(event.data) if action == "closed" else None,
        gone=action != "closed",
    )
    ctx.write(
        tracking.handle,
        tracking.Subject.of(issue, installation_id(event.data)),
        closed,
        policy,
        ctx.now,
        is_open=False,
    )


@router.register("issues", action="reopened")
async def on_reopened(event: Event, ctx: Context) -> None:
    issue = issue_from(event.data)
    if issue.is_pull_request:
        return
    policy, note = await ctx.paging_policy(issue.repo, issue.pages)
    labeled = issue.request_type(policy)
    reopened = rules.Reopened(
        issue.updated_at, issue.priority(policy), None if labeled is None else str(labeled)
    )
    ctx.write(
        tracking.handle,
        tracking.Subject.of(issue, installation_id(event.data)),
        reopened,
        policy,
        ctx.now,
        note=note,
    )
