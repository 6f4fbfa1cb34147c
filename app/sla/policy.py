"""The service policy: built-in defaults, the merged policy file, and deadline arithmetic."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from app.sla.calendar import BusinessCalendar
from app.sla.clock import ClockKind
from app.sla.domain import Priority, RequestType
from app.sla.pause import Measure
from app.sla.policy_file import (
    Loc,
    PolicyError,
    PolicyProblem,
    dotted,
    merge,
    problems_from,
    read_yaml,
)
from app.sla.policy_sections import (
    DEFAULT_BREACHED,
    DEFAULT_PAUSE,
    WEEKDAYS,
    CalendarName,
    Contacts,
    Customer,
    CustomerKey,
    FrozenModel,
    Holidays,
    Intake,
    LabelSpec,
    Oncall,
    OpenHours,
    Phone,
    Postmortem,
    PriorityPolicy,
    ProductionDownScope,
    Requires,
    Resolution,
    Responders,
    Slack,
    SlackIntake,
    Weekday,
    default_hours,
    default_priorities,
)
from app.sla.target import Target
from app.sla.vocabulary import (
    TypeSpec,
    default_types,
    located,
    one_of,
    settle,
    vocabulary_problems,
)

__all__ = [
    "DEFAULT_POLICY",
    "LabelSpec",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "PriorityPolicy",
    "Target",
    "TypeSpec",
    "load_policy_file",
    "parse_policy",
]
_CLASHES = "label_clashes"  # validation context key: collect label clashes instead of raising


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class Policy(FrozenModel):
    """A team's service policy; the built-in defaults are `DEFAULT_POLICY` (i.e. `Policy()`)."""

    timezone: str = "Europe/Amsterdam"
    business_hours: dict[Weekday, OpenHours] = Field(default_factory=default_hours)
    holidays: Holidays = Holidays()
    # In order of urgency, the most urgent first.
    priorities: dict[Priority, PriorityPolicy] = Field(default_factory=default_priorities)
    default_priority: Priority = Priority.NORMAL
    # The older spelling of the production-down rule's `field` and `end_users` (`requires`).
    production_down_scope: ProductionDownScope = ProductionDownScope()
    types: dict[RequestType, TypeSpec] = Field(default_factory=default_types)
    default_type: RequestType = RequestType.OTHER  # for a request that names no type
    breached: LabelSpec = DEFAULT_BREACHED
    # Waiting on the customer: pauses next-response and resolution clocks until they comment.
    pause_label: LabelSpec = DEFAULT_PAUSE
    responders: Responders = Responders()
    slack: Slack = Slack()
    postmortem: Postmortem = Postmortem()
    oncall: Oncall = Oncall()
    # Issues opened before this day are labeled but not tracked: no clock, comment or alert.
    enforce_from: date | None = None
    contacts: Contacts = Contacts()
    # Status meetings (`sla-bot report --customer`, /board): none means one per repository.
    customers: dict[CustomerKey, Customer] = Field(default_factory=dict)
    # Channels besides the forms: Slack (`intake.slack`) and the escalation number (`intake.phone`).
    intake: Intake = Intake()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            message = f"unknown time zone {name!r}: use an IANA name like 'Europe/Amsterdam'"
            raise ValueError(message) from exc
        return name

    @field_validator("default_priority")
    @classmethod
    def _not_paging(cls, priority: Priority, info: ValidationInfo) -> Priority:
        # It is what an issue without a form gets (API-created, type `other`): paging on-call
        # for those would break the priority's own rule.
        known: dict[Priority, PriorityPolicy] = info.data.get("priorities") or {}
        quiet = [str(p) for p, spec in known.items() if not spec.page]
        if known and priority not in known:
            raise ValueError(f"unknown priority {str(priority)!r}: expected {one_of(known)}")
        if known and known[priority].page:
            raise ValueError(f"{priority} cannot be the default: use {one_of(quiet)}")
        return priority

    @field_validator("default_type")
    @classmethod
    def _known_type(cls, kind: RequestType, info: ValidationInfo) -> RequestType:
        known = info.data.get("types") or {}
        if known and kind not in known:
            raise ValueError(f"unknown request type {str(kind)!r}: expected {one_of(known)}")
        return kind

    @field_validator("business_hours")
    @classmethod
    def _some_day_open(
        cls, hours: dict[Weekday, tuple[str, str]]
    ) -> dict[Weekday, tuple[str, str]]:
        if not hours:
            raise ValueError("at least one day needs open hours, e.g. mon: ['09:00', '17:00']")
        return hours

    @field_validator("priorities", "types")
    @classmethod
    def _some(cls, entries: dict[Any, Any], info: ValidationInfo) -> dict[Any, Any]:
        if not entries:
            noun = "priority" if info.field_name == "priorities" else "request type"
            raise ValueError(f"at least one {noun} is needed")
        return entries

    @model_validator(mode="after")
    def _distinct_labels(self, info: ValidationInfo) -> Policy:
        clashes = (
            vocabulary_problems(self)
            + self._label_clashes()
            + self._beyond_a_year()
            + self._customer_overlaps()
            + self._numbers_claimed_twice()
        )
        sink = (info.context or {}).get(_CLASHES)
        if sink is not None:
            sink.extend(clashes)
        elif clashes:
            raise ValueError("; ".join(message for _, message in clashes))
        return self

    def _label_clashes(self) -> list[tuple[Loc, str]]:
        seen: dict[str, Loc] = {}
        clashes: list[tuple[Loc, str]] = []
        for loc, spec in self._label_specs():
            first = seen.setdefault(spec.label.casefold(), loc)
            if first != loc:
                clashes.append((loc, f"label {spec.label!r} is already used by {dotted(first)}"))
        return clashes

    def _customer_overlaps(self) -> list[tuple[Loc, str]]:
        """A repository or label named by two customers: a request would belong to both."""
        seen: dict[tuple[str, str], Loc] = {}
        found: list[tuple[Loc, str]] = []
        for key, customer in self.customers.items():
            for field, names in (
                ("repositories", customer.repositories),
                ("labels", customer.labels),
            ):
                for i, name in enumerate(names):
                    loc: Loc = ("customers", key, field, i)
                    first = seen.setdefault((field, name.casefold()), loc)
                    if first[1] != key:
                        noun = "repository" if field == "repositories" else "label"
                        found.append(
                            (
                                loc,
                                f"{noun} {name!r} already belongs to customer "
                                f"{first[1]!r} ({dotted(first)})",
                            )
                        )
        return found

    def _numbers_claimed_twice(self) -> list[tuple[Loc, str]]:
        """A phone number listed twice (however it is written): one call, one owner."""
        seen: dict[str, int] = {}
        found: list[tuple[Loc, str]] = []
        for i, number in enumerate(self.intake.phone.numbers):
            first = seen.setdefault(number, i)
            if first != i:
                found.append(
                    (
                        ("intake", "phone", "numbers", i),
                        f"number {number} is already claimed by intake.phone.numbers[{first}]",
                    )
                )
        return found

    def _beyond_a_year(self) -> list[tuple[Loc, str]]:
        """Business-time targets these open hours cannot meet within a year: the deadline
        math would walk the calendar for centuries (one open minute a week, 8784h)."""
        weekly = sum(
            _minutes(close) - _minutes(open_) for open_, close in self.business_hours.values()
        )
        found: list[tuple[Loc, str]] = []
        for priority in self.priorities:
            for kind, key in _KIND_KEYS.items():
                spec = self._target(kind, priority)
                if spec is None or spec[1] != "business" or spec[0].minutes <= weekly * 52:
                    continue
                hours = spec[0].minutes / 60
                found.append(
                    (
                        ("priorities", str(priority), key),
                        f"{hours:g}h of open time takes more than a year with these "
                        f"business hours ({weekly / 60:g}h a week)",
                    )
                )
        return found

    def _label_specs(self) -> list[tuple[Loc, LabelSpec]]:
        specs: list[tuple[Loc, LabelSpec]] = [
            (("priorities", str(p), "label"), spec) for p, spec in self.priorities.items()
        ]
        specs += [(("types", str(t), "label"), spec) for t, spec in self.types.items()]
        specs += [(("breached", "label"), self.breached)]
        specs += [(("pause_label", "label"), self.pause_label)]
        specs += [
            (("postmortem", name, "label"), getattr(self.postmortem, name))
            for name in ("due", "done")
        ]
        return specs

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def calendar(self) -> BusinessCalendar:
        """The business calendar, shared by every policy with the same hours and holidays."""
        return _calendar(self.timezone, tuple(sorted(self.business_hours.items())), self.holidays)

    def label_for(self, priority: Priority) -> str:
        return self.spec(priority).label

    def spec(self, priority: Priority) -> PriorityPolicy:
        """The priority's rules; a key the policy no longer has (a clock from before a change
        of vocabulary) runs on the default priority's targets and never pages."""
        found = self.priorities.get(priority)
        if found is not None:
            return found
        return self.priorities[self.default_priority]

    def name_of(self, priority: str) -> str:
        """What people read for a priority: its `name`; a key the policy no longer has reads
        as its built-in name, else as the key itself."""
        found = self.priorities.get(Priority(priority))
        return found.name if found is not None and found.name else Priority(priority).title

    def type_name(self, kind: str) -> str:
        """What people read for a request type (a removed one: as `name_of`)."""
        found = self.types.get(RequestType(kind))
        return found.name if found is not None and found.name else RequestType(kind).title

    def rank(self, priority: Priority) -> int:
        """Higher is more urgent: the policy lists its priorities most urgent first; a key it
        no longer has ranks below all of them."""
        keys = list(self.priorities)
        return len(keys) - keys.index(priority) if priority in self.priorities else -1

    def highest(self, priorities: Iterable[Priority]) -> Priority | None:
        """The most urgent of `priorities` (with several priority labels the highest counts)."""
        return max(priorities, key=self.rank, default=None)

    def lower(self, priority: Priority) -> Priority | None:
        """The next less urgent priority, if any."""
        keys = list(self.priorities)
        at = keys.index(priority)
        return keys[at + 1] if at + 1 < len(keys) else None

    def pages(self, priority: Priority) -> bool:
        return priority in self.priorities and self.priorities[priority].page

    @property
    def paging(self) -> Priority | None:
        """The most urgent paging priority: what a call to the escalation number opens."""
        return next((p for p, spec in self.priorities.items() if spec.page), None)

    def type_for(self, priority: Priority) -> RequestType:
        """A type a request may have with `priority` (its rule's first, else the default)."""
        rule = self.spec(priority).requires
        return rule.type[0] if rule is not None and rule.type else self.default_type

    def priority_for_label(self, name: str) -> Priority | None:
        """The priority whose label is `name` (case-insensitive, as GitHub compares labels)."""
        wanted = name.casefold()
        return next((p for p, s in self.priorities.items() if s.label.casefold() == wanted), None)

    def type_for_label(self, name: str) -> RequestType | None:
        wanted = name.casefold()
        return next((t for t, s in self.types.items() if s.label.casefold() == wanted), None)

    def tracks(self, kind: ClockKind, priority: Priority) -> bool:
        """The policy sets a target of this kind for this priority."""
        return self._target(kind, priority) is not None

    def _target(self, kind: ClockKind, priority: Priority) -> tuple[Target, CalendarName] | None:
        rules = self.spec(priority)
        if kind is ClockKind.RESPONSE:
            return rules.within, rules.calendar
        if kind is ClockKind.NEXT_RESPONSE:
            found = rules.next_response_target
            return None if found is None else (found, rules.calendar)
        if kind is ClockKind.UPDATE:
            return None if rules.updates_every is None else (rules.updates_every, "24/7")
        if kind is ClockKind.RESOLUTION:
            spec: Resolution | None = rules.resolution
            return None if spec is None else (spec.within, spec.calendar or rules.calendar)
        return self.postmortem.within, self.postmortem.calendar

    def deadline(self, kind: ClockKind, priority: Priority, start: datetime) -> datetime:
        """When a clock of `kind` and `priority` started at `start` is due (KeyError when the
        policy sets no such target)."""
        spec = self._target(kind, priority)
        if spec is None:
            raise KeyError(f"no {kind} target for {priority}")
        return self._deadline(spec[0], spec[1], start)

    def due_at(self, priority: Priority, start: datetime) -> datetime:
        """When a first response to a clock of `priority` started at `start` is due."""
        return self.deadline(ClockKind.RESPONSE, priority, start)

    def warning(self, kind: ClockKind, priority: Priority, start: datetime) -> datetime | None:
        """When the early warning is due (`warn_at` of the way to the deadline), if any.

        The fraction is of the open time to the deadline on the business calendar, so the
        warning itself falls in open time; `in_quiet_hours` tells when it must wait.
        """
        fraction = self.spec(priority).warn_at
        if fraction is None or kind is ClockKind.POSTMORTEM:
            return None
        due = self.deadline(kind, priority, start)
        if self.calendar_of(kind, priority) == "24/7":
            return (_utc(start) + (_utc(due) - _utc(start)) * fraction).astimezone(self.tz)
        span = self.calendar.open_time_between(start, due)
        return min(self.calendar.add(start, span * fraction), due, key=_utc)

    def warn_time(self, priority: Priority, start: datetime) -> datetime | None:
        return self.warning(ClockKind.RESPONSE, priority, start)

    def calendar_of(self, kind: ClockKind, priority: Priority) -> CalendarName:
        spec = self._target(kind, priority)
        return "24/7" if spec is None else spec[1]

    def measure(self, kind: ClockKind, priority: Priority) -> Measure:
        """The time a clock of this kind counts between two moments (never negative)."""
        if self.calendar_of(kind, priority) == "business":
            return self.calendar.open_time_between
        return _wall

    def extend(
        self, kind: ClockKind, priority: Priority, at: datetime, span: timedelta
    ) -> datetime:
        """`at` moved on by `span` of the clock's counted time (a due time after a pause)."""
        if self.calendar_of(kind, priority) == "business":
            return self.calendar.add(at, span)
        return (_utc(at) + span).astimezone(self.tz)

    def elapsed(self, priority: Priority, start: datetime, end: datetime) -> timedelta:
        """Time counted against the first-response target from `start` to `end`."""
        return self.measure(ClockKind.RESPONSE, priority)(start, end)

    def postmortem_due(self, closed_at: datetime) -> datetime:
        """When the post-mortem of a production-down issue closed at `closed_at` is due."""
        return self._deadline(self.postmortem.within, self.postmortem.calendar, closed_at)

    def in_quiet_hours(
        self, priority: Priority, at: datetime, kind: ClockKind = ClockKind.RESPONSE
    ) -> bool:
        """True when the clock runs on business hours and `at` is outside them."""
        _utc(at)
        return self.calendar_of(kind, priority) == "business" and not self.calendar.is_open(at)

    def _deadline(self, target: Target, calendar: CalendarName, start: datetime) -> datetime:
        if calendar == "24/7":
            return (_utc(start) + target.wall_clock).astimezone(self.tz)
        if target.days:
            return self.calendar.close_of_business_day(start, target.days)
        return self.calendar.add(start, timedelta(minutes=target.minutes))


