"""The facts sla-bot reads off an issue payload, extracted once and typed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.sla.domain import Priority, RequestType
from app.sla.policy import Policy


class MalformedPayload(ValueError):
    """A delivery lacks a field sla-bot needs: retrying will not help."""


@dataclass(frozen=True)
class Issue:
    repo: str
    number: int
    title: str
    url: str
    author: str
    body: str | None
    labels: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    state: str
    is_pull_request: bool

    def pages(self, policy: Policy) -> bool:
        """Its priority labels, read by `policy`, make it a paging request."""
        priority = self.priority(policy)
        return priority is not None and policy.pages(priority)

    def priority(self, policy: Policy) -> Priority | None:
        """The highest priority among the issue's labels: with several, the highest counts."""
        found = [p for name in self.labels if (p := policy.priority_for_label(name)) is not None]
        return policy.highest(found)

    def request_type(self, policy: Policy) -> RequestType | None:
        for name in self.labels:
            found = policy.type_for_label(name)
            if found is not None:
                return found
        return None


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise MalformedPayload(f"expected an ISO-8601 time, got {type(value).__name__}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedPayload(f"not an ISO-8601 time: {value[:40]!r}") from None


def issue_from(payload: Mapping[str, Any], key: str = "issue") -> Issue:
    """Read the issue (and its repository) from a delivery, or raise MalformedPayload."""
    try:
        issue = payload[key]
        repo = payload["repository"]["full_name"]
        return Issue(
            repo=str(repo),
            number=int(issue["number"]),
            title=str(issue.get("title") or ""),
            url=str(issue.get("html_url") or ""),
            author=str(issue["user"]["login"]),
            body=issue.get("body"),
            labels=tuple(str(label["name"]) for label in issue.get("labels") or ()),
            created_at=parse_time(issue["created_at"]),
            updated_at=parse_time(issue.get("updated_at") or issue["created_at"]),
            state=str(issue.get("state") or "open"),
            is_pull_request="pull_request" in issue,
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise MalformedPayload(f"{key}: missing or malformed field {exc}") from None


def sender_login(payload: Mapping[str, Any]) -> str:
    """Who did what the delivery tells of (`sender.login`), `?` when the payload omits it."""
    sender = payload.get("sender")
    return str(sender.get("login", "?")) if isinstance(sender, dict) else "?"


def installation_id(payload: Mapping[str, Any]) -> int | None:
    installation = payload.get("installation")
    if isinstance(installation, Mapping) and isinstance(installation.get("id"), int):
        return int(installation["id"])
    return None
