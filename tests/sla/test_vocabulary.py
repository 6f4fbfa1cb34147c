"""The team's own words in the pure core: priorities and types from the policy, the rule on a
priority, the forms, the report rows, and what a change of vocabulary does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from app.forms import placeholders, render
from app.reports import report
from app.reports.names import names_of
from app.sla.changes import changes
from app.sla.classifier import classify
from app.sla.clock import Clock
from app.sla.domain import Priority, RequestType
from app.sla.policy import DEFAULT_POLICY, PolicyError, parse_policy
from app.sla.triage import vocabulary
from tests.factories import ACME, AMSTERDAM, MEETING_SINCE, stored_clock

SEVERITIES = """\
priorities:
  sev1: {name: "Sev 1", form: "the platform is down", within: 15m, calendar: 24/7, page: true,
         requires: {type: [bug], end_users: [All], field: "Who is affected"}}
  sev2: {name: "Sev 2", form: "a feature is broken", within: 2h, requires: {type: [bug, billing]}}
  sev10: {name: "Sev 10", form: "a wish", within: 3d, chosen_by: team}
  sev4: {name: "Sev 4", form: "anything else", within: 5d}
types:
  bug:
    fields: [{type: dropdown, id: who, attributes: {label: "Who is affected", options: [Me, All]}}]
  billing: {name: "Billing", fields: [{type: input, id: inv, attributes: {label: "Invoice"}}]}
  question: {}
"""
TEAM = parse_policy(SEVERITIES)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def answered(priority: str, form: str, who: str | None = None) -> str:
    """A submitted body: the Priority answer and the form's own headings."""
    own = {"bug": f"### Who is affected\n\n{who or '_No response_'}", "billing": "### Invoice\n\nx"}
    rest = own.get(form, "### Description\n\nhelp")
    return f"### Priority\n\n{priority}\n\n{rest}"


def team_classify(body: str) -> tuple[str, str, str | None, str | None]:
    result = classify(body, default_priority=TEAM.default_priority, vocabulary=vocabulary(TEAM))
    return result.request_type, result.priority, result.downgrade_reason, result.refused_by


def test_a_team_lists_its_own_priorities_most_urgent_first_with_labels_made_up_from_keys() -> None:
    assert list(TEAM.priorities) == ["sev1", "sev2", "sev10", "sev4"]
    assert TEAM.label_for(Priority("sev2")) == "priority: sev2"
    assert TEAM.types[RequestType("question")].label == "type: question"
    assert TEAM.highest([Priority("sev4"), Priority("sev2")]) == "sev2"
    assert TEAM.paging == "sev1"


def test_a_type_set_to_null_is_gone_and_so_is_its_form() -> None:
    policy = parse_policy("types:\n  on-call: null\n")
    assert "on-call" not in policy.types
    assert "on-call.yml" not in render(policy)
    assert len(render(policy)) == 6  # five forms and config.yml


def test_adjusting_a_built_in_priority_keeps_the_others_and_their_order() -> None:
    policy = parse_policy('priorities:\n  urgent: {name: "P2", label: "P2: urgent"}\n')
    assert list(policy.priorities) == list(DEFAULT_POLICY.priorities)
    assert policy.name_of(Priority.URGENT) == "P2"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (answered("Sev 1 — down", "bug", "All"), ("bug", "sev1", None, None)),
        (answered("Sev 1 — down", "bug", "Me"), ("bug", "sev2", "audience", "sev1")),
        (answered("Sev 1 — down", "billing"), ("billing", "sev2", "type", "sev1")),
        (answered("Sev 1 — down", "question"), ("question", "sev4", "type", "sev1")),
        (answered("Sev 2 — broken", "question"), ("question", "sev4", "type", "sev2")),
        (answered("Sev 10 — a wish", "question"), ("question", "sev4", "team", "sev10")),
        (answered("Sev 4 — anything", "billing"), ("billing", "sev4", None, None)),
    ],
)
def test_a_request_that_does_not_meet_a_rule_gets_the_next_priority_it_meets(
    body: str, expected: tuple[str, str, str | None, str | None]
) -> None:
    assert team_classify(body) == expected


