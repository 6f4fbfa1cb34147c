"""The decision core's vocabulary (pure data): the events an issue lives through, the
changes a decision makes (clocks to open, move or mark, and what each owes), and the case,
what the core knows of one issue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from app.sla import keys
from app.sla.clock import Clock, ClockKind, ClockState
from app.sla.domain import Priority

K, S = ClockKind, ClockState


@dataclass(frozen=True)
class Opened:
    """Intake: the issue's first-response clock starts at its creation (if it never had one)."""

    at: datetime
    priority: Priority
    request_type: str
    by: str


@dataclass(frozen=True)
class Prioritized:
    """A label event: `priority` is the highest priority label on the issue now (None: none)."""

    at: datetime
    priority: Priority | None
    request_type: str | None  # the type label; None: what the issue's clocks recorded
    by: str = "label"
    intake: bool = False  # on within the intake window of a new issue: counts from creation
    created_at: datetime | None = None
    quiet: bool = False  # found late by reconcile: nobody is paged for old news


@dataclass(frozen=True)
class Called:
    """A call to the escalation number: the request is opened at the call, before its GitHub
    issue exists (the issue follows and carries this clock), as `priority`."""

    at: datetime
    caller: str  # masked: the page and the clock's history show it
    priority: Priority = Priority.PRODUCTION_DOWN
    request_type: str = "problem"


@dataclass(frozen=True)
class Found:
    """Reconcile found a first-response clock GitHub shows and the store lacks: started
    then, quietly unless `announce` (nobody is paged for old news)."""

    at: datetime
    priority: Priority
    request_type: str | None
    by: str | None = None
    announce: bool = False


@dataclass(frozen=True)
class Commented:
    at: datetime  # the comment's created_at, not when it reached us
    author: str
    responder: bool
    postmortem: bool = False  # names the post-mortem with a link
    link: str | None = None  # that link


@dataclass(frozen=True)
class Paused:
    at: datetime
    on: bool  # the pause label put on (True) or taken off
    by: str


@dataclass(frozen=True)
class Closed:
    at: datetime
    reason: str = "completed"  # GitHub's state_reason
    closer: str | None = None  # a person; None for a transfer or deletion
    gone: bool = False  # transferred away, deleted, or no longer found: silent


@dataclass(frozen=True)
class Reopened:
    at: datetime
    priority: Priority | None
    request_type: str | None  # the type label; None: what the issue's clocks recorded


@dataclass(frozen=True)
class PostmortemDone:
    at: datetime


@dataclass(frozen=True)
class Acknowledged:
    at: datetime
    who: str
    page: int  # the episode's clock id


@dataclass(frozen=True)
class Resolved:
    at: datetime
    who: str
    page: int
    person: bool = True  # False: PagerDuty resolved it by itself (auto-resolve, merge, echo)


@dataclass(frozen=True)
class Due:
    """The sweep at `now` found `clock` due: past its due time (expire), its warning time
    (warn), or its escalation time (escalate)."""

    now: datetime
    clock: int
    what: str  # "expire" | "warn" | "escalate"


Event = (
    Opened
    | Called
    | Found
    | Prioritized
    | Commented
    | Paused
    | Closed
    | Reopened
    | PostmortemDone
    | Acknowledged
    | Resolved
    | Due
)


class Owed(StrEnum):
    """What a change owes the outside world; the store writes each to the outbox once."""

    PAGE = "page"  # the Slack page with its buttons
    TRIGGER = "pagerduty-trigger"
    PD_ACKNOWLEDGE = "pagerduty-acknowledge"
    PD_RESOLVE = "pagerduty-resolve"
    ANNOUNCE = "announce"
    BREACH = "alert-breach"  # the alert of the clock's kind, in the issue's thread
    LABEL_BREACHED = "label-breached"
    WARNING = "warning"
    LATE_REPLY = "reply-in-thread"  # a late first response, in its breach alert's thread
    TELL = "tell"  # the intake comment shows the customer where things stand
    ACK_COMMENT = "ack-comment"  # the customer: who is on it
    RESOLVED_COMMENT = "resolved-comment"  # the customer: it is resolved
    CLOSE_ISSUE = "close-issue"
    PAGE_STATUS = "page-status"  # the page edited in place: who, what, and the buttons left
    RESOLVED_IN_THREAD = "resolved-in-thread"
    POSTMORTEM = "postmortem"  # the `postmortem: due` label and the checklist comment
    UNPAUSE = "unpause"  # the pause label taken off (the customer answered)
    ESCALATE = "escalate"


