"""FakeGitHub's repository endpoints: contents, labels, issues, comments, events, timeline."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sla_sandbox.standins.github_http import Ctx, Gone, NotFound, Reply, error, invalid, page_of
from sla_sandbox.standins.github_model import Comment, Issue, Repo, content_json
from sla_sandbox.standins.github_state import GitHubWorld

Handler = Callable[[GitHubWorld, Ctx], Reply]
MAX_COMMENT = 65536  # GitHub refuses longer comment bodies


def _repo(world: GitHubWorld, ctx: Ctx) -> Repo:
    repo = world._repos.get(f"{ctx.params['owner']}/{ctx.params['repo']}".lower())
    if repo is None or repo.installation_id != ctx.caller.installation_id:
        raise NotFound  # another installation's repo is invisible, as on GitHub
    return repo


def _issue(world: GitHubWorld, ctx: Ctx) -> tuple[Repo, Issue]:
    repo = _repo(world, ctx)
    issue = repo.issues.get(int(ctx.params["n"]))
    if issue is None:
        if int(ctx.params["n"]) in repo.deleted:
            raise Gone
        raise NotFound
    return repo, issue


def _paged(items: list[Any], ctx: Ctx) -> Reply:
    chunk, headers = page_of(items, ctx.query, ctx.url)
    return Reply(200, chunk, headers)


def _since(ctx: Ctx) -> datetime | None:
    value = ctx.query.get("since")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def get_contents(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo = _repo(world, ctx)
    path = ctx.params["path"].strip("/")
    if path in repo.files:
        text = repo.files[path]
        if "raw" in ctx.accept:  # application/vnd.github.raw+json
            return Reply(
                200, text.encode(), {"content-type": "application/vnd.github.raw; charset=utf-8"}
            )
        return Reply(200, content_json(repo.full_name, path, text, world.api))
    prefix = f"{path}/" if path else ""
    children: dict[str, str | None] = {}
    for name, text in repo.files.items():
        if name.startswith(prefix):
            child, _, rest = name[len(prefix) :].partition("/")
            children[child] = None if rest else text
    if not children:
        raise NotFound
    entries = [content_json(repo.full_name, prefix + c, t, world.api) for c, t in children.items()]
    for entry in entries:
        entry.pop("content", None)  # a listing does not carry file contents
    return Reply(200, sorted(entries, key=lambda e: str(e["name"])))


def list_labels(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo = _repo(world, ctx)
    return _paged([label.json(repo.full_name, world.api) for label in repo.labels.values()], ctx)


def get_label(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo = _repo(world, ctx)
    label = repo.labels.get(ctx.params["name"].lower())
    if label is None:
        raise NotFound
    return Reply(200, label.json(repo.full_name, world.api))


def create_label(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo = _repo(world, ctx)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    name, color = body.get("name"), body.get("color", "ededed")
    description = body.get("description")
    if not isinstance(name, str) or not name.strip():
        return invalid("Label", "missing_field", "name")
    if name.lower() in repo.labels:  # label names are unique regardless of case
        return invalid("Label", "already_exists", "name")
    if not isinstance(color, str) or not re.fullmatch(r"[0-9a-fA-F]{6}", color):
        return invalid("Label", "invalid", "color")  # hex without the leading '#'
    if description is not None and (not isinstance(description, str) or len(description) > 100):
        return invalid("Label", "invalid", "description")
    label = world._new_label(repo, name, color, description)
    return Reply(201, label.json(repo.full_name, world.api))


def list_issues(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo = _repo(world, ctx)
    state = ctx.query.get("state", "open")
    wanted = [w for w in ctx.query.get("labels", "").split(",") if w.strip()]
    since = _since(ctx)
    issues = [
        i
        for i in repo.issues.values()
        if (state == "all" or i.state == state)
        and all(i.has_label(w.strip()) for w in wanted)
        and (since is None or i.updated_at >= since)
    ]
    sort = ctx.query.get("sort", "created")
    key: Callable[[Issue], Any] = {
        "updated": lambda i: i.updated_at,
        "comments": lambda i: len(i.comments),
    }.get(sort, lambda i: i.created_at)
    issues.sort(key=lambda i: (key(i), i.number), reverse=ctx.query.get("direction") != "asc")
    return _paged([i.json(repo.full_name, world.api) for i in issues], ctx)


def create_issue(world: GitHubWorld, ctx: Ctx) -> Reply:
    """`POST /repos/{o}/{r}/issues` as the App: its bot is the author; labels it names are
    created when missing (an App with issues: write may)."""
    repo = _repo(world, ctx)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    title, text = body.get("title"), body.get("body")
    if not isinstance(title, str) or not title.strip():
        return invalid("Issue", "missing_field", "title")
    if len(title) > 256 or (isinstance(text, str) and len(text) > MAX_COMMENT):
        return error(422, "Validation Failed", errors=["title or body is too long"])
    names = _label_names(body) if "labels" in body else []
    made = world.open_issue(
        repo.full_name,
        title=title,
        body=text if isinstance(text, str) else None,
        user=world.bot(),
        labels=names or [],
    )
    return Reply(201, made)


def get_issue(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo, issue = _issue(world, ctx)
    return Reply(200, issue.json(repo.full_name, world.api))


# role_name -> the legacy `permission` field (triage reads as read, maintain as write).
_LEGACY = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}


def get_permission(world: GitHubWorld, ctx: Ctx) -> Reply:
    """`GET /repos/{o}/{r}/collaborators/{user}/permission` (metadata: read)."""
    repo = _repo(world, ctx)
    login = ctx.params["user"]
    role = repo.roles.get(login.lower(), "none")
    body = {"permission": _LEGACY[role], "role_name": role, "user": world._user(login)}
    return Reply(200, body)


def update_issue(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo, issue = _issue(world, ctx)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    bot, now = world.bot(), world.now()
    if body.get("state") not in (None, "open", "closed"):
        return invalid("Issue", "invalid", "state")
    for name in ("title", "body"):
        if name in body:
            setattr(issue, name, body[name])
            issue.updated_at = now
    if body.get("state") == "closed":
        world._set_state(issue, "closed", bot, now, body.get("state_reason") or "completed")
    elif body.get("state") == "open":
        world._set_state(issue, "open", bot, now, "reopened")
    names = _label_names(body) if "labels" in body else None
    if names is not None:
        _replace(world, repo, issue, names)
    return Reply(200, issue.json(repo.full_name, world.api))


def _label_names(body: Any) -> list[str] | None:
    """`{"labels": [...]}` or a bare list; items are names or `{"name": ...}`."""
    items = body.get("labels") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return None
    names = [item.get("name") if isinstance(item, dict) else item for item in items]
    good = [n for n in names if isinstance(n, str) and n.strip()]
    return good if len(good) == len(names) else None


def _issue_labels(world: GitHubWorld, repo: Repo, issue: Issue, status: int = 200) -> Reply:
    return Reply(status, [label.json(repo.full_name, world.api) for label in issue.labels])


def list_issue_labels(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo, issue = _issue(world, ctx)
    return _paged([label.json(repo.full_name, world.api) for label in issue.labels], ctx)


def add_issue_labels(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo, issue = _issue(world, ctx)
    names = _label_names(ctx.body)
    if names is None:
        return invalid("Label", "invalid", "labels")
    if not names:  # documented: "You can pass an empty array to remove all labels"
        return _replace(world, repo, issue, [])
    world._label(repo, issue, names, world.bot(), world.now())  # missing labels are created
    return _issue_labels(world, repo, issue)


def set_issue_labels(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo, issue = _issue(world, ctx)
    names = _label_names(ctx.body)
    if names is None:
        return invalid("Label", "invalid", "labels")
    return _replace(world, repo, issue, names)


def _replace(world: GitHubWorld, repo: Repo, issue: Issue, names: list[str]) -> Reply:
    keep = {n.lower() for n in names}
    bot, now = world.bot(), world.now()
    for label in [lb for lb in issue.labels if lb.name.lower() not in keep]:
        world._unlabel(issue, label.name, bot, now)
    world._label(repo, issue, names, bot, now)
    return _issue_labels(world, repo, issue)


def remove_issue_label(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo, issue = _issue(world, ctx)
    if not world._unlabel(issue, ctx.params["name"], world.bot(), world.now()):
        return error(404, "Label does not exist")
    return _issue_labels(world, repo, issue)


def remove_all_issue_labels(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo, issue = _issue(world, ctx)
    _replace(world, repo, issue, [])
    return Reply(204)


def list_comments(world: GitHubWorld, ctx: Ctx) -> Reply:
    _, issue = _issue(world, ctx)
    since = _since(ctx)  # "last updated after", ascending by id
    shown = [c for c in issue.comments if since is None or c.updated_at >= since]
    return _paged([c.json(world.api) for c in sorted(shown, key=lambda c: c.id)], ctx)


def _comment_body(ctx: Ctx) -> str | Reply:
    body = ctx.body.get("body") if isinstance(ctx.body, dict) else None
    if not isinstance(body, str) or not body.strip():
        return invalid("IssueComment", "missing_field", "body")
    if len(body) > MAX_COMMENT:
        return error(
            422,
            "Validation Failed",
            errors=[f"Body is too long (maximum is {MAX_COMMENT} characters)"],
        )
    return body


def create_comment(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo, issue = _issue(world, ctx)
    body = _comment_body(ctx)
    if isinstance(body, Reply):
        return body
    made = world._comment(repo, issue, body, world.bot(), "NONE", None)
    return Reply(201, made.json(world.api))


def _comment(world: GitHubWorld, ctx: Ctx) -> Comment:
    repo = _repo(world, ctx)
    found = world._comments.get(int(ctx.params["id"]))
    if found is None or found.repo != repo.full_name:
        raise NotFound
    return found


def get_comment(world: GitHubWorld, ctx: Ctx) -> Reply:
    return Reply(200, _comment(world, ctx).json(world.api))


def update_comment(world: GitHubWorld, ctx: Ctx) -> Reply:
    found = _comment(world, ctx)
    body = _comment_body(ctx)
    if isinstance(body, Reply):
        return body
    found.body, found.updated_at = body, world.now()
    return Reply(200, found.json(world.api))


def list_events(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo, issue = _issue(world, ctx)
    return _paged([e.json(repo.full_name, world.api) for e in issue.events], ctx)


def timeline(world: GitHubWorld, ctx: Ctx) -> Reply:
    repo, issue = _issue(world, ctx)
    items = [(e.created_at, e.json(repo.full_name, world.api)) for e in issue.events]
    for c in issue.comments:
        items.append((c.created_at, {**c.json(world.api), "event": "commented", "actor": c.user}))
    items.sort(key=lambda item: item[0])  # stable: same-second events keep their order
    return _paged([data for _, data in items], ctx)


REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
ISSUE = REPO + r"/issues/(?P<n>\d+)"
# (method, path regex, permission needed, handler); all need an installation token.
REPO_ROUTES: list[tuple[str, str, tuple[str, str] | None, Handler]] = [
    ("GET", REPO + r"/contents/?(?P<path>.*)", ("contents", "read"), get_contents),
    ("GET", REPO + r"/labels", None, list_labels),
    ("POST", REPO + r"/labels", ("issues", "write"), create_label),
    ("GET", REPO + r"/labels/(?P<name>[^/]+)", None, get_label),
    ("GET", REPO + r"/collaborators/(?P<user>[^/]+)/permission", None, get_permission),
    ("GET", REPO + r"/issues", ("issues", "read"), list_issues),
    ("POST", REPO + r"/issues", ("issues", "write"), create_issue),
    ("GET", REPO + r"/issues/comments/(?P<id>\d+)", ("issues", "read"), get_comment),
    ("PATCH", REPO + r"/issues/comments/(?P<id>\d+)", ("issues", "write"), update_comment),
    ("GET", ISSUE, ("issues", "read"), get_issue),
    ("PATCH", ISSUE, ("issues", "write"), update_issue),
    ("GET", ISSUE + r"/labels", ("issues", "read"), list_issue_labels),
    ("POST", ISSUE + r"/labels", ("issues", "write"), add_issue_labels),
    ("PUT", ISSUE + r"/labels", ("issues", "write"), set_issue_labels),
    ("DELETE", ISSUE + r"/labels", ("issues", "write"), remove_all_issue_labels),
    ("DELETE", ISSUE + r"/labels/(?P<name>[^/]+)", ("issues", "write"), remove_issue_label),
    ("GET", ISSUE + r"/comments", ("issues", "read"), list_comments),
    ("POST", ISSUE + r"/comments", ("issues", "write"), create_comment),
    ("GET", ISSUE + r"/events", ("issues", "read"), list_events),
    ("GET", ISSUE + r"/timeline", ("issues", "read"), timeline),
]
