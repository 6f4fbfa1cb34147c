"""Reconciliation: add to the store what GitHub shows and the store lacks, conservatively.

GitHub is the source of truth for what happened; the store is the record of what sla-bot did.
A reconcile never rewrites that record: a clock that is met, breached or stopped stays so, an
old page is never sent again, and a repeat on an unchanged repository changes nothing (and,
its reads being conditional, costs no rate limit).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gidgethub import BadRequest, RedirectionException
from sqlalchemy import Connection

from app.github.app import GitHubApp
from app.github.client import GitHubClient
from app.github.policies import PolicyLoader
from app.sla import keys, rules
from app.sla.clock import Clock, ClockState
from app.sla.issue import Issue, issue_from, parse_time
from app.sla.policy import Policy
from app.sla.rebuild import Expected, expected_clock
from app.sla.triage import decide
from app.store import clocks, effects, http_cache, outbox, tracking
from app.store.database import Database
from app.store.effects import IssueRef
from app.store.jobs import Job, Run

log = logging.getLogger(__name__)
# Times within this of each other are the same moment (label events vs. payload times).
SAME_TIME = timedelta(seconds=120)


@dataclass(frozen=True)
class Gone:
    """A tracked issue GitHub no longer lists as open: closed, moved elsewhere, or deleted."""

    number: int
    why: str  # "closed", "moved" or "deleted"
    at: datetime | None


async def _open_issues(gh: GitHubClient, repo: str) -> list[dict[str, Any]]:
    account, _, name = repo.partition("/")
    url = "/repos/{owner}/{name}/issues{?state,per_page}"
    found = []
    async for item in gh.getiter(
        url, url_vars={"owner": account, "name": name, "state": "open", "per_page": "100"}
    ):
        if "pull_request" not in item:  # the issues list includes pull requests
            found.append(item)
    return found


async def _history(gh: GitHubClient, repo: str, number: int, what: str) -> list[dict[str, Any]]:
    account, _, name = repo.partition("/")
    url = "/repos/{owner}/{name}/issues/{number}/" + what + "{?per_page}"
    variables = {"owner": account, "name": name, "number": str(number), "per_page": "100"}
    return [item async for item in gh.getiter(url, url_vars=variables)]


async def _gone(gh: GitHubClient, repo: str, number: int) -> Gone:
    account, _, name = repo.partition("/")
    url = "/repos/{owner}/{name}/issues/{number}"
    try:
        data = await gh.getitem(
            url, url_vars={"owner": account, "name": name, "number": str(number)}
        )
    except RedirectionException:  # transferred: GitHub points to its new home
        return Gone(number, "moved", None)
    except BadRequest as exc:
        if exc.status_code in (404, 410):  # deleted (410), or no longer visible to the App
            return Gone(number, "deleted", None)
        raise
    closed = data.get("closed_at")
    return Gone(number, "closed", parse_time(closed) if closed else None)


class Reconciler:
    """Rebuilds clocks from issue events and comments; conditional GETs keep repeats cheap."""

    def __init__(self, *, db: Database, github: GitHubApp, policies: PolicyLoader) -> None:
        self._db = db
        self._github = github
        self._policies = policies

    async def repo(self, installation_id: int, repo: str, now: datetime) -> Counter[str]:
        policy = await self._policies.get(installation_id, repo)
        tracked = await self._db.run(clocks.live_numbers, repo, None)

        async def gather(
            gh: GitHubClient,
        ) -> tuple[list[tuple[dict[str, Any], Expected | None, bool]], list[Gone]]:
            rows = []
            issues = await _open_issues(gh, repo)
            for issue in issues:
                events = await _history(gh, repo, issue["number"], "events")
                comments = await _history(gh, repo, issue["number"], "comments")
                expected = expected_clock(issue, events, comments, policy)
                rows.append((issue, expected, _priority_touched(events, policy)))
            still_open = {int(issue["number"]) for issue in issues}
            gone = [await _gone(gh, repo, n) for n in sorted(tracked - still_open)]
            return rows, gone

        prefix = f"{self._github.base_url}/repos/{repo}/"
        cache = await self._db.run(http_cache.load, prefix)
        before = dict(cache)
        rows, gone = await self._github.call(installation_id, gather, cache=cache)
        changed = {url: entry for url, entry in cache.items() if before.get(url) != entry}
        await self._db.run(http_cache.save, changed)
        changes: Counter[str] = Counter()
        for issue, expected, touched in rows:
            outcome = await self._db.run(
                _fix,
                {"issue": issue, "repository": {"full_name": repo}},
                expected,
                policy,
                installation_id,
                now,
                touched,
            )
            changes[outcome] += 1
        for missing in gone:
            changes[await self._db.run(_end, repo, missing, policy, now)] += 1
        log.info("reconciled", extra={"repo": repo, "changes": dict(changes)})
        return changes


def _end(conn: Connection, repo: str, gone: Gone, policy: Policy, now: datetime) -> str:
    """End the clocks of an issue that is no longer open here, as its lost close (or
    transfer, or deletion) would have: every live clock of every kind (rule 4)."""
    case = tracking.case_of(conn, repo, gone.number, is_open=False)
    if not case.clocks:
        return "unchanged"
    closed = rules.Closed(
        gone.at or now,
        "completed",
        "(seen by reconcile)" if gone.why == "closed" else None,
        gone=gone.why != "closed",
    )
    subject = tracking.Subject.of_clock(case.clocks[-1])
    changed = tracking.handle(conn, subject, closed, policy, now, case=case)
    return gone.why if changed else "unchanged"


def _fix(
    conn: Connection,
    payload: Mapping[str, Any],
    expected: Expected | None,
    policy: Policy,
    installation_id: int,
    now: datetime,
    touched: bool = True,
) -> str:
    """Apply what GitHub shows and the store lacks for one open issue; returns what changed.
    `touched`: a priority label the policy names was ever put on or taken off it."""
    issue = issue_from(payload)
    subject = tracking.Subject.of(issue, installation_id)
    live = clocks.live(conn, issue.repo, issue.number)
    if expected is None:  # no priority label on GitHub: tracking stops
        if live is None and not touched and not clocks.history(conn, issue.repo, issue.number):
            return _backfill(conn, issue, policy, installation_id, now)
        if not touched or (live is not None and _labels_on_the_way(conn, issue)):
            # No label of the policy's was ever taken off: its labels were renamed (clocks
            # are kept by priority, rule 9), or the app's own label is still on its way.
            return "unchanged"
        event = rules.Prioritized(now, None, None, quiet=True)
        return "dropped" if tracking.handle(conn, subject, event, policy, now) else "unchanged"
    outcome = "unchanged"
    if live is not None and live.priority != expected.priority:  # a relabel the store missed
        event = rules.Prioritized(expected.started_at, expected.priority, None, quiet=True)
        tracking.handle(conn, subject, event, policy, now)
        live, outcome = clocks.live(conn, issue.repo, issue.number), "relabeled"
    if live is None:
        start = missing_start(clocks.history(conn, issue.repo, issue.number), expected)
        if start is None:
            return outcome  # the store's record stands
        response = expected.response_since(start)
        found = rules.Found(
            start,
            expected.priority,
            None,
            announce=response is None and policy.due_at(expected.priority, start) > now,
        )
        tracking.handle(conn, subject, found, policy, now)
        live = clocks.live(conn, issue.repo, issue.number)
        if live is None:
            return "not enforced"
        outcome = "created" if outcome == "unchanged" else outcome
    response = expected.response_since(live.started_at)
    if response is not None and tracking.handle(
        conn, subject, rules.Commented(response[0], response[1], responder=True), policy, now
    ):
        outcome = "met" if outcome == "unchanged" else outcome
    return outcome


def _backfill(
    conn: Connection, issue: Issue, policy: Policy, installation_id: int, now: datetime
) -> str:
    """An open issue the app never saw and nobody prioritised (from before the install, or
    a delivery lost): labeled as intake would, its clock started now (when its priority
    label is put on), quietly. No intake comment and no page: a backfill of old issues must
    not become a storm of comments and alerts (the labels are paced like any write)."""
    decision = decide(issue, policy)
    if not decision.labels_to_add:
        return "unchanged"
    ref = IssueRef(installation_id, issue.repo, issue.number)
    key = keys.key("reconcile", "labels", keys.issue(issue.repo, issue.number))
    effects.add_labels(conn, ref, key=key, labels=decision.labels_to_add, now=now)
    found = rules.Found(now, decision.priority, str(decision.request_type))
    tracking.handle(conn, tracking.Subject.of(issue, installation_id), found, policy, now)
    return "labeled"


def _labels_on_the_way(conn: Connection, issue: Issue) -> bool:
    """The app's intake or backfill labels for the issue are queued and not sent yet."""
    where = keys.issue(issue.repo, issue.number)
    for key in (keys.key("intake", "labels", where), keys.key("reconcile", "labels", where)):
        queued = outbox.by_key(conn, key)
        if queued is not None and queued.status == outbox.PENDING:
            return True
    return False


