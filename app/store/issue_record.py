"""Keep the latest look of each issue a delivery shows (labels, assignees, state): the
status meetings read it to tell whose request it is, who is on it and what was resolved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.sla.issue import MalformedPayload, issue_from, parse_time
from app.store import issues
from app.webhooks.context import Context

router = Router()
# An issue that left the repository: no longer anyone's open request.
GONE = {"deleted": "deleted", "transferred": "transferred"}


@router.register("issues")
@router.register("issue_comment")
async def keep_issue(event: Event, ctx: Context) -> None:
    """Best effort: a payload these fields cannot be read from is the other handlers' to
    report; this one records nothing."""
    snapshot = snapshot_of(event.data)
    if snapshot is not None:
        ctx.write(issues.record, snapshot)


def snapshot_of(payload: dict[str, Any]) -> issues.IssueRecord | None:
    try:
        issue = issue_from(payload)
        raw = payload["issue"]
        closed = raw.get("closed_at")
        closed_at: datetime | None = parse_time(closed) if closed else None
        assignees = tuple(str(a["login"]) for a in raw.get("assignees") or ())
    except (MalformedPayload, KeyError, TypeError):
        return None
    if issue.is_pull_request:
        return None
    state = GONE.get(str(payload.get("action")), issue.state)
    return issues.IssueRecord(
        repo=issue.repo,
        number=issue.number,
        title=issue.title,
        url=issue.url,
        state=state,
        labels=issue.labels,
        assignees=assignees,
        closed_at=closed_at,
        updated_at=issue.updated_at,
    )
