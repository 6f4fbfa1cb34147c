"""A customer's status meeting as data: what is open now, what happened since the last
meeting, the incidents, the SLA per target and priority, the trend and every breach."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from app.reports import report
from app.reports.names import BUILT_IN, Names, names_of
from app.sla.clock import Clock, ClockKind
from app.sla.customers import Account
from app.sla.domain import Priority
from app.sla.outcome import Verdict, verdict
from app.sla.policy import Policy
from app.store.issues import IssueRecord

LIVE = ("running", "paused", "breached")
GONE = ("replaced", "dropped")  # history of a relabel, not a target of their own
TARGET_NAMES = {str(kind): name for kind, name in report.TARGETS.items()}
UNASSIGNED = Account("", "No customer (no customer's repository or label)", ())


@dataclass(frozen=True)
class Request:
    """One issue and its clocks, as the meeting sees it."""

    repo: str
    number: int
    title: str
    url: str
    priority: str
    request_type: str
    state: str  # open, closed, deleted, transferred
    opened_at: datetime
    closed_at: datetime | None
    who: str | None  # assignees, else whoever answered or acknowledged
    clocks: tuple[Clock, ...]

    @property
    def ref(self) -> str:
        return f"{self.repo}#{self.number}"


@dataclass(frozen=True)
class OpenItem:
    request: Request
    next_due: Clock | None  # the soonest due running or breached clock
    paused: bool  # a clock waits on the customer


@dataclass(frozen=True)
class Incident:
    request: Request
    paged_at: datetime
    acked_at: datetime | None
    acked_by: str | None
    resolved_at: datetime | None
    postmortem: Clock | None


@dataclass(frozen=True)
class Week:
    label: str  # ISO week, 2026-W49
    priority: str
    met: int
    decided: int


@dataclass
class Meeting:
    account: Account
    since: datetime
    now: datetime
    tz: ZoneInfo
    requests: list[Request]
    open: list[OpenItem] = field(default_factory=list)
    opened: list[Request] = field(default_factory=list)
    answered: list[Request] = field(default_factory=list)
    resolved: list[Request] = field(default_factory=list)
    breached: list[Request] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    targets: list[report.Row] = field(default_factory=list)
    weeks: list[Week] = field(default_factory=list)
    breaches: list[tuple[Request, Clock]] = field(default_factory=list)
    first_responses: list[Clock] = field(default_factory=list)  # latest per request
    names: Names = BUILT_IN  # the policy's names for priorities and types

    @property
    def days(self) -> int:
        return round((self.now - self.since) / timedelta(days=1))


def build(
    account: Account,
    clocks: Iterable[Clock],
    records: Mapping[tuple[str, int], IssueRecord],
    since: datetime,
    now: datetime,
    tz: ZoneInfo,
    names: Names = BUILT_IN,
) -> Meeting:
    """The meeting of `account` over [since, now] from its requests' clocks and issues."""
    by_issue: dict[tuple[str, int], list[Clock]] = defaultdict(list)
    for clock in sorted(clocks, key=lambda c: (c.started_at, c.id)):
        by_issue[(clock.repo, clock.issue_number)].append(clock)
    requests = [request(items, records.get(key), now) for key, items in by_issue.items()]
    requests.sort(key=lambda r: (r.opened_at, r.repo, r.number))
    meeting = Meeting(account, since, now, tz, requests, names=names)
    meeting.open = sorted((open_item(r) for r in requests if r.state == "open"), key=_by_due)
    meeting.opened = [r for r in requests if r.opened_at >= since]
    meeting.answered = [r for r in requests if _answered_since(r, since)]
    meeting.resolved = [r for r in requests if r.closed_at is not None and r.closed_at >= since]
    meeting.breaches = sorted(
        ((r, c) for r in requests for c in r.clocks if _breached_since(c, since, now)),
        key=lambda pair: (pair[1].due_at, pair[0].ref),
    )
    breached = {id(r) for r, _ in meeting.breaches}
    meeting.breached = [r for r in requests if id(r) in breached]
    meeting.incidents = incidents(requests, since)
    started = [c for r in requests for c in r.clocks if c.started_at >= since]
    meeting.first_responses = report_latest(started)
    meeting.targets = targets(started, meeting.first_responses, now, names)
    meeting.weeks = weeks(meeting.first_responses, now, tz, names)
    return meeting


