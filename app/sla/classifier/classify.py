"""Classify an issue: request type, requested and effective priority, the scope verdict."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from app.sla.classifier.form import parse_form
from app.sla.domain import Priority, RequestType

TypeSource = Literal["label", "form", "default"]
# Why a requested Production down became Urgent: not a Problem/Troubleshooting request, or
# the form does not say that many end users are affected.
DowngradeReason = Literal["type", "audience"]

PRIORITY_HEADING = "Priority"

# GitHub does not add a form's `labels:` when the label is missing from the repository, so
# the body itself must tell which form was used: each form has headings no other form has.
# https://docs.github.com/en/communities/using-templates-to-encourage-useful-issues-and-pull-requests/syntax-for-issue-forms
DISTINCTIVE_HEADINGS: Mapping[RequestType, tuple[str, ...]] = MappingProxyType(
    {
        RequestType.ADD_REMOVE_USER: ("Add or remove", "Users", "System and access level"),
        RequestType.CHANGE_REQUEST: ("Change to make", "Wanted date", "Rollback plan and risk"),
        RequestType.GUIDANCE: (
            "What are you trying to do?",
            "What have you tried?",
            "Documentation you read",
        ),
        RequestType.ON_CALL: (
            "What needs on-call support?",
            "Time window",
            "Contact during the window",
        ),
        RequestType.PROBLEM: (
            "Impact",
            "End users affected",
            "Since when",
            "Steps to reproduce",
            "Logs",
        ),
        RequestType.OTHER: ("Description",),
    }
)

# The leading words of a Priority answer; the scope text after them is ignored.
_PRIORITY_WORDS = re.compile(
    r"^[\W_]*"  # markdown emphasis, quotes, list markers
    r"(?:(?P<production_down>production[\s_-]*down)|(?P<urgent>urgent)|(?P<normal>normal))"
    r"(?![^\W_])",  # a whole word: "Normally" is not "Normal"
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Scope:
    """When Production down is in scope for a Problem request: the form's `field` answered
    with one of `answers` (matched by leading words, ignoring case)."""

    field: str = "End users affected"
    answers: tuple[str, ...] = ("Many", "All")

    def admits(self, answer: str | None) -> bool:
        said = _normal(answer or "")
        return any(said.startswith(_normal(wanted)) for wanted in self.answers if wanted.strip())


@dataclass(frozen=True, slots=True)
class Classification:
    """What intake decided about an issue, and why."""

    request_type: RequestType
    type_source: TypeSource
    requested_priority: Priority | None
    priority: Priority
    downgraded: bool
    assumed_default: bool
    fields: Mapping[str, str | None] = field(hash=False)
    downgrade_reason: DowngradeReason | None = None
    audience: str | None = None  # the answer to the scope's field, as given


def classify(
    body: str | None,
    *,
    type_from_labels: RequestType | None = None,
    default_priority: Priority = Priority.NORMAL,
    scope: Scope = Scope(),
) -> Classification:
    """Classify an issue from its body and the type label its form applied, if any.

    Production down is only in scope for a Problem/Troubleshooting request whose form says
    many or all end users are affected (`scope`): requested otherwise, it becomes urgent. A
    body without a recognisable priority gets `default_priority`.
    """
    fields = parse_form(body)
    request_type, type_source = _request_type(fields, type_from_labels)
    requested = parse_priority(_field(fields, PRIORITY_HEADING))
    priority = default_priority if requested is None else requested
    audience = _field(fields, scope.field)
    reason: DowngradeReason | None = None
    if requested is Priority.PRODUCTION_DOWN:
        if request_type is not RequestType.PROBLEM:
            reason = "type"
        elif not scope.admits(audience):
            reason = "audience"
    return Classification(
        request_type=request_type,
        type_source=type_source,
        requested_priority=requested,
        priority=Priority.URGENT if reason else priority,
        downgraded=reason is not None,
        assumed_default=requested is None,
        fields=MappingProxyType(fields),
        downgrade_reason=reason,
        audience=audience,
    )


def parse_priority(value: str | None) -> Priority | None:
    """The priority a Priority answer names by its leading words, or None."""
    match = _PRIORITY_WORDS.match(value or "")
    if match is None:
        return None
    return Priority(match.lastgroup.replace("_", "-")) if match.lastgroup else None


def recognise_form(fields: Mapping[str, str | None]) -> RequestType | None:
    """The form whose distinctive headings the body has most of; None if none or a tie.

    Every form has a Priority heading, so a body without one is not a form submission.
    """
    present = {_normal(heading) for heading in fields}
    if _normal(PRIORITY_HEADING) not in present:
        return None
    scores = {
        request_type: sum(_normal(heading) in present for heading in headings)
        for request_type, headings in DISTINCTIVE_HEADINGS.items()
    }
    best = max(scores.values())
    winners = [request_type for request_type, score in scores.items() if score == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def _request_type(
    fields: Mapping[str, str | None], type_from_labels: RequestType | None
) -> tuple[RequestType, TypeSource]:
    if type_from_labels is not None:
        return type_from_labels, "label"
    recognised = recognise_form(fields)
    if recognised is not None:
        return recognised, "form"
    return RequestType.OTHER, "default"


def _field(fields: Mapping[str, str | None], heading: str) -> str | None:
    """A field's value by heading, ignoring case and spacing that users change."""
    wanted = _normal(heading)
    return next((value for key, value in fields.items() if _normal(key) == wanted), None)


def _normal(heading: str) -> str:
    return " ".join(heading.casefold().split())