def test_the_longest_name_wins_so_sev_10_is_not_sev_1() -> None:
    rungs = vocabulary(TEAM).rungs
    from app.sla.classifier import parse_priority

    assert parse_priority("Sev 10 — a wish", rungs) == "sev10"
    assert parse_priority("sev1", rungs) == "sev1"
    assert parse_priority("Sev 1", rungs) == "sev1"


def test_a_relabelled_priority_reaches_the_dropdown_and_the_team_only_one_stays_out() -> None:
    form = yaml.safe_load(render(TEAM)["bug.yml"])
    (dropdown,) = [e for e in form["body"] if e.get("id") == "priority"]
    assert dropdown["attributes"]["options"] == [
        "Sev 1 — the platform is down (Bug only; on-call is paged, "
        "response within 15 minutes 24/7)",
        "Sev 2 — a feature is broken (Bug or Billing only; response within 2 business hours)",
        "Sev 4 — anything else (response by end of the 5th business day)",
    ]
    question = render(TEAM)["question.yml"]
    assert "**Sev 1** is only for Bug requests where the platform is down" in question


def test_a_tel_escalation_link_is_kept_in_the_forms_text_and_never_replaced() -> None:
    policy = parse_policy(
        "contacts:\n  slack_help_url: https://acme.slack.com/archives/C1\n"
        "  escalation_url: 'tel:+31201234567'\n"
    )
    files = render(policy)
    config = yaml.safe_load(files["config.yml"])
    assert [link["url"] for link in config["contact_links"]] == [
        "https://acme.slack.com/archives/C1"
    ]
    assert "escalation number (+31201234567)" in files["problem.yml"]
    assert "https://example.com" not in "".join(files.values())
    assert placeholders(policy) == []


def test_placeholder_links_are_named_and_real_ones_are_not() -> None:
    policy = parse_policy(
        "contacts:\n  slack_help_url: https://example.slack.com/archives/C1\n"
        "  escalation_url: https://acme.com/call\n"
    )
    assert placeholders(policy) == [
        ("contacts.slack_help_url", "https://example.slack.com/archives/C1")
    ]


