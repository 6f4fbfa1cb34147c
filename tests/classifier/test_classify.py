"""Tests for classify: type, priority, the production-down scope rule and defaults."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.sla.classifier import Classification, Scope, TypeSource, classify, parse_priority
from app.sla.domain import Priority, RequestType

PD, URGENT, NORMAL = Priority.PRODUCTION_DOWN, Priority.URGENT, Priority.NORMAL
PROD_DOWN_OPTION = (
    "Production down — many end users cannot work (Problem/Troubleshooting only; "
    "on-call is paged, response within 30 minutes 24/7)"
)


def problem(priority: str, affected: str = "All end users") -> str:
    return (
        f"### Priority\n\n{priority}\n\n### Impact\n\nNobody can log in\n\n"
        f"### End users affected\n\n{affected}\n\n### Since when\n\n09:40\n\n"
        "### Steps to reproduce\n\nLog in\n\n### Logs\n\n_No response_\n\n"
        "### Environment\n\nProduction"
    )


def guidance(priority: str) -> str:
    return (
        f"### Priority\n\n{priority}\n\n### What are you trying to do?\n\nExport\n\n"
        "### What have you tried?\n\nThe menu\n\n### Documentation you read\n\n_No response_"
    )


def change(priority: str) -> str:
    return (
        f"### Priority\n\n{priority}\n\n### Environment\n\nProduction\n\n"
        "### Change to make\n\nRaise the limit\n\n### Wanted date\n\nFriday\n\n"
        "### Rollback plan and risk\n\nLower it again\n\n### Approval\n\n- [ ] Approved"
    )


class Expected(NamedTuple):
    request_type: RequestType
    type_source: TypeSource
    requested: Priority | None
    priority: Priority
    downgraded: bool = False
    assumed_default: bool = False


class Case(NamedTuple):
    name: str
    body: str | None
    expected: Expected
    label: RequestType | None = None
    default: Priority = NORMAL


OTHER_DEFAULT = Expected(RequestType.OTHER, "default", None, NORMAL, assumed_default=True)

CASES = [
    Case("no body", None, OTHER_DEFAULT),
    Case("empty body", "", OTHER_DEFAULT),
    Case("free text", "The printer is on fire, please help!", OTHER_DEFAULT),
    Case("free text with headings", "### Logs\n\nboom\n\n### Impact\n\nbig", OTHER_DEFAULT),
    Case(
        "free text, type from label",
        "Please add Jane",
        Expected(RequestType.ADD_REMOVE_USER, "label", None, NORMAL, assumed_default=True),
        label=RequestType.ADD_REMOVE_USER,
    ),
    Case(
        "no body, policy default",
        None,
        Expected(RequestType.OTHER, "default", None, URGENT, assumed_default=True),
        default=URGENT,
    ),
    Case(
        "problem, production down",
        problem(PROD_DOWN_OPTION),
        Expected(RequestType.PROBLEM, "form", PD, PD),
    ),
    Case(
        "problem, urgent",
        problem("Urgent — blocking work"),
        Expected(RequestType.PROBLEM, "form", URGENT, URGENT),
    ),
    Case(
        "problem, normal",
        problem("Normal — everything else"),
        Expected(RequestType.PROBLEM, "form", NORMAL, NORMAL),
    ),
    Case(
        "guidance, production down is downgraded",
        guidance(PROD_DOWN_OPTION),
        Expected(RequestType.GUIDANCE, "form", PD, URGENT, downgraded=True),
    ),
    Case(
        "change, production down is downgraded",
        change(PROD_DOWN_OPTION),
        Expected(RequestType.CHANGE_REQUEST, "form", PD, URGENT, downgraded=True),
    ),
    Case(
        "change, urgent",
        change("Urgent"),
        Expected(RequestType.CHANGE_REQUEST, "form", URGENT, URGENT),
    ),
    Case(
        "label wins over body: problem label keeps production down",
        problem(PROD_DOWN_OPTION),
        Expected(RequestType.PROBLEM, "label", PD, PD),
        label=RequestType.PROBLEM,
    ),
    Case(
        "problem label on a guidance body: nobody said many users, so urgent",
        guidance(PROD_DOWN_OPTION),
        Expected(RequestType.PROBLEM, "label", PD, URGENT, downgraded=True),
        label=RequestType.PROBLEM,
    ),
    Case(
        "problem, production down, only my team: urgent",
        problem(PROD_DOWN_OPTION, "Only me or my team"),
        Expected(RequestType.PROBLEM, "form", PD, URGENT, downgraded=True),
    ),
    Case(
        "problem, production down, a few users: urgent",
        problem(PROD_DOWN_OPTION, "A few (up to 10)"),
        Expected(RequestType.PROBLEM, "form", PD, URGENT, downgraded=True),
    ),
    Case(
        "problem, production down, many users",
        problem(PROD_DOWN_OPTION, "Many (more than 10)"),
        Expected(RequestType.PROBLEM, "form", PD, PD),
    ),
    Case(
        "problem, production down, the answer left empty: urgent",
        problem(PROD_DOWN_OPTION, "_No response_"),
        Expected(RequestType.PROBLEM, "form", PD, URGENT, downgraded=True),
    ),
    Case(
        "label wins over body: other label downgrades",
        problem(PROD_DOWN_OPTION),
        Expected(RequestType.OTHER, "label", PD, URGENT, downgraded=True),
        label=RequestType.OTHER,
    ),
    Case(
        "priority as enum value",
        problem("production-down"),
        Expected(RequestType.PROBLEM, "form", PD, PD),
    ),
    Case(
        "priority shouted and spaced",
        problem("  PRODUCTION   DOWN  "),
        Expected(RequestType.PROBLEM, "form", PD, PD),
    ),
    Case(
        "priority with underscore",
        problem("Production_down"),
        Expected(RequestType.PROBLEM, "form", PD, PD),
    ),
    Case(
        "priority in bold",
        problem("**Urgent**"),
        Expected(RequestType.PROBLEM, "form", URGENT, URGENT),
    ),
    Case(
        "priority no response",
        problem("_No response_"),
        Expected(RequestType.PROBLEM, "form", None, NORMAL, assumed_default=True),
    ),
    Case(
        "priority unknown word",
        problem("High"),
        Expected(RequestType.PROBLEM, "form", None, NORMAL, assumed_default=True),
    ),
    Case(
        "priority word must be whole",
        problem("Urgently needed"),
        Expected(RequestType.PROBLEM, "form", None, NORMAL, assumed_default=True),
    ),
    Case(
        "priority empty uses the policy default",
        problem(""),
        Expected(RequestType.PROBLEM, "form", None, URGENT, assumed_default=True),
        default=URGENT,
    ),
    Case(
        "priority heading deleted: not a form submission",
        problem("Urgent").replace("### Priority\n\nUrgent\n\n", ""),
        OTHER_DEFAULT,
    ),
    Case(
        "priority heading deleted, type from label",
        problem("Urgent").replace("### Priority\n\nUrgent\n\n", ""),
        Expected(RequestType.PROBLEM, "label", None, NORMAL, assumed_default=True),
        label=RequestType.PROBLEM,
    ),
    Case(
        "edited body: preamble, extra #'s, lower case, no blank lines, trailing spaces",
        "Sorry, edited!\r\n#### priority  \r\nurgent  \r\n### Impact\r\nbig\r\n",
        Expected(RequestType.PROBLEM, "form", URGENT, URGENT),
    ),
    Case(
        "crlf body",
        problem("Urgent").replace("\n", "\r\n"),
        Expected(RequestType.PROBLEM, "form", URGENT, URGENT),
    ),
    Case(
        "priority inside the logs fence is ignored",
        problem("Normal").replace(
            "### Logs\n\n_No response_",
            "### Logs\n\n```shell\n### Priority\n\nProduction down\n```",
        ),
        Expected(RequestType.PROBLEM, "form", NORMAL, NORMAL),
    ),
    Case(
        "tie between forms: no type from the body",
        "### Priority\n\nUrgent\n\n### Impact\n\nx\n\n### Description\n\ny",
        Expected(RequestType.OTHER, "default", URGENT, URGENT),
    ),
    Case(
        "most distinctive headings win",
        problem("Urgent") + "\n\n### Description\n\nmore",
        Expected(RequestType.PROBLEM, "form", URGENT, URGENT),
    ),
    Case(
        "other form",
        "### Priority\n\nNormal\n\n### Description\n\nHi",
        Expected(RequestType.OTHER, "form", NORMAL, NORMAL),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_classify(case: Case) -> None:
    result = classify(case.body, type_from_labels=case.label, default_priority=case.default)
    assert (
        Expected(
            result.request_type,
            result.type_source,
            result.requested_priority,
            result.priority,
            result.downgraded,
            result.assumed_default,
        )
        == case.expected
    )


@pytest.mark.parametrize(
    ("affected", "reason"),
    [("All end users", None), ("Only me or my team", "audience"), ("all of them", None)],
)
def test_the_scope_rule_says_why_and_is_the_policys(affected: str, reason: str | None) -> None:
    result = classify(problem(PROD_DOWN_OPTION, affected))
    assert (result.downgrade_reason, result.audience) == (reason, affected)
    assert classify(guidance(PROD_DOWN_OPTION)).downgrade_reason == "type"
    strict = Scope(field="End users affected", answers=("All end users",))
    assert classify(problem(PROD_DOWN_OPTION, "Many"), scope=strict).priority is URGENT
    assert classify(problem(PROD_DOWN_OPTION, "All end users"), scope=strict).priority is PD


def test_fields_are_the_parsed_form_and_read_only() -> None:
    result = classify("### Priority\n\nUrgent\n\n### Description\n\nHi")
    assert dict(result.fields) == {"Priority": "Urgent", "Description": "Hi"}
    with pytest.raises(TypeError):
        result.fields["Priority"] = "Normal"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.priority = PD  # type: ignore[misc]
    assert hash(result) == hash(classify("### Priority\n\nUrgent\n\n### Description\n\nHi"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Production down — many end users cannot work (Problem/Troubleshooting only)", PD),
        ("production-down", PD),
        ("Production  -  down", PD),
        ("Urgent — blocking work", URGENT),
        ("urgent", URGENT),
        ("Normal—everything else", NORMAL),
        ("`normal`", NORMAL),
        ("_Normal_", NORMAL),
        ("Not urgent", None),
        ("Production", None),
        ("Normally fine", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_priority(value: str | None, expected: Priority | None) -> None:
    assert parse_priority(value) == expected


_BODY = st.text() | st.lists(
    st.sampled_from(
        [
            "### Priority",
            "### Impact",
            "### Description",
            "### What have you tried?",
            "Production down",
            "urgent",
            "Normal",
            "_No response_",
            "```",
            "",
        ]
    )
).map("\n".join)


@given(
    _BODY,
    st.none() | st.sampled_from(RequestType.BUILT_IN),
    st.sampled_from(Priority.BUILT_IN),
)
def test_invariants(body: str, label: RequestType | None, default: Priority) -> None:
    result = classify(body, type_from_labels=label, default_priority=default)
    assert isinstance(result, Classification)
    assert (result.type_source == "label") == (label is not None)
    assert label is None or result.request_type is label
    assert result.assumed_default == (result.requested_priority is None)
    in_scope = result.request_type is RequestType.PROBLEM and Scope().admits(result.audience)
    assert result.downgraded == (result.requested_priority is PD and not in_scope)
    assert result.downgraded == (result.downgrade_reason is not None)
    if result.downgraded:
        assert result.priority is URGENT
    elif result.assumed_default:
        assert result.priority is default
    else:
        assert result.priority is result.requested_priority
