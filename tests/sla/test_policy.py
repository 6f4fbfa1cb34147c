"""The policy file: defaults, merging, every error with its line, and deadline arithmetic."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from app.sla.domain import BREACHED_LABEL, Priority, RequestType
from app.sla.policy import (
    DEFAULT_POLICY,
    LabelSpec,
    Policy,
    PolicyError,
    PolicyProblem,
    Target,
    load_policy_file,
    parse_policy,
)

AMS = ZoneInfo("Europe/Amsterdam")
EXAMPLE = Path(__file__).parents[2] / "docs" / "policy.example.yml"


def at(text: str, tz: ZoneInfo = AMS) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="sla.yml")
    return [(p.line, p.key, p.message) for p in caught.value.problems]


# --- targets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical", "minutes", "days"),
    [
        ("30m", "30m", 30, 0),
        ("1h", "1h", 60, 0),
        ("2h30m", "2h30m", 150, 0),
        ("90m", "1h30m", 90, 0),
        (" 1H ", "1h", 60, 0),
        ("3d", "3d", 0, 3),
        ("next-business-day", "next-business-day", 0, 1),
    ],
)
def test_target_parses_and_prints_canonically(
    text: str, canonical: str, minutes: int, days: int
) -> None:
    target = Target.parse(text)
    assert (str(target), target.minutes, target.days) == (canonical, minutes, days)
    assert Target.parse(str(target)) == target


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a target"),
        ("1x", "not a target"),
        ("30", "add a unit"),
        ("0m", "more than zero"),
        ("1d2h", "not a target"),
        ("-5m", "not a target"),
        ("400d", "at most 366 days"),
    ],
)
def test_target_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Target.parse(text)


def test_target_is_frozen_and_next_business_day_is_one_day() -> None:
    target = Target.parse("next-business-day")
    with pytest.raises(dataclasses.FrozenInstanceError):
        target.days = 2  # type: ignore[misc]
    assert target != Target.parse("1d")
    assert target.wall_clock == Target.parse("1d").wall_clock == timedelta(days=1)


# --- defaults and merging ----------------------------------------------------------------


def test_defaults_follow_the_design() -> None:
    p = DEFAULT_POLICY
    assert p == Policy()
    assert p.timezone == "Europe/Amsterdam" and p.tz == AMS
    assert p.business_hours == {
        day: ("09:00", "17:00") for day in ("mon", "tue", "wed", "thu", "fri")
    }
    assert p.holidays.country is None and p.holidays.dates == ()
    down, urgent, normal = (p.priorities[q] for q in Priority)
    assert (down.label, down.color, str(down.within), down.calendar, down.page) == (
        "priority: production-down",
        "b60205",
        "30m",
        "24/7",
        True,
    )
    assert (urgent.label, urgent.color, str(urgent.within), urgent.calendar) == (
        "priority: urgent",
        "d93f0b",
        "1h",
        "business",
    )
    assert urgent.announce and urgent.warn_at is None
    assert (normal.label, normal.color, str(normal.within)) == (
        "priority: normal",
        "0e8a16",
        "next-business-day",
    )
    assert p.default_priority is Priority.NORMAL
    assert {t: s.label for t, s in p.types.items()} == {t: f"type: {t}" for t in RequestType}
    assert p.breached.label == BREACHED_LABEL and p.breached.color == "e11d21"
    assert p.responders.associations == ("OWNER", "MEMBER")
    assert (p.slack.channel, p.slack.page_channel) == ("#support", "#on-call")
    assert (str(p.postmortem.within), p.postmortem.calendar) == ("3d", "24/7")
    assert (p.postmortem.due.label, p.postmortem.done.label) == (
        "postmortem: due",
        "postmortem: done",
    )


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n", "---\n", "holidays:\n"])
def test_an_empty_file_is_the_defaults(text: str) -> None:
    assert parse_policy(text) == DEFAULT_POLICY


def test_a_file_is_merged_over_the_defaults() -> None:
    policy = parse_policy(
        """
        timezone: America/New_York
        priorities:
          urgent: {within: 2h, warn_at: 0.75}
        holidays: {country: US}
        responders: {associations: [owner]}
        slack: {page_channel: null}
        """.replace("\n        ", "\n")
    )
    assert policy.timezone == "America/New_York"
    urgent = policy.priorities[Priority.URGENT]
    assert (urgent.label, urgent.color, str(urgent.within), urgent.warn_at) == (
        "priority: urgent",
        "d93f0b",
        "2h",
        0.75,
    )
    assert policy.priorities[Priority.NORMAL] == DEFAULT_POLICY.priorities[Priority.NORMAL]
    assert policy.business_hours == DEFAULT_POLICY.business_hours
    assert policy.holidays.country == "US"
    assert policy.responders.associations == ("OWNER",)  # lists replace
    assert (policy.slack.channel, policy.slack.page_channel) == ("#support", None)


def test_business_hours_replace_the_whole_week() -> None:
    policy = parse_policy('business_hours:\n  mon: ["8:00", "24:00"]\n  sat: ["10:00", "14:00"]\n')
    assert policy.business_hours == {"mon": ("08:00", "24:00"), "sat": ("10:00", "14:00")}
    assert policy.calendar.add(at("2026-01-05 23:00"), timedelta(hours=2)) == at("2026-01-10 11:00")


def test_a_file_can_be_merged_over_another_base() -> None:
    org = parse_policy("timezone: America/New_York\n")
    assert parse_policy("slack: {channel: '#help'}", base=org).timezone == "America/New_York"


def test_yaml_1_1_surprises_do_not_happen() -> None:
    policy = parse_policy("holidays:\n  country: NO\nbreached: {label: x, color: 000000}\n")
    assert policy.holidays.country == "NO"  # Norway, not false
    assert policy.breached.color == "000000"  # not the number 0


def test_round_trips_through_plain_data_and_has_a_json_schema() -> None:
    policy = load_policy_file(EXAMPLE)
    assert Policy.model_validate(policy.model_dump(mode="json")) == policy
    assert "priorities" in Policy.model_json_schema()["properties"]


def test_the_example_file_is_complete_and_valid() -> None:
    policy = load_policy_file(EXAMPLE)
    assert policy.holidays.country == "NL"
    assert policy.priorities[Priority.URGENT].warn_at == 0.75
    assert policy.contacts.escalation_url == "tel:+31201234567"
    assert policy.enforce_from == date(2026, 1, 1)
    written = {key.split(":")[0] for key in EXAMPLE.read_text().splitlines() if key[:1].isalpha()}
    assert written == set(Policy.model_fields)


def test_the_policy_is_frozen() -> None:
    with pytest.raises(ValidationError):
        DEFAULT_POLICY.timezone = "UTC"  # type: ignore[misc]


# --- errors ----------------------------------------------------------------------------

ERROR_CASES = [
    ("timezone: Mars/Olympus\n", 1, "timezone", "unknown time zone 'Mars/Olympus'"),
    ('business_hours:\n  mon: ["17:00", "09:00"]\n', 2, "business_hours.mon", "not after open"),
    ('business_hours:\n  tue: ["9am", "17:00"]\n', 2, "business_hours.tue[0]", "HH:MM"),
    ('business_hours:\n  fri: ["09:00", "24:30"]\n', 2, "business_hours.fri[1]", "HH:MM"),
    ("business_hours: {}\n", 1, "business_hours", "at least one day"),
    ('business_hours:\n  funday: ["09:00", "17:00"]\n', 2, "business_hours.funday", "unknown day"),
    ("priorities:\n  urgent:\n    within: 1x\n", 3, "priorities.urgent.within", "not a target"),
    ("priorities:\n  critical: {label: c}\n", 2, "priorities.critical.within", "Field required"),
    ("priorities:\n  sev1: {within: 1h}\n  sev2: bad\n", 3, "priorities.sev2", "valid dict"),
    (
        "priorities:\n  production-down:\n    requires: {type: [billing]}\n",
        3,
        "priorities.production-down.requires.type[0]",
        "unknown request type 'billing'",
    ),
    ("types:\n  billing: {label: b}\n", 1, "types", "unknown request type 'problem'"),
    (
        "priorities:\n  production-down: null\n  urgent: null\n  normal: null\n",
        1,
        "priorities",
        "at least one priority",
    ),
    (
        "priorities:\n  sev1: {within: 1h}\n  sev2: {within: 1h, requires: {type: [other]}}\n",
        3,
        "priorities.sev2.requires",
        "the least urgent priority cannot have a rule",
    ),
    ("default_priority: production-down\n", 1, "default_priority", "cannot be the default"),
    ("timezon: UTC\n", 1, "timezon", "unknown key (did you mean 'timezone'?)"),
    ("slack:\n  chanel: x\n", 2, "slack.chanel", "unknown key (did you mean 'channel'?)"),
    ("breached:\n  color: red\n", 2, "breached.color", "6 hex digits"),
    ("breached:\n  color: #e11d21\n", 2, "breached.color", "a bare # starts a YAML comment"),
    ("priorities:\n  urgent: {warn_at: 1.5}\n", 2, "priorities.urgent.warn_at", "less than 1"),
    ("priorities:\n  urgent: {warn_at: 0}\n", 2, "priorities.urgent.warn_at", "greater than 0"),
    ("priorities:\n  urgent: {page: maybe}\n", 2, "priorities.urgent.page", "valid boolean"),
    (
        "priorities:\n  urgent: {calendar: 24/7}\n  normal: {calendar: 24/7}\n",
        3,
        "priorities.normal.within",
        "next-business-day needs the business calendar",
    ),
    ("priorities:\n  normal: {calendar: weekly}\n", 2, "priorities.normal.calendar", "'24/7'"),
    ("holidays: {country: XX}\n", 1, "holidays.country", "'XX'"),
    ("holidays:\n  country: DE\n  subdiv: ZZ\n", 3, "holidays.subdiv", "ZZ"),
    ("holidays: {dates: [2026-13-01]}\n", 1, "holidays.dates[0]", "month"),
    ("responders: {associations: [BOSS]}\n", 1, "responders.associations[0]", "'OWNER'"),
    ("responders: {associations: []}\n", 1, "responders.associations", "at least 1"),
    ("postmortem: {within: next-business-day}\n", 1, "postmortem.within", "business calendar"),
    ("default_priority: highest\n", 1, "default_priority", "'urgent'"),
    ("enforce_from: someday\n", 1, "enforce_from", "valid date"),
    ("contacts: {escalation_url: call us}\n", 1, "contacts.escalation_url", "not a URL"),
    ("types:\n  other: {description: " + "x" * 101 + "}\n", 2, "types.other.description", "100"),
    ("timezone: UTC\ntimezone: UTC\n", 2, "timezone", "duplicate key (first on line 1)"),
    ("timezone: [UTC\n", 2, "", "invalid YAML"),
    ("slack: {channel: '#a'\nbreached: x\n", 2, "", "invalid YAML"),
    ("- timezone: UTC\n", 1, "", "a policy is a mapping"),
    (
        "types:\n  other:\n    label: 'Priority: Urgent'\n",
        3,
        "types.other.label",
        "label 'Priority: Urgent' is already used by priorities.urgent.label",
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "message"), ERROR_CASES)
def test_each_problem_has_its_line_and_key(text: str, line: int, key: str, message: str) -> None:
    found = problems(text)
    assert len(found) == 1, found
    assert found[0][:2] == (line, key)
    assert message in found[0][2]


def test_every_problem_is_reported_in_order_and_formatted() -> None:
    text = """\
