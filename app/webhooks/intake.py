"""Intake: a new issue is classified, labeled, answered with its promise, and its clock starts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event
from sqlalchemy import Connection

from app.sla import keys, rules
from app.sla.issue import Issue, installation_id, issue_from
from app.sla.policy import Policy
from app.sla.triage import decide, intake_comment
from app.store import effects, tracking
from app.store.effects import IssueRef
from app.webhooks.context import Context

router = Router()


@router.register("issues", action="opened")
async def on_opened(event: Event, ctx: Context) -> None:
    # A transferred issue reaches its new repository as `opened` (with changes.old_issue).
    await intake(event.data, ctx)


async def intake(payload: Mapping[str, Any], ctx: Context) -> None:
    issue = issue_from(payload)
    if issue.is_pull_request or issue.state != "open":
        return
    policy, note = await ctx.paging_policy(
        issue.repo, lambda policy: policy.pages(decide(issue, policy).priority)
    )
    ctx.write(_record, issue, policy, ctx, installation_id(payload), note)


def _record(
    conn: Connection,
    issue: Issue,
    policy: Policy,
    ctx: Context,
    installation: int | None,
    note: str | None,
) -> None:
    """`note`: why the policy is not the repository's as read just now (told on the page)."""
    decision = decide(issue, policy)
    where = keys.issue(issue.repo, issue.number)
    ref = IssueRef(installation, issue.repo, issue.number)
    urgent = policy.pages(decision.priority)  # labeled before any routine write
    if decision.labels_to_add:
        effects.add_labels(
            conn,
            ref,
            key=keys.key("intake", "labels", where),
            labels=decision.labels_to_add,
            now=ctx.now,
            urgent=urgent,
            later=True,  # with the window's others, in one statement
        )
    if not tracking.enforced(policy, issue.created_at):
        return  # before the policy's enforce_from: labeled, not tracked
    opened = rules.Opened(
        issue.created_at, decision.priority, str(decision.request_type), issue.author
    )
    # A new issue has no clocks: none is read (a redelivered opening, whose issue had one,
    # starts nothing: the store keeps the first).
    tracking.handle(
        conn,
        tracking.Subject.of(issue, installation),
        opened,
        policy,
        ctx.now,
        case=rules.Case(),
        note=note,
    )
    effects.comment(
        conn,
        ref,
        key=effects.intake_comment_key(issue.repo, issue.number),
        body=intake_comment(issue, decision, policy, ctx.now),
        now=ctx.now,
        urgent=urgent,
        later=True,
    )
