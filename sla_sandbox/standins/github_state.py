"""FakeGitHub's world: repos, issues, labels, comments and events, with helpers to script it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from app.time_source import system_time
from sla_sandbox.standins.github_model import (
    Comment,
    Event,
    Installation,
    Issue,
    JSONDict,
    Label,
    Repo,
    node_id,
    user,
)

DEFAULT_PERMISSIONS = {"issues": "write", "contents": "read", "metadata": "read"}
EVENTS = ["issues", "issue_comment"]
Actor = str | JSONDict  # a login, or a full User object


class GitHubWorld:
    """The state behind FakeGitHub; every method takes the one re-entrant lock."""

    def __init__(
        self,
        *,
        app_id: str,
        slug: str = "sla-bot",
        name: str = "SLA Bot",
        time: Callable[[], datetime] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> None:
        self.app_id = app_id
        self.app_number = int(app_id) if app_id.isdigit() else 1  # `iss` may be a client ID
        self.slug, self.name = slug, name
        self.permissions = dict(permissions or DEFAULT_PERMISSIONS)
        self.api = "https://api.github.com"  # becomes the loopback URL once served
        self._time = time or system_time
        self._lock = threading.RLock()
        self._clear()

    def _clear(self) -> None:
        self._installations: dict[int, Installation] = {}
        self._repos: dict[str, Repo] = {}  # by lower-cased full name, as GitHub ignores case
        self._comments: dict[int, Comment] = {}
        self._ids = {kind: itertools.count(start) for kind, start in _ID_STARTS.items()}

    def now(self) -> datetime:
        return self._time()

    def _next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    # -- the App and its bot user --

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"

    def bot(self) -> JSONDict:
        return user(self.bot_login, self.api, "Bot")

    def app_json(self) -> JSONDict:
        """The App object: `GET /app` and every `performed_via_github_app`."""
        return {
            "id": self.app_number,
            "slug": self.slug,
            "node_id": node_id("Integration", self.app_number),
            "owner": user("sla-bot-owner", self.api, "Organization"),
            "name": self.name,
            "description": "",
            "external_url": "https://example.invalid/sla-bot",
            "html_url": f"https://github.com/apps/{self.slug}",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "permissions": dict(self.permissions),
            "events": list(EVENTS),
            "installations_count": len(self._installations),
        }

    # -- scripting the world (tests and the demo) --

    def add_repo(
        self, full_name: str, installation_id: int, *, private: bool = True, description: str = ""
    ) -> JSONDict:
        """Install the App on a repo (creating the installation on first use)."""
        with self._lock:
            owner = full_name.partition("/")[0]
            if installation_id not in self._installations:
                self._installations[installation_id] = Installation(
                    installation_id, owner, self.now()
                )
            repo = Repo(
                self._next_id("repo"), full_name, installation_id, private, description, self.now()
            )
            self._repos[full_name.lower()] = repo
            return repo.json(self.api)

    def create_label(
        self, repo: str, name: str, color: str = "ededed", description: str | None = None
    ) -> JSONDict:
        with self._lock:
            found = self._repo(repo)
            if name.lower() in found.labels:
                raise ValueError(f"{repo} already has a label {name!r} (names ignore case)")
            return self._new_label(found, name, color, description).json(found.full_name, self.api)

    def set_file(self, repo: str, path: str, text: str | None) -> None:
        """Put a file on the default branch (None deletes it)."""
        with self._lock:
            files = self._repo(repo).files
            if text is None:
                files.pop(path.strip("/"), None)
            else:
                files[path.strip("/")] = text

    def open_issue(
        self,
        repo: str,
        *,
        title: str,
        body: str | None = "",
        user: Actor,
        labels: Iterable[str] = (),
        created_at: datetime | None = None,
        association: str = "NONE",
    ) -> JSONDict:
        """A new issue; template labels count as `labeled` by its author, as GitHub does."""
        with self._lock:
            found, at, author = self._repo(repo), created_at or self.now(), self._user(user)
            number = max(found.issues, default=0) + 1
            issue = Issue(self._next_id("issue"), number, title, body, author, association, at, at)
            found.issues[number] = issue
            self._label(found, issue, list(labels), author, at)
            return issue.json(found.full_name, self.api)

    def add_label(
        self, repo: str, n: int, name: str, actor: Actor, at: datetime | None = None
    ) -> JSONDict:
        """Label an issue as a person would (the label is created if the repo lacks it)."""
        with self._lock:
            found, issue = self._issue(repo, n)
            self._label(found, issue, [name], self._user(actor), at or self.now())
            return issue.json(found.full_name, self.api)

    def remove_label(
        self, repo: str, n: int, name: str, actor: Actor, at: datetime | None = None
    ) -> JSONDict:
        with self._lock:
            found, issue = self._issue(repo, n)
            self._unlabel(issue, name, self._user(actor), at or self.now())
            return issue.json(found.full_name, self.api)

    def add_comment(
        self,
        repo: str,
        n: int,
        body: str,
        user: Actor,
        association: str = "NONE",
        at: datetime | None = None,
    ) -> JSONDict:
        """A comment by a person; returns it as an issue_comment webhook carries it."""
        with self._lock:
            found, issue = self._issue(repo, n)
            made = self._comment(found, issue, body, self._user(user), association, at)
            return made.json(self.api)

    def close_issue(
        self,
        repo: str,
        n: int,
        actor: Actor,
        at: datetime | None = None,
        reason: str = "completed",
    ) -> JSONDict:
        with self._lock:
            found, issue = self._issue(repo, n)
            self._set_state(issue, "closed", self._user(actor), at, reason)
            return issue.json(found.full_name, self.api)

    def reopen_issue(self, repo: str, n: int, actor: Actor, at: datetime | None = None) -> JSONDict:
        with self._lock:
            found, issue = self._issue(repo, n)
            self._set_state(issue, "open", self._user(actor), at, "reopened")
            return issue.json(found.full_name, self.api)

    def set_role(self, repo: str, login: str, role: str) -> None:
        """Give `login` a role on `repo` (admin, maintain, write, triage, read), as an org's
        team access would, whatever their membership shows in payloads."""
        with self._lock:
            self._repo(repo).roles[login.lower()] = role

    def delete_issue(self, repo: str, n: int) -> None:
        """Delete an issue, as an admin can: it is gone from every list and answers 410."""
        with self._lock:
            found, _ = self._issue(repo, n)
            del found.issues[n]
            found.deleted.add(n)

    # -- reading the world (assertions) --

    def issue(self, repo: str, n: int) -> JSONDict:
        with self._lock:
            found, issue = self._issue(repo, n)
            return issue.json(found.full_name, self.api)

    def comments(self, repo: str, n: int) -> list[JSONDict]:
        with self._lock:
            return [c.json(self.api) for c in self._issue(repo, n)[1].comments]

    def label_names(self, repo: str, n: int) -> list[str]:
        with self._lock:
            return [label.name for label in self._issue(repo, n)[1].labels]

    def repo_labels(self, repo: str) -> list[JSONDict]:
        with self._lock:
            found = self._repo(repo)
            return [label.json(found.full_name, self.api) for label in found.labels.values()]

    # -- mutations shared by the helpers and the REST handlers (lock held) --

    def _user(self, actor: Actor) -> JSONDict:
        return user(actor, self.api) if isinstance(actor, str) else actor

    def _repo(self, name: str) -> Repo:
        found = self._repos.get(name.lower())
        if found is None:
            raise KeyError(f"FakeGitHub has no repo {name!r}; call add_repo() first")
        return found

    def _issue(self, repo: str, n: int) -> tuple[Repo, Issue]:
        found = self._repo(repo)
        if n not in found.issues:
            raise KeyError(f"FakeGitHub has no issue {repo}#{n}")
        return found, found.issues[n]

    def _new_label(self, repo: Repo, name: str, color: str, description: str | None) -> Label:
        label = Label(self._next_id("label"), name, color.lower(), description)
        repo.labels[name.lower()] = label
        return label

    def _label(
        self, repo: Repo, issue: Issue, names: list[str], actor: JSONDict, at: datetime
    ) -> None:
        app = self.app_json() if actor["type"] == "Bot" else None
        for name in names:
            label = repo.labels.get(name.lower()) or self._new_label(repo, name, "ededed", None)
            if not issue.has_label(name):
                issue.labels.append(label)
                self._event(issue, "labeled", actor, at, label=label, app=app)

    def _unlabel(self, issue: Issue, name: str, actor: JSONDict, at: datetime) -> bool:
        app = self.app_json() if actor["type"] == "Bot" else None
        for label in issue.labels:
            if label.name.lower() == name.lower():
                issue.labels.remove(label)
                self._event(issue, "unlabeled", actor, at, label=label, app=app)
                return True
        return False

    def _comment(
        self,
        repo: Repo,
        issue: Issue,
        body: str,
        author: JSONDict,
        association: str,
        at: datetime | None,
    ) -> Comment:
        at = at or self.now()
        app = self.app_json() if author["type"] == "Bot" else None
        cid = self._next_id("comment")
        made = Comment(cid, repo.full_name, issue.number, body, author, association, at, at, app)
        issue.comments.append(made)
        issue.updated_at = max(issue.updated_at, at)
        self._comments[made.id] = made
        return made

    def _set_state(
        self, issue: Issue, state: str, actor: JSONDict, at: datetime | None, reason: str | None
    ) -> None:
        if issue.state == state:
            return
        at = at or self.now()
        issue.state, issue.state_reason = state, reason
        issue.closed_at = at if state == "closed" else None
        app = self.app_json() if actor["type"] == "Bot" else None
        event = "closed" if state == "closed" else "reopened"
        self._event(issue, event, actor, at, app=app, state_reason=reason)

    def _event(self, issue: Issue, kind: str, actor: JSONDict, at: datetime, **more: Any) -> None:
        issue.events.append(Event(self._next_id("event"), kind, actor, at, **more))
        issue.updated_at = max(issue.updated_at, at)


_ID_STARTS = {
    "repo": 186853001,
    "issue": 444500001,
    "label": 600633001,
    "comment": 1001,
    "event": 9000000001,
}
