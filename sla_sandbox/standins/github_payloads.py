"""Real-shaped webhook payloads built from FakeGitHub's current state (octokit/webhooks)."""

from __future__ import annotations

from typing import Any

from sla_sandbox.standins.github_model import Event, Issue, JSONDict, Repo, iso, node_id, user
from sla_sandbox.standins.github_state import EVENTS, GitHubWorld

PAYLOAD_EVENTS = ("issues", "issue_comment", "installation", "installation_repositories")


def installation_json(world: GitHubWorld, installation_id: int) -> JSONDict:
    found = world._installations[installation_id]
    account = user(found.account, world.api, "Organization")
    api = world.api
    return {
        "id": found.id,
        "node_id": node_id("Installation", found.id),
        "account": account,
        "repository_selection": "selected",
        "access_tokens_url": f"{api}/app/installations/{found.id}/access_tokens",
        "repositories_url": f"{api}/installation/repositories",
        "html_url": f"https://github.com/organizations/{found.account}/settings/installations/{found.id}",
        "app_id": world.app_number,
        "app_slug": world.slug,
        "target_id": account["id"],
        "target_type": "Organization",
        "permissions": dict(world.permissions),
        "events": list(EVENTS),
        "created_at": iso(found.created_at),
        "updated_at": iso(found.created_at),
        "single_file_name": None,
        "suspended_at": None,
        "suspended_by": None,
    }


def organization_json(login: str, api: str) -> JSONDict:
    org = user(login, api, "Organization")
    return {
        "login": login,
        "id": org["id"],
        "node_id": node_id("Organization", org["id"]),
        "url": f"{api}/orgs/{login}",
        "repos_url": f"{api}/orgs/{login}/repos",
        "description": "",
    }


def build_payload(
    world: GitHubWorld, event: str, action: str, repo_name: str, n: int | None, extra: JSONDict
) -> JSONDict:
    """The body GitHub would deliver for `event`/`action` now; `extra` keys override."""
    if event not in PAYLOAD_EVENTS:
        raise ValueError(f"payload() builds {', '.join(PAYLOAD_EVENTS)}, not {event!r}")
    repo = world._repo(repo_name)
    extra = dict(extra)
    sender: Any = extra.pop("sender", None)
    data: JSONDict = {"action": action}
    if event in ("issues", "issue_comment"):
        if n is None:
            raise ValueError(f"an {event} payload needs the issue number")
        default_sender = _issue_part(world, event, action, repo, repo.issues[n], data, extra)
        data["repository"] = repo.json(world.api)
        data["organization"] = organization_json(repo.owner, world.api)
        data["installation"] = {
            "id": repo.installation_id,
            "node_id": node_id("Installation", repo.installation_id),
        }
    else:
        default_sender = user(f"{repo.owner}-admin", world.api)
        data["installation"] = installation_json(world, repo.installation_id)
        data.update(_installation_part(world, event, action, repo))
    data["sender"] = world._user(sender) if sender is not None else default_sender
    data.update(extra)
    return data


def _issue_part(
    world: GitHubWorld,
    event: str,
    action: str,
    repo: Repo,
    issue: Issue,
    data: JSONDict,
    extra: JSONDict,
) -> JSONDict:
    """Fill `issue` and `label`/`comment`; return the sender GitHub would name."""
    data["issue"] = issue.json(repo.full_name, world.api)
    if event == "issue_comment":
        wanted = extra.pop("comment", None)
        wanted_id = wanted.get("id") if isinstance(wanted, dict) else wanted
        comments = [c for c in issue.comments if wanted_id in (None, c.id)]
        if not comments:
            raise ValueError(f"{repo.full_name}#{issue.number} has no comment {wanted_id}")
        data["comment"] = comments[-1].json(world.api)
        return comments[-1].user
    if action in ("labeled", "unlabeled"):
        name = extra.pop("label", None)
        found = _last_event(issue, action, name)
        key = name or (found.label.name if found and found.label else None)
        label = repo.labels.get(str(key).lower()) if key else None
        if label is None:
            raise ValueError(f"pass label=<name> for an issues.{action} payload")
        data["label"] = label.json(repo.full_name, world.api)
        return found.actor if found else issue.user
    if action in ("closed", "reopened"):
        found = _last_event(issue, action, None)
        return found.actor if found else issue.user
    return issue.user


def _last_event(issue: Issue, kind: str, label: str | None) -> Event | None:
    for event in reversed(issue.events):
        if event.event != kind:
            continue
        if label is None or (event.label and event.label.name.lower() == label.lower()):
            return event
    return None


def _installation_part(world: GitHubWorld, event: str, action: str, repo: Repo) -> JSONDict:
    if event == "installation":
        mine = [r for r in world._repos.values() if r.installation_id == repo.installation_id]
        return {"repositories": [r.mini() for r in mine], "requester": None}
    return {
        "repository_selection": "selected",
        "repositories_added": [repo.mini()] if action == "added" else [],
        "repositories_removed": [repo.mini()] if action == "removed" else [],
        "requester": None,
    }
