"""FakeGitHub's records and the GitHub-shaped JSON built from them (users, labels, issues...)."""

from __future__ import annotations

import base64
import hashlib
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

HTML = "https://github.com"
DOCS = "https://docs.github.com/rest"
JSONDict = dict[str, Any]


def iso(at: datetime | None) -> str | None:
    """GitHub's timestamp format: UTC, whole seconds, a `Z` suffix."""
    return None if at is None else at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def user(login: str, api: str, kind: str | None = None) -> JSONDict:
    """A User object; its id is stable per login. Logins ending in `[bot]` are Bots."""
    uid = zlib.crc32(login.encode()) % 90_000_000 + 10_000_000
    kind = kind or ("Bot" if login.endswith("[bot]") else "User")
    return {
        "login": login,
        "id": uid,
        "node_id": node_id("Bot" if kind == "Bot" else "User", uid),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "",
        "url": f"{api}/users/{quote(login)}",
        "html_url": f"{HTML}/{quote(login)}" if kind != "Bot" else f"{HTML}/apps/{login[:-5]}",
        "type": kind,
        "site_admin": False,
    }


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False

    def json(self, repo: str, api: str) -> JSONDict:
        return {
            "id": self.id,
            "node_id": node_id("Label", self.id),
            "url": f"{api}/repos/{repo}/labels/{quote(self.name)}",
            "name": self.name,
            "color": self.color,
            "default": self.default,
            "description": self.description,
        }


@dataclass
class Comment:
    id: int
    repo: str
    issue: int
    body: str
    user: JSONDict
    association: str
    created_at: datetime
    updated_at: datetime
    app: JSONDict | None = None  # performed_via_github_app

    def json(self, api: str) -> JSONDict:
        url = f"{api}/repos/{self.repo}/issues/comments/{self.id}"
        return {
            "url": url,
            "html_url": f"{HTML}/{self.repo}/issues/{self.issue}#issuecomment-{self.id}",
            "issue_url": f"{api}/repos/{self.repo}/issues/{self.issue}",
            "id": self.id,
            "node_id": node_id("IssueComment", self.id),
            "user": self.user,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "author_association": self.association,
            "body": self.body,
            "reactions": {"url": f"{url}/reactions", "total_count": 0, "+1": 0, "-1": 0},
            "performed_via_github_app": self.app,
        }


@dataclass
class Event:
    """An issue event (labeled, unlabeled, closed, reopened) as the Issue Events API shows it."""

    id: int
    event: str
    actor: JSONDict
    created_at: datetime
    label: Label | None = None
    app: JSONDict | None = None
    state_reason: str | None = None

    def json(self, repo: str, api: str) -> JSONDict:
        data: JSONDict = {
            "id": self.id,
            "node_id": node_id(f"{self.event.title()}Event", self.id),
            "url": f"{api}/repos/{repo}/issues/events/{self.id}",
            "actor": self.actor,
            "event": self.event,
            "commit_id": None,
            "commit_url": None,
            "created_at": iso(self.created_at),
            "performed_via_github_app": self.app,
        }
        if self.label is not None:  # a snapshot: only name and color, as GitHub shows
            data["label"] = {"name": self.label.name, "color": self.label.color}
        if self.event == "closed":
            data["state_reason"] = self.state_reason
        return data


@dataclass
class Issue:
    id: int
    number: int
    title: str
    body: str | None
    user: JSONDict
    association: str
    created_at: datetime
    updated_at: datetime
    labels: list[Label] = field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    comments: list[Comment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def has_label(self, name: str) -> bool:
        return any(label.name.lower() == name.lower() for label in self.labels)

    def json(self, repo: str, api: str) -> JSONDict:
        url = f"{api}/repos/{repo}/issues/{self.number}"
        return {
            "url": url,
            "repository_url": f"{api}/repos/{repo}",
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{HTML}/{repo}/issues/{self.number}",
            "id": self.id,
            "node_id": node_id("Issue", self.id),
            "number": self.number,
            "title": self.title,
            "user": self.user,
            "labels": [label.json(repo, api) for label in self.labels],
            "state": self.state,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": len(self.comments),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "closed_at": iso(self.closed_at),
            "author_association": self.association,
            "active_lock_reason": None,
            "body": self.body,
            "reactions": {"url": f"{url}/reactions", "total_count": 0, "+1": 0, "-1": 0},
            "timeline_url": f"{url}/timeline",
            "state_reason": self.state_reason,
            "performed_via_github_app": None,
        }


@dataclass
class Installation:
    id: int
    account: str
    created_at: datetime


@dataclass
class Repo:
    id: int
    full_name: str
    installation_id: int
    private: bool
    description: str
    created_at: datetime
    labels: dict[str, Label] = field(default_factory=dict)  # by lower-cased name
    issues: dict[int, Issue] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)  # GitHub answers 410 Gone for these
    roles: dict[str, str] = field(default_factory=dict)  # login -> role_name (collaborators)

    @property
    def owner(self) -> str:
        return self.full_name.partition("/")[0]

    def mini(self) -> JSONDict:
        """The short form in installation payloads."""
        name = self.full_name.partition("/")[2]
        return {
            "id": self.id,
            "node_id": node_id("Repository", self.id),
            "name": name,
            "full_name": self.full_name,
            "private": self.private,
        }

    def json(self, api: str) -> JSONDict:
        url = f"{api}/repos/{self.full_name}"
        return {
            **self.mini(),
            "owner": user(self.owner, api, "Organization"),
            "html_url": f"{HTML}/{self.full_name}",
            "description": self.description,
            "fork": False,
            "url": url,
            "issues_url": f"{url}/issues{{/number}}",
            "labels_url": f"{url}/labels{{/name}}",
            "contents_url": f"{url}/contents/{{+path}}",
            "created_at": iso(self.created_at),
            "updated_at": iso(self.created_at),
            "pushed_at": iso(self.created_at),
            "has_issues": True,
            "archived": False,
            "disabled": False,
            "open_issues_count": sum(i.state == "open" for i in self.issues.values()),
            "default_branch": "main",
            "visibility": "private" if self.private else "public",
        }


def blob_sha(text: str) -> str:
    """Git's blob id, which GitHub reports as a file's `sha`."""
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def content_json(repo: str, path: str, text: str | None, api: str) -> JSONDict:
    """A contents-API entry; with `text` it carries the file, base64 in 60-column lines."""
    name = path.rsplit("/", 1)[-1]
    url = f"{api}/repos/{repo}/contents/{quote(path)}"
    data: JSONDict = {
        "type": "file" if text is not None else "dir",
        "size": len(text.encode()) if text is not None else 0,
        "name": name,
        "path": path,
        "sha": blob_sha(text if text is not None else path),
        "url": url,
        "html_url": f"{HTML}/{repo}/blob/main/{quote(path)}",
        "download_url": None,
    }
    if text is not None:
        raw = base64.b64encode(text.encode()).decode()
        lines = [raw[i : i + 60] for i in range(0, len(raw), 60)]
        data.update(encoding="base64", content="\n".join(lines) + "\n")
    return data
