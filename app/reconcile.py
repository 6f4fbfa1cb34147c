"""Reconciliation: make the store agree with GitHub's record for every open issue of a repo."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app import tracking
from app.github.app import GitHubApp
from app.github.client import GitHubClient
from app.issue import issue_from
from app.policies import PolicyLoader
from app.sla.clock import ClockEvent
from app.sla.policy import Policy
from app.sla.rebuild import Expected, expected_clock
from app.store import clocks, http_cache
from app.store.database import Database

log = logging.getLogger(__name__)
# Start times within this of each other are the same clock (label events vs. payload times).
SAME_START_SECONDS = 120


async def _open_issues(gh: GitHubClient, repo: str) -> list[dict[str, Any]]:
    owner, _, name = repo.partition("/")
    url = "/repos/{owner}/{name}/issues{?state,per_page}"
    found = []
    async for item in gh.getiter(
        url, url_vars={"owner": owner, "name": name, "state": "open", "per_page": "100"}
    ):
        if "pull_request" not in item:  # the issues list includes pull requests
            found.append(item)
    return found


async def _history(gh: GitHubClient, repo: str, number: int, what: str) -> list[dict[str, Any]]:
    owner, _, name = repo.partition("/")
    url = "/repos/{owner}/{name}/issues/{number}/" + what + "{?per_page}"
    variables = {"owner": owner, "name": name, "number": str(number), "per_page": "100"}
    return [item async for item in gh.getiter(url, url_vars=variables)]


class Reconciler:
    """Rebuilds clocks from issue events and comments; conditional GETs keep repeats cheap."""

    def __init__(self, *, db: Database, github: GitHubApp, policies: PolicyLoader) -> None:
        self._db = db
        self._github = github
        self._policies = policies

    async def repo(self, installation_id: int, repo: str, now: datetime) -> Counter[str]:
        policy = await self._policies.get(installation_id, repo)

        async def gather(gh: GitHubClient) -> list[tuple[dict[str, Any], Expected | None]]:
            rows = []
            for issue in await _open_issues(gh, repo):
                events = await _history(gh, repo, issue["number"], "events")
                comments = await _history(gh, repo, issue["number"], "comments")
                rows.append((issue, expected_clock(issue, events, comments, policy)))
            return rows

        prefix = f"{self._github.base_url}/repos/{repo}/"
        cache = await self._db.run(http_cache.load, prefix)
        before = dict(cache)
        rows = await self._github.call(installation_id, gather, cache=cache)
        changed = {url: entry for url, entry in cache.items() if before.get(url) != entry}
        await self._db.run(http_cache.save, changed)
        changes: Counter[str] = Counter()
        for issue, expected in rows:
            outcome = await self._db.run(
                _fix, {"issue": issue, "repository": {"full_name": repo}}, expected, policy,
                installation_id, now,
            )  # fmt: skip
            changes[outcome] += 1
        log.info("reconciled", extra={"repo": repo, "changes": dict(changes)})
        return changes


def _fix(
    conn: Connection,
    payload: Mapping[str, Any],
    expected: Expected | None,
    policy: Policy,
    installation_id: int,
    now: datetime,
) -> str:
    """Apply the difference between GitHub and the store for one issue; returns what changed."""
    issue = issue_from(payload)
    live = clocks.live(conn, issue.repo, issue.number)
    if expected is None:
        if live is None:
            return "unchanged"
        tracking.apply(conn, live, ClockEvent.UNLABEL, policy=policy, at=now, now=now)
        return "dropped"
    same = (
        live is not None
        and live.priority == expected.priority
        and abs((live.started_at - expected.started_at).total_seconds()) <= SAME_START_SECONDS
    )
    if live is not None and not same:
        tracking.apply(conn, live, ClockEvent.RELABEL, policy=policy, at=expected.started_at,
                       now=now)  # fmt: skip
        live = None
    outcome = "unchanged"
    if live is None:
        if _already_done(conn, issue.repo, issue.number, expected):
            return "unchanged"
        clock_id = tracking.start_clock(
            conn, policy=policy, issue=issue, installation_id=installation_id,
            priority=expected.priority,
            started_at=expected.started_at, now=now,
            announce=expected.responded_at is None
            and policy.due_at(expected.priority, expected.started_at) > now,
        )  # fmt: skip
        if clock_id is None:
            return "not enforced"
        live, outcome = clocks.get(conn, clock_id), "created"
    if (
        expected.responded_at is not None
        and live is not None
        and tracking.apply(
            conn, live, ClockEvent.RESPOND, policy=policy, at=expected.responded_at, now=now,
            responder=expected.responder,
        )
    ):  # fmt: skip
        outcome = "created" if outcome == "created" else "met"
    return outcome


def _already_done(conn: Connection, repo: str, number: int, expected: Expected) -> bool:
    """A finished clock for the same priority and start: the store already knew."""
    return any(
        c.priority == expected.priority
        and abs((c.started_at - expected.started_at).total_seconds()) <= SAME_START_SECONDS
        for c in clocks.history(conn, repo, number)
    )