timezone: Mars/Olympus
business_hours:
  mon: ["17:00", "09:00"]
priorities:
  urgent:
    within: soon
    warn_at: 2
  critical: {label: c}
breached: {colour: e11d21}
"""
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source=".github/sla.yml")
    error = caught.value
    assert [(p.line, p.key) for p in error.problems] == [
        (1, "timezone"),
        (3, "business_hours.mon"),
        (6, "priorities.urgent.within"),
        (7, "priorities.urgent.warn_at"),
        (8, "priorities.critical.within"),
        (9, "breached.colour"),
    ]
    lines = str(error).splitlines()
    assert len(lines) == 6
    assert lines[0] == (
        ".github/sla.yml:1: timezone: unknown time zone 'Mars/Olympus': "
        "use an IANA name like 'Europe/Amsterdam'"
    )
    assert lines[-1] == ".github/sla.yml:9: breached.colour: unknown key (did you mean 'color'?)"
    assert all(
        line == f".github/sla.yml:{p.line}: {p.key}: {p.message}"
        for line, p in zip(lines, error.problems, strict=True)
    )


def test_problems_without_a_line_or_key_are_formatted_plainly() -> None:
    error = PolicyError([PolicyProblem(None, "", "cannot read"), PolicyProblem(2, "", "bad")], "f")
    assert str(error) == "f: cannot read\nf:2: bad"


def test_aliases_cannot_blow_up() -> None:
    # each level refers to the previous ten times: a million values once expanded
    levels = "abcdefg"
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{b}: &{b} [{', '.join(['*' + a] * 10)}]\n" for a, b in itertools.pairwise(levels)
    )
    found = problems(bomb)
    assert any("too large or recursive" in message for _, _, message in found)
    assert any("too large or recursive" in message for _, _, message in problems("a: &a [*a]\n"))


def test_load_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "sla.yml"
    path.write_text("timezone: UTC\npriorities:\n  urgent: {within: 1y}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy_file(path)
    assert str(caught.value).startswith(f"{path}:3: priorities.urgent.within: '1y' is not")
    with pytest.raises(PolicyError, match="cannot read the policy"):
        load_policy_file(tmp_path / "missing.yml")


def test_direct_construction_checks_label_clashes() -> None:
    with pytest.raises(ValidationError, match=r"already used by types\.other\.label"):
        Policy(breached=LabelSpec(label="TYPE: OTHER"))


# --- deadlines ---------------------------------------------------------------------------

P = DEFAULT_POLICY


@pytest.mark.parametrize(
    ("priority", "start", "due"),
    [
        (Priority.URGENT, "2026-01-02 16:30", "2026-01-05 09:30"),
        (Priority.URGENT, "2026-01-03 03:00", "2026-01-05 10:00"),
        (Priority.NORMAL, "2026-01-02 10:00", "2026-01-05 17:00"),
        (Priority.NORMAL, "2026-01-03 10:00", "2026-01-05 17:00"),
        (Priority.PRODUCTION_DOWN, "2026-01-03 03:00", "2026-01-03 03:30"),
        # 30 elapsed minutes across the spring-forward gap: 01:50 CET + 30m = 03:20 CEST
        (Priority.PRODUCTION_DOWN, "2026-03-29 01:50", "2026-03-29 03:20"),
    ],
)
def test_due_at(priority: Priority, start: str, due: str) -> None:
    result = P.due_at(priority, at(start))
    assert result.astimezone(UTC) == at(due).astimezone(UTC)
    assert result.tzinfo == AMS


def test_due_at_in_another_zone_and_with_holidays() -> None:
    policy = parse_policy("timezone: America/New_York\nholidays: {country: US}\n")
    start = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)  # Wed 16:30 in New York
    assert policy.due_at(Priority.URGENT, start) == at("2026-11-27 09:30", policy.tz)
    assert policy.due_at(Priority.NORMAL, start) == at("2026-11-27 17:00", policy.tz)


def test_postmortem_due_is_wall_clock_days() -> None:
    closed = at("2026-03-28 12:00")  # 72 elapsed hours across the DST change
    assert P.postmortem_due(closed).astimezone(UTC) == datetime(2026, 3, 31, 11, tzinfo=UTC)
    business = parse_policy("postmortem: {calendar: business, within: 2d}")
    assert business.postmortem_due(at("2026-01-02 12:00")) == at("2026-01-06 17:00")


def test_warn_time() -> None:
    policy = parse_policy(
        "priorities:\n"
        "  production-down: {warn_at: 0.5}\n"
        "  urgent: {warn_at: 0.75}\n"
        "  normal: {warn_at: 0.5}\n"
    )
    assert DEFAULT_POLICY.warn_time(Priority.URGENT, at("2026-01-05 09:00")) is None
    assert policy.warn_time(Priority.URGENT, at("2026-01-05 09:00")) == at("2026-01-05 09:45")
    assert policy.warn_time(Priority.URGENT, at("2026-01-02 16:50")) == at("2026-01-05 09:35")
    # Fri 10:00 to Mon 17:00 is 15 open hours; half of it ends Mon 09:30
    assert policy.warn_time(Priority.NORMAL, at("2026-01-02 10:00")) == at("2026-01-05 09:30")
    down = policy.warn_time(Priority.PRODUCTION_DOWN, at("2026-01-03 03:00"))
    assert down == at("2026-01-03 03:15")


def test_elapsed_and_quiet_hours() -> None:
    friday, monday = at("2026-01-02 16:00"), at("2026-01-05 10:00")
    assert P.elapsed(Priority.URGENT, friday, monday) == timedelta(hours=2)
    assert P.elapsed(Priority.PRODUCTION_DOWN, friday, monday) == timedelta(hours=66)
    assert P.elapsed(Priority.PRODUCTION_DOWN, monday, friday) == timedelta(0)
    assert P.in_quiet_hours(Priority.NORMAL, at("2026-01-03 12:00"))
    assert not P.in_quiet_hours(Priority.NORMAL, at("2026-01-05 12:00"))
    assert not P.in_quiet_hours(Priority.PRODUCTION_DOWN, at("2026-01-03 12:00"))


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 1, 5, 10)
    with pytest.raises(ValueError, match="naive"):
        P.due_at(Priority.PRODUCTION_DOWN, naive)
    with pytest.raises(ValueError, match="naive"):
        P.due_at(Priority.URGENT, naive)
    with pytest.raises(ValueError, match="naive"):
        P.in_quiet_hours(Priority.PRODUCTION_DOWN, naive)


def test_labels() -> None:
    assert P.label_for(Priority.URGENT) == "priority: urgent"
    assert P.priority_for_label("priority: urgent") is Priority.URGENT
    assert P.priority_for_label("Priority: Production-Down") is Priority.PRODUCTION_DOWN
    assert P.priority_for_label("type: problem") is None
    assert P.type_for_label("type: problem") is RequestType.PROBLEM
    assert P.type_for_label("sla: breached") is None


def test_the_calendar_is_built_once_per_calendar_spec() -> None:
    assert P.calendar is P.calendar
    assert parse_policy("slack: {channel: '#x'}").calendar is P.calendar
    assert parse_policy("timezone: UTC").calendar is not P.calendar


def test_a_target_these_hours_cannot_meet_within_a_year_is_refused_with_its_line() -> None:
    text = "business_hours:\n  mon: ['09:00', '09:01']\npriorities:\n  urgent:\n    within: 8784h\n"
    with pytest.raises(PolicyError) as refused:
        parse_policy(text, source="sla.yml")
    assert "sla.yml:5: priorities.urgent.within: 8784h of open time takes more than a year" in (
        str(refused.value)
    )
    parse_policy(text.replace("8784h", "52m"), source="sla.yml")  # a year's minutes: fine


def test_the_deadline_math_is_bounded_whatever_it_is_given() -> None:
    from datetime import UTC, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from app.sla.calendar import BusinessCalendar

    one_minute_a_week = BusinessCalendar(ZoneInfo("UTC"), {0: (time(9), time(9, 1))})
    with pytest.raises(OverflowError):
        one_minute_a_week.add(datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=8784))


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (
            "priorities:\n  urgent:\n    next_response: soon\n",
            "priorities.urgent.next_response",
            "or 'first' for the first-response target",
        ),
        (
            "priorities:\n  normal:\n    updates_every: next-business-day\n",
            "priorities.normal.updates_every",
            "updates run on the wall clock",
        ),
        (
            "priorities:\n  urgent:\n    resolution: {within: 2d, calendar: weekly}\n",
            "priorities.urgent.resolution.calendar",
            "'business' or '24/7'",
        ),
        ("pause_label:\n  label: 'priority: urgent'\n", "pause_label.label", "already used"),
    ],
)
def test_the_later_targets_are_checked_with_line_and_key(text: str, key: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    (problem,) = caught.value.problems
    assert problem.key == key and message in problem.message and problem.line is not None


def test_next_response_first_follows_the_first_response_target() -> None:
    policy = parse_policy("priorities:\n  urgent:\n    within: 2h\n")
    assert str(policy.priorities[Priority.URGENT].next_response_target) == "2h"
    assert policy.priorities[Priority.NORMAL].next_response_target is None
    assert str(policy.priorities[Priority.PRODUCTION_DOWN].updates_every) == "1h"