def test_forms_refuse_a_placeholder_with_the_line_that_holds_it(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path

    from app.cli.main import main

    policy = Path(str(tmp_path)) / "sla.yml"
    policy.write_text("timezone: UTC\ncontacts:\n  escalation_url: https://example.com/x\n")
    assert main(["forms", "--policy", str(policy), "--out", str(policy.parent / "f")]) == 1
    assert f"{policy}:3: contacts.escalation_url: " in capsys.readouterr().err
    assert not (policy.parent / "f").exists()


def _clock(priority: str, request_type: str, n: int) -> Clock:
    """A first response as the store keeps it (when it was answered does not matter here)."""
    return stored_clock(
        n, priority=priority, request_type=request_type, met_at=None, response_seconds=None
    )


def test_a_renamed_priority_keeps_its_report_rows_under_its_key() -> None:
    renamed = parse_policy(
        'priorities:\n  urgent: {name: "P2"}\ntypes:\n  guidance: {name: "How-to"}'
    )
    rows = report.summarize([_clock("urgent", "guidance", 1)], NOW, names_of(renamed))
    urgent = next(r for r in rows if (r.group, r.name) == ("priority", "urgent"))
    guidance = next(r for r in rows if (r.group, r.name) == ("type", "guidance"))
    assert (urgent.title, urgent.requests, guidance.title) == ("P2", 1, "How-to")
    assert "P2" in report.as_table(rows, "SLA report")


def test_a_removed_priority_still_reports_under_its_key() -> None:
    rows = report.summarize([_clock("urgent", "on-call", 1)], NOW, names_of(TEAM))
    assert [r.name for r in rows if r.group == "priority"] == [
        "sev1",
        "sev2",
        "sev10",
        "sev4",
        "urgent",
    ]
    assert next(r for r in rows if r.name == "on-call").requests == 1


def test_a_removed_priority_s_running_clock_runs_on_the_default_targets_and_never_pages() -> None:
    start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert not TEAM.pages(Priority.PRODUCTION_DOWN)
    assert TEAM.due_at(Priority.PRODUCTION_DOWN, start) == TEAM.due_at(Priority("sev4"), start)
    assert TEAM.name_of("production-down") == "Production down"


def test_check_policy_says_what_a_change_does_to_running_clocks() -> None:
    new = parse_policy('priorities:\n  urgent: {name: "P2", within: 2h}\ntypes:\n  on-call: null')
    said = changes(DEFAULT_POLICY, new)
    assert "priority urgent: renamed 'Urgent' -> 'P2'; its clocks and report rows stay" in said
    assert any(
        line.startswith("priority urgent: targets change; running clocks keep") for line in said
    )
    assert any(line.startswith("type on-call: removed;") for line in said)


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        ('priorities:\n  urgent: {name: "Normal"}\n', 1, "priorities.normal.name", "'Normal'"),
        (
            "priorities:\n  sev1: {within: 1h, label: 'sev: 1'}\n"
            "  sev2: {within: 2h, label: 'SEV: 1'}\n",
            3,
            "priorities.sev2.label",
            "already used",
        ),
        ("priorities:\n  'sev 1': {within: 1h}\n", 2, "priorities.sev 1", "not a key"),
        (
            "priorities:\n  sev1: {within: 1h, label: '" + "x" * 51 + "'}\n",
            2,
            "priorities.sev1.label",
            "50",
        ),
        ("default_type: billing\n", 1, "default_type", "unknown request type 'billing'"),
        (
            "types:\n  other:\n    fields:\n      - {type: input, id: a}\n",
            3,
            "types.other.fields",
            "fields[0]: a input element needs attributes.label",
        ),
        (
            "types:\n  other:\n    fields:\n      - {type: input, attributes: {label: Priority}}\n",
            3,
            "types.other.fields",
            "'priority' is the dropdown sla-bot adds",
        ),
    ],
)
def test_bad_vocabulary_is_one_line_naming_line_and_key(
    text: str, line: int, key: str, message: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    (problem,) = caught.value.problems
    assert (problem.line, problem.key) == (line, key)
    assert message in problem.message


def test_the_built_in_policy_keeps_today_s_rule_in_the_same_words() -> None:
    result = classify(answered("Production down — x", "bug"), vocabulary=vocabulary(DEFAULT_POLICY))
    assert (result.priority, result.downgrade_reason) == (Priority.URGENT, "type")
    assert replace(result, fields={}) == replace(
        classify(answered("Production down — x", "bug")), fields={}
    )


def test_a_priority_without_form_words_is_offered_by_its_name_and_promise() -> None:
    policy = parse_policy("priorities:\n  p1: {within: 1h}\n  p2: {within: 4h}\n")
    form = yaml.safe_load(render(policy)["other.yml"])
    (dropdown,) = [e for e in form["body"] if e.get("id") == "priority"]
    assert dropdown["attributes"]["options"] == [
        "P1 (response within 1 business hour)",
        "P2 (response within 4 business hours)",
    ]
    result = classify("### Priority\n\nP1 (response within 1 business hour)")
    assert result.priority == Priority.NORMAL  # the built-in words do not read P1
    assert classify(
        "### Priority\n\nP1 (response within 1 business hour)", vocabulary=vocabulary(policy)
    ).priority == Priority("p1")


def test_the_status_meeting_page_and_its_markdown_use_the_team_s_names() -> None:
    from app.reports import meeting_export, report_html
    from app.reports.meeting import build

    clock = replace(
        _clock("sev2", "billing", 3),
        state="running",
        started_at=NOW - timedelta(days=1),
        due_at=NOW + timedelta(hours=1),
    )
    found = build(ACME, [clock], {}, MEETING_SINCE, NOW, AMSTERDAM, names_of(TEAM))
    page, text = report_html.as_html(found), meeting_export.as_markdown(found)
    for shown in (page, text):
        assert "Sev 2" in shown and "Billing" in shown
        assert "sev2" not in shown.replace("first response · sev2", "")
