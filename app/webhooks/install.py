"""Install: every repository the App is given gets the labels it needs and is tracked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event
from sqlalchemy import Connection

from app.sla import keys
from app.sla.issue import MalformedPayload
from app.sla.policy import Policy
from app.store import clocks, effects, jobs, repos
from app.store.effects import IssueRef
from app.store.jobs import JobKind
from app.webhooks.context import Context

router = Router()


def label_specs(policy: Policy) -> list[tuple[str, str, str]]:
    """Every label the policy names: priorities, types, breached, paused and post-mortem."""
    specs = [(p.label, p.color, p.description) for p in policy.priorities.values()]
    specs += [(t.label, t.color, t.description) for t in policy.types.values()]
    for spec in (
        policy.breached,
        policy.pause_label,
        policy.postmortem.due,
        policy.postmortem.done,
    ):
        specs.append((spec.label, spec.color, spec.description))
    return specs


def _names(items: Iterable[Mapping[str, Any]] | None) -> list[str]:
    try:
        return [str(item["full_name"]) for item in items or ()]
    except (KeyError, TypeError) as exc:
        raise MalformedPayload(f"repositories: missing or malformed field {exc}") from None


@router.register("installation", action="created")
@router.register("installation", action="unsuspend")
async def on_installed(event: Event, ctx: Context) -> None:
    await _prepare(_names(event.data.get("repositories")), ctx)


@router.register("installation_repositories", action="added")
async def on_repos_added(event: Event, ctx: Context) -> None:
    await _prepare(_names(event.data.get("repositories_added")), ctx)


@router.register("installation_repositories", action="removed")
async def on_repos_removed(event: Event, ctx: Context) -> None:
    names = _names(event.data.get("repositories_removed"))
    ctx.write(_remove, names, ctx)


@router.register("installation", action="deleted")
@router.register("installation", action="suspend")
async def on_uninstalled(event: Event, ctx: Context) -> None:
    if ctx.installation_id is not None:
        ctx.write(_uninstall, ctx.installation_id, ctx)


def _uninstall(conn: Connection, installation_id: int, ctx: Context) -> None:
    """No alerts for repositories sla-bot can no longer act on."""
    names = [repo for repo, holder in repos.active(conn) if holder == installation_id]
    _remove(conn, names, ctx)


async def _prepare(names: list[str], ctx: Context) -> None:
    if ctx.installation_id is None:
        raise MalformedPayload("installation: missing id")
    for repo in names:
        policy = await ctx.policy(repo)
        ctx.write(_track, repo, label_specs(policy), ctx)
        # Read while the repository was not tracked yet (no policy version): read again on
        # next use, under the version it gets, so that pushes decide from then on.
        ctx.policies.forget(repo)


def _track(conn: Connection, repo: str, specs: list[tuple[str, str, str]], ctx: Context) -> None:
    assert ctx.installation_id is not None
    repos.add(conn, repo, ctx.installation_id, ctx.now)
    ref = IssueRef(ctx.installation_id, repo)
    key = keys.key("install", repo, ctx.delivery_id)
    effects.ensure_labels(conn, ref, key=keys.key(key, "labels"), labels=specs, now=ctx.now)
    # Open issues from before the install get their clocks (enforce_from keeps old ones out).
    jobs.reconcile(
        conn, ctx.installation_id, repo, key=keys.key(key, JobKind.RECONCILE), now=ctx.now
    )


def _remove(conn: Connection, names: list[str], ctx: Context) -> None:
    for repo in names:
        repos.remove(conn, repo)
        clocks.stop_repo(conn, repo, ctx.now)


@router.register("repository", action="renamed")
@router.register("repository", action="transferred")
async def on_repository_moved(event: Event, ctx: Context) -> None:
    """Clocks are kept by the repository's name: a rename or a transfer moves them along, so
    a response on the renamed repository still meets its clock."""
    try:
        repository, changes = event.data["repository"], event.data.get("changes") or {}
        new, name = str(repository["full_name"]), str(repository["name"])
        if event.data.get("action") == "renamed":
            old = f"{new.partition('/')[0]}/{changes['repository']['name']['from']}"
        else:
            before = changes["owner"]["from"]
            account = (before.get("organization") or before.get("user") or {})["login"]
            old = f"{account}/{name}"
    except (KeyError, TypeError) as exc:
        raise MalformedPayload(f"repository: missing or malformed field {exc}") from None
    if old != new:
        ctx.write(repos.rename, old, new)
        ctx.policies.forget(old)
