"""Rebuild an issue's clock from GitHub's record (issue events, comments): pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.sla.domain import Priority
from app.sla.policy import Policy

# Labels put on this soon after creation were set at intake (the form's `labels:`): the
# clock starts at the issue's creation, not at the label time (here and on delivery).
INTAKE_WINDOW = timedelta(minutes=2)


@dataclass(frozen=True)
class Expected:
    """What the store should hold for an open issue."""

    priority: Priority
    started_at: datetime
    responded_at: datetime | None
    responder: str | None
    reopened_at: datetime | None = None  # the last reopen, if the issue was ever reopened
    reopen_response: tuple[datetime, str] | None = None  # the first response after it

    def response_since(self, start: datetime) -> tuple[datetime, str] | None:
        """The first response that counts for a clock started at `start`."""
        if self.reopened_at is not None and start >= self.reopened_at:
            return self.reopen_response
        if self.responded_at is None or self.responder is None or self.responded_at < start:
            return None
        return self.responded_at, self.responder


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def current_priority(
    created_at: datetime, events: Iterable[Mapping[str, Any]], policy: Policy
) -> tuple[Priority, datetime] | None:
    """The priority that counts now and since when, replaying label events in order."""
    on: set[Priority] = set()
    current: Priority | None = None
    since = created_at
    for event in sorted(events, key=lambda e: _time(e["created_at"])):
        kind = event.get("event")
        label = (event.get("label") or {}).get("name")
        priority = policy.priority_for_label(str(label)) if label else None
        if kind not in ("labeled", "unlabeled") or priority is None:
            continue
        (on.add if kind == "labeled" else on.discard)(priority)
        highest = policy.highest(on)
        if highest != current:
            current, since = highest, _time(event["created_at"])
    if current is None:
        return None
    return current, created_at if since - created_at <= INTAKE_WINDOW else since


def first_response(
    author: str,
    started_at: datetime,
    comments: Iterable[Mapping[str, Any]],
    policy: Policy,
) -> tuple[datetime, str] | None:
    """The first comment after the start by a responder who is not the author nor a bot."""
    for comment in sorted(comments, key=lambda c: _time(c["created_at"])):
        user = comment.get("user") or {}
        login = str(user.get("login", ""))
        at = _time(comment["created_at"])
        if (
            at >= started_at
            and login != author
            and user.get("type") != "Bot"
            and not login.endswith("[bot]")
            and comment.get("author_association") in policy.responders.associations
        ):
            return at, login
    return None


def expected_clock(
    issue: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
    comments: Iterable[Mapping[str, Any]],
    policy: Policy,
) -> Expected | None:
    """The clock an open issue should have according to GitHub, or None (no priority)."""
    events = list(events)
    created = _time(issue["created_at"])
    found = current_priority(created, events, policy)
    if found is None:
        return None
    priority, started = found
    author = str(issue["user"]["login"])
    response = first_response(author, started, comments, policy)
    reopens = [_time(e["created_at"]) for e in events if e.get("event") == "reopened"]
    reopened = max(reopens, default=None)
    return Expected(
        priority=priority,
        started_at=started,
        responded_at=response[0] if response else None,
        responder=response[1] if response else None,
        reopened_at=reopened,
        reopen_response=first_response(author, reopened, comments, policy) if reopened else None,
    )