def _priority_touched(events: list[dict[str, Any]], policy: Policy) -> bool:
    """A priority label was ever added to or removed from the issue."""
    names = [
        event["label"].get("name")
        for event in events
        if event.get("event") in ("labeled", "unlabeled") and isinstance(event.get("label"), dict)
    ]
    return any(isinstance(n, str) and policy.priority_for_label(n) is not None for n in names)


def missing_start(past: list[Clock], expected: Expected) -> datetime | None:
    """The start of a clock GitHub shows and the store lacks (none live), or None when the
    store's last clock already accounts for what GitHub shows."""
    if not past:
        return expected.started_at
    latest = past[-1]
    ended = latest.ended_at or latest.met_at or latest.started_at
    if latest.state == ClockState.STOPPED and expected.reopened_at is not None:
        # Closed, then reopened: a request nobody had answered gets a new clock.
        answered = any(c.state == ClockState.MET for c in past)
        return (
            None if answered or expected.reopened_at < ended - SAME_TIME else (expected.reopened_at)
        )
    if latest.priority != expected.priority or latest.state == ClockState.DROPPED:
        # Relabeled (or labeled again) after the store's last clock ended.
        return expected.started_at if expected.started_at >= ended - SAME_TIME else None
    return None  # the same priority, met or stopped: that record stands


def run(reconciler: Reconciler, time: Callable[[], datetime]) -> Run:
    """The reconcile planned for a repository (after install, periodically), run by the job
    runner: its job row makes it once per key, whichever replica runs it."""

    async def reconcile(job: Job) -> dict[str, Any]:
        if job.installation_id is None or job.repo is None:
            raise ValueError("a reconcile job without installation or repository")
        return dict(await reconciler.repo(job.installation_id, job.repo, time()))

    return reconcile
