"""A push that changes a policy file: every replica reads that policy again at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.github.policies import POLICY_PATH
from app.sla.issue import MalformedPayload
from app.store import repos
from app.webhooks.context import Context

router = Router()
# GitHub lists at most this many commits in a push payload (and their files); a longer push
# may change the policy in a commit it leaves out.
LISTED_COMMITS = 20


@router.register("push")
async def on_push(event: Event, ctx: Context) -> None:
    data = event.data
    try:
        repository = data["repository"]
        repo, default = str(repository["full_name"]), str(repository["default_branch"])
    except (KeyError, TypeError) as exc:
        raise MalformedPayload(f"push: missing or malformed field {exc}") from None
    if data.get("ref") != f"refs/heads/{default}" or not changes_policy(data):
        return  # another branch, or other files: the policy read from the default branch holds
    ctx.write(repos.policy_changed, repo)
    ctx.policies.forget(repo)  # this process at once; the others on their next look


def changes_policy(data: Mapping[str, Any]) -> bool:
    """The push may have added, changed or removed the policy file."""
    commits = data.get("commits")
    if not isinstance(commits, list) or data.get("forced") or len(commits) >= LISTED_COMMITS:
        return True  # a rewrite, or more than GitHub lists: assume it did
    for commit in commits:
        if not isinstance(commit, dict):
            return True
        for files in ("added", "modified", "removed"):
            if POLICY_PATH in (commit.get(files) or ()):
                return True
    return False