_KIND_KEYS = {
    ClockKind.RESPONSE: "within",
    ClockKind.NEXT_RESPONSE: "next_response",
    ClockKind.RESOLUTION: "resolution",
}


def _wall(start: datetime, end: datetime) -> timedelta:
    return max(_utc(end) - _utc(start), timedelta(0))


def _utc(at: datetime) -> datetime:
    """`at` in UTC, so that arithmetic is elapsed time (ValueError if naive)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass an aware datetime")
    return at.astimezone(UTC)


@functools.lru_cache(maxsize=64)
def _calendar(
    timezone: str, hours: tuple[tuple[Weekday, tuple[str, str]], ...], closed: Holidays
) -> BusinessCalendar:
    return BusinessCalendar(
        ZoneInfo(timezone),
        {
            WEEKDAYS.index(day): (_time(opening), _time(closing))
            for day, (opening, closing) in hours
        },
        frozenset(closed.dates),
        closed.country,
        closed.subdiv,
    )


def _time(text: str) -> time:
    return time(0) if text == "24:00" else time.fromisoformat(text)


DEFAULT_POLICY = Policy()
_KNOWN_KEYS = frozenset(
    name
    for model in (
        Policy,
        PriorityPolicy,
        Holidays,
        Responders,
        Slack,
        Postmortem,
        Contacts,
        Resolution,
        Customer,
        Intake,
        Phone,
        SlackIntake,
        Requires,
        TypeSpec,
    )
    for name in model.model_fields
)


def parse_policy(text: str, *, source: str = "<policy>", base: Policy | None = None) -> Policy:
    """The policy in YAML `text`, merged over `base` (the built-in defaults).

    Raises PolicyError listing every problem, each with its line and dotted key.
    """
    data, lines, problems = read_yaml(text)
    policy = None
    if isinstance(data, dict):
        merged = settle(merge((base or DEFAULT_POLICY).model_dump(mode="json"), data), data)
        clashes: list[tuple[Loc, str]] = []
        try:
            policy = Policy.model_validate(merged, context={_CLASHES: clashes})
        except ValidationError as exc:
            problems += problems_from(exc, lines, _KNOWN_KEYS)
        problems += [located(lines, loc, m) for loc, m in clashes]
    if problems or policy is None:
        raise PolicyError(sorted(problems, key=lambda p: (p.line is None, p.line or 0)), source)
    return policy


def load_policy_file(path: str | os.PathLike[str]) -> Policy:
    """The policy in the YAML file at `path`; PolicyError also when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = PolicyProblem(None, "", f"cannot read the policy: {exc}")
        raise PolicyError([problem], str(path)) from exc
    return parse_policy(text, source=str(path))
