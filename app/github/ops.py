"""The few REST calls sla-bot makes, each in one place with its GitHub quirk noted."""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from gidgethub import BadRequest, InvalidField

from app.github.client import GitHubClient


def _repo(full_name: str) -> dict[str, str]:
    account, _, name = full_name.partition("/")
    return {"owner": account, "name": name}


def _issue(repo: str, issue: int, rest: str = "") -> str:
    """/repos/{owner}/{name}/issues/{issue}{rest}, expanded here: the writes made for every
    issue skip gidgethub's URI-template expansion, which costs more CPU than the rest of the
    call (bench/profiles)."""
    return f"{_repo_path(repo)}/issues/{int(issue)}{rest}"


@functools.lru_cache(maxsize=1024)
def _repo_path(repo: str) -> str:
    """/repos/{owner}/{name}, each segment percent-encoded as the URI template would."""
    account, name = (quote(part, safe="") for part in _repo(repo).values())
    return f"/repos/{account}/{name}"


async def add_labels(gh: GitHubClient, repo: str, issue: int, labels: list[str]) -> None:
    """One call for all labels: POST adds, it never removes the ones already there."""
    await gh.post(_issue(repo, issue, "/labels"), data={"labels": labels})


async def remove_label(gh: GitHubClient, repo: str, issue: int, label: str) -> None:
    """Take one label off; a label already gone (404) is what was wanted."""
    try:
        await gh.delete(_issue(repo, issue, f"/labels/{quote(label, safe='')}"))
    except BadRequest as exc:
        if exc.status_code != 404:
            raise


async def comment(gh: GitHubClient, repo: str, issue: int, body: str) -> dict[str, Any]:
    data: dict[str, Any] = await gh.post(_issue(repo, issue, "/comments"), data={"body": body})
    return data


async def edit_comment(gh: GitHubClient, repo: str, comment_id: int, body: str) -> None:
    await gh.patch(
        "/repos/{owner}/{name}/issues/comments/{comment_id}",
        url_vars={**_repo(repo), "comment_id": str(comment_id)},
        data={"body": body},
    )


async def close_issue(gh: GitHubClient, repo: str, issue: int, reason: str) -> None:
    """Close an issue with GitHub's `state_reason` (completed, not_planned)."""
    await gh.patch(_issue(repo, issue), data={"state": "closed", "state_reason": reason})


async def find_comment(gh: GitHubClient, repo: str, issue: int, marker: str) -> int | None:
    """The id of a comment carrying `marker`: a retried post checks before posting twice."""
    async for item in gh.getiter(
        "/repos/{owner}/{name}/issues/{issue}/comments{?per_page}",
        url_vars={**_repo(repo), "issue": str(issue), "per_page": "100"},
    ):
        if marker in (item.get("body") or ""):
            return int(item["id"])
    return None


async def existing_labels(gh: GitHubClient, repo: str) -> set[str]:
    names: set[str] = set()
    async for item in gh.getiter(
        "/repos/{owner}/{name}/labels{?per_page}", url_vars={**_repo(repo), "per_page": "100"}
    ):
        names.add(str(item["name"]).lower())
    return names


async def ensure_labels(
    gh: GitHubClient, repo: str, specs: Iterable[tuple[str, str, str]]
) -> list[str]:
    """Create the labels a repo lacks; an existing one is left alone. Returns those created."""
    have = await existing_labels(gh, repo)
    created = []
    for name, color, description in specs:
        if name.lower() in have:  # GitHub label names are case-insensitive
            continue
        try:
            await gh.post(
                "/repos/{owner}/{name}/labels",
                url_vars=_repo(repo),
                data={"name": name, "color": color, "description": description[:100]},
            )
        except InvalidField as exc:
            if "already_exists" not in repr(exc.errors):
                raise
            continue
        created.append(name)
    return created


async def read_file(gh: GitHubClient, repo: str, path: str) -> str | None:
    """A file's text from the default branch, or None when it is absent (404)."""
    try:
        data = await gh.getitem(
            "/repos/{owner}/{name}/contents/{+path}", url_vars={**_repo(repo), "path": path}
        )
    except BadRequest as exc:
        if exc.status_code == 404:
            return None
        raise
    if not isinstance(data, dict) or data.get("type") != "file":
        return None
    return base64.b64decode(data.get("content") or "").decode("utf-8")


async def open_issue(
    gh: GitHubClient, repo: str, title: str, body: str, labels: list[str]
) -> dict[str, Any]:
    """A new issue with its labels in one call (Issues: write lets an App set labels here)."""
    data: dict[str, Any] = await gh.post(
        "/repos/{owner}/{name}/issues",
        url_vars=_repo(repo),
        data={"title": title, "body": body, "labels": labels},
    )
    return data


async def edit_issue_body(gh: GitHubClient, repo: str, issue: int, body: str) -> None:
    await gh.patch(_issue(repo, issue), data={"body": body})


async def find_issue(gh: GitHubClient, repo: str, label: str, marker: str) -> dict[str, Any] | None:
    """The newest issue labeled `label` whose body carries `marker` (a retried opening whose
    answer was lost finds the issue it made); the last 100 are enough for one outage."""
    seen = 0
    async for item in gh.getiter(
        "/repos/{owner}/{name}/issues{?labels,state,sort,direction,per_page}",
        url_vars={
            **_repo(repo),
            "labels": label,
            "state": "all",
            "sort": "created",
            "direction": "desc",
            "per_page": "100",
        },
    ):
        if marker in (item.get("body") or ""):
            return dict(item)
        seen += 1
        if seen >= 100:
            break
    return None