def request(clocks: list[Clock], record: IssueRecord | None, now: datetime) -> Request:
    first = clocks[0]
    responses = [c for c in clocks if c.kind == ClockKind.RESPONSE] or clocks
    latest = responses[-1]
    live = any(c.state in LIVE for c in clocks)
    if record is not None:
        state, closed_at = record.state, record.closed_at
        who = ", ".join(record.assignees) or None
    else:  # an issue no delivery showed since the upgrade: its clocks tell what they can
        state, closed_at, who = ("open" if live else "closed"), _closed_at(clocks), None
    answered = [c for c in responses if c.met_at is not None and c.responder]
    who = who or (answered[-1].responder if answered else None)
    return Request(
        repo=first.repo,
        number=first.issue_number,
        title=first.issue_title or (record.title if record else ""),
        url=first.issue_url or (record.url if record else ""),
        priority=latest.priority,
        request_type=latest.request_type,
        state=state,
        opened_at=first.started_at,
        closed_at=closed_at if state != "open" else None,
        who=who,
        clocks=tuple(clocks),
    )


def _closed_at(clocks: list[Clock]) -> datetime | None:
    ends = [
        c.ended_at
        for c in clocks
        if c.ended_at is not None and (c.ended_by or "").startswith(("closed", "resolved"))
    ]
    return max(ends) if ends else None


def open_item(found: Request) -> OpenItem:
    owed = [c for c in found.clocks if c.state in ("running", "breached")]
    return OpenItem(
        request=found,
        next_due=min(owed, key=lambda c: c.due_at) if owed else None,
        paused=any(c.state == "paused" for c in found.clocks),
    )


def _by_due(item: OpenItem) -> tuple[int, datetime, str]:
    """Due first; then what waits on the customer; then what owes nothing."""
    if item.next_due is not None:
        return (0, item.next_due.due_at, item.request.ref)
    return (1 if item.paused else 2, item.request.opened_at, item.request.ref)


def _answered_since(found: Request, since: datetime) -> bool:
    return any(
        c.kind == ClockKind.RESPONSE and c.met_at is not None and c.met_at >= since
        for c in found.clocks
    )


def _breached_since(clock: Clock, since: datetime, now: datetime) -> bool:
    """A breach of any kind whose due time fell in the period (a relabel's history counts
    only when it was alerted)."""
    if clock.state in GONE and clock.breached_at is None:
        return False
    return clock.due_at >= since and verdict(clock, now) is Verdict.BREACHED


def incidents(requests: list[Request], since: datetime) -> list[Incident]:
    found = []
    for item in requests:
        for clock in item.clocks:
            if clock.paged_at is None:
                continue
            ended = clock.page_ended_at
            if clock.paged_at < since and ended is not None and ended < since:
                continue  # over before the period began
            paged = clock.paged_at
            later = [c for c in item.clocks if c.kind == "postmortem" and c.started_at >= paged]
            found.append(
                Incident(
                    request=item,
                    paged_at=clock.paged_at,
                    acked_at=clock.acked_at,
                    acked_by=clock.responder if clock.acked_at is not None else None,
                    resolved_at=clock.page_ended_at,
                    postmortem=later[0] if later else None,
                )
            )
    return sorted(found, key=lambda i: i.paged_at)


