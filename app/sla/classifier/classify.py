"""Classify an issue: request type, requested and effective priority, the scope verdict."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from app.sla.classifier.form import parse_form
from app.sla.domain import Priority, RequestType

TypeSource = Literal["label", "form", "default"]
# Why a requested priority became a lower one: the rule names other types, the form does not
# give one of the rule's answers (the built-in: many end users affected), or only the team
# may set it.
DowngradeReason = Literal["type", "audience", "team"]

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

# The leading words of a Priority answer; the text after them is ignored. Separators in a
# name ("Production down", "production-down") are interchangeable; a whole word must follow.
_SEPARATOR = r"[\s_-]*"
_LEAD = r"^[\W_]*"  # markdown emphasis, quotes, list markers
_WHOLE = r"(?![^\W_])"  # "Normally" is not "Normal"


@dataclass(frozen=True, slots=True)
class Scope:
    """When a priority's rule admits a request by its form: the form's `field` answered
    with one of `answers` (matched by leading words, ignoring case; any answer when none)."""

    field: str = "End users affected"
    answers: tuple[str, ...] = ("Many", "All")

    def admits(self, answer: str | None) -> bool:
        said = _normal(answer or "")
        wanted = [_normal(w) for w in self.answers if w.strip()]
        return not wanted or any(said.startswith(w) for w in wanted)


@dataclass(frozen=True, slots=True)
class Rung:
    """A priority as the classifier sees it: the words that name it in a Priority answer and
    its rule (`types`: any when empty; `scope`: none when None). `team_only`: a customer's
    form may not choose it."""

    key: Priority
    names: tuple[str, ...]
    types: tuple[RequestType, ...] = ()
    scope: Scope | None = None
    team_only: bool = False

    def refuses(self, request_type: RequestType, answer: str | None) -> DowngradeReason | None:
        """Why a request may not have this priority, or None when it may."""
        if self.team_only:
            return "team"
        if self.types and request_type not in self.types:
            return "type"
        if self.scope is not None and not self.scope.admits(answer):
            return "audience"
        return None


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A policy's priorities (most urgent first) and its forms' distinctive headings."""

    rungs: tuple[Rung, ...]
    headings: Mapping[RequestType, tuple[str, ...]]
    default_type: RequestType = RequestType.OTHER

    def rung(self, key: Priority) -> Rung | None:
        return next((r for r in self.rungs if r.key == key), None)

    def below(self, key: Priority) -> Priority | None:
        keys = [r.key for r in self.rungs]
        at = keys.index(key) if key in keys else len(keys)
        return keys[at + 1] if at + 1 < len(keys) else None


def built_in(scope: Scope = Scope()) -> Vocabulary:
    """The built-in priorities and forms, with `scope` as production down's rule."""
    return Vocabulary(
        rungs=(
            Rung(Priority.PRODUCTION_DOWN, ("production down",), (RequestType.PROBLEM,), scope),
            Rung(Priority.URGENT, ("urgent",)),
            Rung(Priority.NORMAL, ("normal",)),
        ),
        headings=DISTINCTIVE_HEADINGS,
    )


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
    audience: str | None = None  # the answer to the refusing rule's field, as given
    refused_by: Priority | None = None  # the priority whose rule the request did not meet


def classify(
    body: str | None,
    *,
    type_from_labels: RequestType | None = None,
    default_priority: Priority = Priority.NORMAL,
    scope: Scope = Scope(),
    vocabulary: Vocabulary | None = None,
) -> Classification:
    """Classify an issue from its body and the type label its form applied, if any.

    A priority with a rule (the built-in: production down only for a Problem/Troubleshooting
    request whose form says many or all end users are affected, `scope`) is only given to a
    request that meets it: requested otherwise, the request gets the next lower priority that
    it meets. A body without a recognisable priority gets `default_priority`.
    """
    words = vocabulary or built_in(scope)
    fields = parse_form(body)
    request_type, type_source = _request_type(fields, type_from_labels, words)
    requested = parse_priority(_field(fields, PRIORITY_HEADING), words.rungs)
    priority = default_priority if requested is None else requested
    first: tuple[Rung, DowngradeReason, str | None] | None = None
    rung = words.rung(priority) if requested is not None else None
    while rung is not None:
        answer = None if rung.scope is None else _field(fields, rung.scope.field)
        reason = rung.refuses(request_type, answer)
        if reason is None:
            break
        first = first or (rung, reason, answer)
        lower = words.below(rung.key)
        priority = default_priority if lower is None else lower
        rung = words.rung(priority) if lower is not None else None
    refused = first[0] if first else None
    return Classification(
        request_type=request_type,
        type_source=type_source,
        requested_priority=requested,
        priority=priority,
        downgraded=first is not None,
        assumed_default=requested is None,
        fields=MappingProxyType(fields),
        downgrade_reason=first[1] if first else None,
        audience=first[2] if first else _field(fields, scope.field),
        refused_by=refused.key if refused else None,
    )


def parse_priority(value: str | None, rungs: tuple[Rung, ...] | None = None) -> Priority | None:
    """The priority a Priority answer names by its leading words (its name or key), or None.
    The longest name wins: "Sev 10" is not "Sev 1"."""
    names = [(name, r.key) for r in (rungs or built_in().rungs) for name in (*r.names, r.key)]
    for name, key in sorted(names, key=lambda pair: -len(pair[0])):
        if _naming(name).match(value or ""):
            return key
    return None


@functools.lru_cache(maxsize=256)
def _naming(name: str) -> re.Pattern[str]:
    words = [re.escape(word) for word in re.split(r"[\s_-]+", name.strip()) if word]
    return re.compile(_LEAD + _SEPARATOR.join(words) + _WHOLE, re.IGNORECASE)


def recognise_form(
    fields: Mapping[str, str | None],
    headings: Mapping[RequestType, tuple[str, ...]] = DISTINCTIVE_HEADINGS,
) -> RequestType | None:
    """The form whose distinctive headings the body has most of; None if none or a tie.

    Every form has a Priority heading, so a body without one is not a form submission.
    """
    present = {_normal(heading) for heading in fields}
    if _normal(PRIORITY_HEADING) not in present:
        return None
    scores = {
        request_type: sum(_normal(heading) in present for heading in own)
        for request_type, own in headings.items()
    }
    best = max(scores.values())
    winners = [request_type for request_type, score in scores.items() if score == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def _request_type(
    fields: Mapping[str, str | None], type_from_labels: RequestType | None, words: Vocabulary
) -> tuple[RequestType, TypeSource]:
    if type_from_labels is not None:
        return type_from_labels, "label"
    recognised = recognise_form(fields, words.headings)
    if recognised is not None:
        return recognised, "form"
    return words.default_type, "default"


def _field(fields: Mapping[str, str | None], heading: str) -> str | None:
    """A field's value by heading, ignoring case and spacing that users change."""
    wanted = _normal(heading)
    return next((value for key, value in fields.items() if _normal(key) == wanted), None)


def _normal(heading: str) -> str:
    return " ".join(heading.casefold().split())