# What the page shows once its episode moves on (PAGE_STATUS's `note`).
ACKNOWLEDGED, ANSWERED, RESOLVED, MOVED = "ack", "answered", "resolve", "moved"
ALERTS = frozenset({Owed.PAGE, Owed.ANNOUNCE, Owed.BREACH, Owed.WARNING, Owed.ESCALATE})


@dataclass(frozen=True)
class Owe:
    what: Owed
    clock: int  # an id, or a new clock's ref (negative) in the same changes
    at: datetime
    who: str | None = None
    note: str = ""

    @property
    def key(self) -> str:
        """The same decision made twice (a retry, another replica) owes it once. Built from
        the parts the store's outbox keys for it are built from (app.sla.keys), so the core
        and the store count an owe alike (tests/store/test_keys.py)."""
        if self.what is Owed.UNPAUSE:  # the issue's pause label, whichever clock owed it
            return keys.key(self.what, self.at.isoformat())
        if self.what is Owed.TELL:
            return keys.key(self.what, self.clock, self.at.isoformat())
        if self.what is Owed.PAGE_STATUS:  # once per status the page shows
            return keys.key(self.what, self.clock, self.note)
        return keys.key(self.what, self.clock)


@dataclass(frozen=True)
class Start:
    """A new clock; `ref` (negative) names it in the changes until the store gives its id."""

    ref: int
    kind: ClockKind
    priority: Priority
    request_type: str
    started_at: datetime
    due_at: datetime
    warn_at: datetime | None
    started_by: str | None
    paged_at: datetime | None = None
    escalate_at: datetime | None = None
    only_if_new: bool = False  # stored only if the issue never had a clock of this kind


@dataclass(frozen=True)
class Move:
    """A transition of the table, stored only if the clock is still in `clock.state`."""

    clock: Clock
    state: ClockState
    values: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Mark:
    """Columns set on a clock only if `unless` is still unset, or `if_set` still set, and the
    clock is still in `state` when given: two replicas marking it make one winner."""

    clock: int
    values: dict[str, object]
    unless: str | None = None
    if_set: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class Step:
    """One change and what it owes: if the store refuses the change (another replica made
    it first), it owes nothing."""

    change: Start | Move | Mark | None
    owed: tuple[Owe, ...] = ()


@dataclass(frozen=True)
class Case:
    """What the core knows of one issue: every clock it had (oldest first) and its state."""

    clocks: tuple[Clock, ...] = ()
    is_open: bool = True
    pause_label_on: bool = False

    def live(self, kind: ClockKind) -> Clock | None:
        return next((c for c in self.clocks if c.kind == kind and c.live), None)

    def responses(self) -> list[Clock]:
        return [c for c in self.clocks if c.kind == K.RESPONSE]

    def priority(self) -> Priority | None:
        """The priority the issue is tracked under now: its last first-response clock's,
        unless every priority label was taken off since."""
        last = self.responses()[-1:]
        return None if not last or last[0].state == S.DROPPED else Priority(last[0].priority)

    def request_type(self) -> str:
        """What the issue's last clock recorded, else `other`."""
        return self.clocks[-1].request_type if self.clocks else "other"

    def answered(self) -> datetime | None:
        """When the team last answered (a first or next response met), if ever."""
        times = [
            c.met_at
            for c in self.clocks
            if c.kind in (K.RESPONSE, K.NEXT_RESPONSE) and c.met_at is not None
        ]
        return max(times, default=None)

    def episode(self) -> Clock | None:
        """The incident episode not over, if any."""
        return next((c for c in reversed(self.clocks) if c.episode_live), None)

    def find(self, clock_id: int) -> Clock | None:
        return next((c for c in self.clocks if c.id == clock_id), None)