def report_latest(clocks: Iterable[Clock]) -> list[Clock]:
    """A request counts once, under its latest first-response clock (as in `report`)."""
    found: dict[tuple[str, int], Clock] = {}
    for clock in sorted(clocks, key=lambda c: (c.started_at, c.id)):
        if clock.kind == ClockKind.RESPONSE:
            found[(clock.repo, clock.issue_number)] = clock
    return [c for c in found.values() if c.state != "dropped"]


def targets(
    started: list[Clock], first: list[Clock], now: datetime, names: Names = BUILT_IN
) -> list[report.Row]:
    """One row per target and priority that had clocks in the period; then one per target."""
    by_kind: dict[str, list[Clock]] = {str(ClockKind.RESPONSE): first}
    for clock in started:
        if clock.kind != ClockKind.RESPONSE and clock.state not in GONE:
            by_kind.setdefault(clock.kind, []).append(clock)
    rows = []
    for kind in TARGET_NAMES:
        items = by_kind.get(kind, [])
        for priority in names.priority_order(c.priority for c in items):
            mine = [c for c in items if c.priority == priority]
            title = f"{TARGET_NAMES[kind]} · {names.priority(priority)}"
            if mine:
                row = report.row("target", f"{TARGET_NAMES[kind]} · {priority}", mine, now, title)
                rows.append(row)
        if items:
            rows.append(report.row("all", f"{TARGET_NAMES[kind]} · all", items, now))
    return rows


def weeks(first: list[Clock], now: datetime, tz: ZoneInfo, names: Names = BUILT_IN) -> list[Week]:
    """First responses met per ISO week and priority, of those decided (met or breached)."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for clock in first:
        year, number, _ = clock.started_at.astimezone(tz).isocalendar()
        counts[(f"{year}-W{number:02d}", clock.priority)][report.outcome(clock, now)] += 1
    found = []
    order = names.priority_order(priority for _, priority in counts)
    ranked = sorted(counts.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1])))
    for (week, priority), tally in ranked:
        decided = tally[report.MET] + tally[report.BREACHED]
        if decided:
            found.append(Week(week, priority, tally[report.MET], decided))
    return found


def counted(clock: Clock, policy: Policy, now: datetime) -> int | None:
    """Seconds the clock counted against its target (paused time left out): to its answer,
    its end, or now."""
    if clock.response_seconds is not None:
        return clock.response_seconds
    try:
        measure = policy.measure(clock.kind_enum, Priority(clock.priority))
    except (KeyError, ValueError):
        return None
    end = clock.paused_at or clock.ended_at or now
    span = measure(clock.started_at, end) - timedelta(seconds=clock.paused_seconds)
    return max(int(span.total_seconds()), 0)


class UnknownCustomer(LookupError):
    """`--customer` or /board/<customer> names no customer; `known` lists those that exist."""

    def __init__(self, key: str, known: list[str]) -> None:
        self.key, self.known = key, known
        super().__init__(key)


def from_store(
    conn: Connection, policy: Policy, since: datetime, now: datetime, customer: str | None = None
) -> list[Meeting]:
    """The meetings of every customer (or of `customer`), read in one transaction; when the
    policy names customers, requests none of them claims come last, under no customer."""
    from app.sla.customers import accounts, assign
    from app.store import issues

    clocks = issues.meeting_clocks(conn, since)
    records = issues.records(conn, {(c.repo, c.issue_number) for c in clocks})
    labels = {key: record.labels for key, record in records.items()}
    groups = assign(clocks, labels, policy.customers)
    found = accounts(policy.customers, {c.repo for c in clocks})
    if customer is not None:
        chosen = [a for a in found if a.key == customer]
        if not chosen and not policy.customers and "/" in customer:
            chosen = accounts({}, [customer])  # a repository with nothing in this period
        if not chosen:
            raise UnknownCustomer(customer, [a.key for a in found])
        found = chosen
    elif policy.customers and groups.get(None):
        found.append(UNASSIGNED)
    names = names_of(policy)
    return [
        build(a, groups.get(a.key or None, []), records, since, now, policy.tz, names)
        for a in found
    ]
