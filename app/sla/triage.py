"""Triage (pure): which labels a new issue gets and what the customer is told on intake."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.sla.classifier import (
    DISTINCTIVE_HEADINGS,
    Classification,
    Rung,
    Scope,
    Vocabulary,
    classify,
)
from app.sla.clock import Clock
from app.sla.domain import Priority, RequestType
from app.sla.issue import Issue
from app.sla.policy import Policy
from app.sla.policy_sections import Requires
from app.sla.vocabulary import builtin_fields

INTAKE_COMMENT = (
    "Thanks for your request, @{author}. We have it as **{type}** with priority "
    "**{priority}**.\n\n"
    "You can expect a first response by **{due}**.{notes}"
)
# Processed after its promise was due (redelivered hours later, recovered by a reconcile):
# never promise a time that has passed.
INTAKE_COMMENT_LATE = (
    "Thanks for your request, @{author}. We have it as **{type}** with priority "
    "**{priority}**.\n\n"
    "We are sorry: your request reached us late, after the first response we promise for it "
    "was due (**{due}**). The team has been alerted and will answer as soon as possible.{notes}"
)
# Why a requested priority became a lower one, by the rule it did not meet (classifier).
NOTE_DOWNGRADED = (
    "\n\n> **Why {lower} and not {higher}?** {higher} is reserved for {types} requests"
    "{where}{pages}. If that is what is happening, please open a {types} request{call}."
)
NOTE_NARROW = (
    "\n\n> **Why {lower} and not {higher}?** {higher} is reserved for requests{where}{pages}. "
    "Under *{field}* this request says *{answer}*. If more users are affected, say so in a "
    "comment and an engineer will raise the priority{call}."
)
NOTE_TEAM = (
    "\n\n> **Why {lower} and not {higher}?** Only the team sets {higher}. If you need it, say "
    "so in a comment and an engineer will raise the priority."
)
NOTE_ASSUMED = "\n\n> We could not find a priority in this request, so we set **{priority}**.{more}"
# The priority just above the one assumed, so the customer knows what to ask for.
NOTE_MORE = (
    " If it is more urgent (**{above}**{form}), say so in a comment and an engineer will "
    "relabel it (`{label}`)."
)
_NOTES = {"type": NOTE_DOWNGRADED, "audience": NOTE_NARROW, "team": NOTE_TEAM}
NOTE_PAGED = "\n\nThe on-call engineer has been paged."
NOTE_PERSON_SET = "\n\nThe priority was set by a team member."


@dataclass(frozen=True)
class IntakeDecision:
    priority: Priority
    request_type: RequestType
    labels_to_add: list[str]
    classification: Classification
    person_set_priority: bool


# The vocabulary of each policy in use, made once: a delivery is triaged up to three times
# (the receiver's lane, the handler's paging policy, the intake it stores), and making it
# again each time walked every form's fields. The policy is kept with it, so its id is not
# reused while its entry stands.
_MADE: dict[int, tuple[Policy, Vocabulary]] = {}
_MADE_MOST = 64  # policies in use at once: a few per repository whose policy changed


def vocabulary(policy: Policy) -> Vocabulary:
    """The policy's priorities and forms as the classifier reads them."""
    found = _MADE.get(id(policy))
    if found is not None and found[0] is policy:
        return found[1]
    if len(_MADE) >= _MADE_MOST:
        _MADE.clear()
    made = _made(policy)
    _MADE[id(policy)] = (policy, made)
    return made


def _made(policy: Policy) -> Vocabulary:
    return Vocabulary(
        rungs=tuple(
            Rung(
                key,
                (policy.name_of(key),),
                spec.requires.type if spec.requires else (),
                _scope(spec.requires),
                spec.chosen_by == "team",
            )
            for key, spec in policy.priorities.items()
        ),
        headings=_headings(policy),
        default_type=policy.default_type,
    )


def _scope(rule: Requires | None) -> Scope | None:
    return None if rule is None or not rule.end_users else Scope(rule.field, rule.end_users)


def _headings(policy: Policy) -> dict[RequestType, tuple[str, ...]]:
    """Each form's headings that no other form has: the body tells which form was used
    (a built-in form, unchanged, keeps its hand-picked ones)."""
    labels = {kind: form_labels(spec.fields) for kind, spec in policy.types.items()}
    seen = Counter(label.casefold() for found in labels.values() for label in set(found))
    return {
        kind: DISTINCTIVE_HEADINGS[kind]
        if kind in DISTINCTIVE_HEADINGS and builtin_fields(kind) == policy.types[kind].fields
        else tuple(label for label in found if seen[label.casefold()] == 1)
        for kind, found in labels.items()
    }


def form_labels(fields: tuple[dict[str, Any], ...]) -> list[str]:
    """The headings a submitted form's body has (markdown elements are not submitted)."""
    return [
        str(element.get("attributes", {}).get("label", ""))
        for element in fields
        if element.get("type") != "markdown"
    ]


def decide(issue: Issue, policy: Policy) -> IntakeDecision:
    """Classify a new issue; a priority label a person already set is never overridden."""
    labeled_type = issue.request_type(policy)
    result = classify(
        issue.body,
        type_from_labels=labeled_type,
        default_priority=policy.default_priority,
        vocabulary=vocabulary(policy),
    )
    labeled_priority = issue.priority(policy)
    priority = labeled_priority or result.priority
    add = []
    if labeled_priority is None:
        add.append(policy.label_for(priority))
    if labeled_type is None and result.request_type in policy.types:
        add.append(policy.types[result.request_type].label)
    return IntakeDecision(
        priority=priority,
        request_type=result.request_type,
        labels_to_add=add,
        classification=result,
        person_set_priority=labeled_priority is not None,
    )


def intake_comment(issue: Issue, decision: IntakeDecision, policy: Policy, now: datetime) -> str:
    """The one comment a customer gets on intake: classification and the promised time (or,
    when that time has already passed, an apology instead of a promise in the past)."""
    due = policy.due_at(decision.priority, issue.created_at)
    notes = NOTE_PERSON_SET if decision.person_set_priority else _why(decision, policy)
    if policy.pages(decision.priority) and policy.slack.page_channel:
        notes += NOTE_PAGED
    template = INTAKE_COMMENT_LATE if now >= due else INTAKE_COMMENT
    return template.format(
        author=issue.author,
        type=policy.type_name(decision.request_type),
        priority=policy.name_of(decision.priority),
        due=local_time(due, policy),
        notes=notes,
    )


def _why(decision: IntakeDecision, policy: Policy) -> str:
    """The note that explains a downgrade by its rule, or the priority assumed."""
    result = decision.classification
    if result.downgrade_reason and result.refused_by is not None:
        higher = result.refused_by
        spec = policy.spec(higher)
        rule = spec.requires
        # The customer's own words, shown as text: no mention, link or HTML of theirs.
        return _NOTES[result.downgrade_reason].format(
            lower=policy.name_of(decision.priority),
            higher=policy.name_of(higher),
            types=" or ".join(policy.type_name(t) for t in rule.type) if rule else "",
            where=f" where {spec.form}" if rule and rule.end_users and spec.form else "",
            pages="; it pages the on-call engineer at any hour" if spec.page else "",
            call=" or call the escalation number" if spec.page else "",
            field=as_text(rule.field) if rule else "",
            answer=as_text(result.audience or "no answer"),
        )
    if result.assumed_default:
        above = _above(policy, decision.priority)
        more = ""
        if above is not None:
            form = policy.spec(above).form
            more = NOTE_MORE.format(
                above=policy.name_of(above),
                form=f": {form}" if form else "",
                label=policy.label_for(above),
            )
        return NOTE_ASSUMED.format(priority=policy.name_of(decision.priority), more=more)
    return ""


def _above(policy: Policy, priority: Priority) -> Priority | None:
    """The next more urgent priority, if any."""
    keys = list(policy.priorities)
    at = keys.index(priority) if priority in keys else 0
    return keys[at - 1] if at > 0 else None


# What makes Markdown of text: emphasis, code, links and images (brackets), HTML, tables,
# strikethrough. Parentheses alone make nothing, and "(up to 10)" stays readable.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~])")
# A mention is not Markdown, and a backslash is not sure to stop GitHub from notifying: an
# invisible word joiner after the @ keeps "@acme/everyone" from naming anyone.
_MENTION = "@\u2060"


def as_text(name: str) -> str:
    """A name (a Slack display name, a login) or a customer's answer as plain text in GitHub
    Markdown: no mention, link, emphasis or HTML."""
    return _MARKDOWN.sub(r"\\\1", " ".join(name.split())).replace("@", _MENTION)


def local_time(at: datetime, policy: Policy) -> str:
    """`Mon 30 Nov 2026, 09:30 CET (Europe/Amsterdam)`: a customer's reading of a due time."""
    local = at.astimezone(policy.tz)
    return f"{local:%a %d %b %Y, %H:%M %Z} ({policy.timezone})"


STANDING_HEADING = "**Where your request stands** (kept up to date by sla-bot)"


def standing(clocks: list[Clock], policy: Policy) -> str:
    """What the customer reads under the intake comment once the team has answered: the
    first response, and each promise still running (what is owed, by when, or paused)."""
    lines = []
    first = [c for c in clocks if c.kind == "response" and c.state not in ("replaced", "dropped")]
    if first and first[-1].met_at is not None:
        # Plain text: the responder may be a Slack name, never a GitHub mention.
        who = f" by {as_text(first[-1].responder)}" if first[-1].responder else ""
        lines.append(f"- First response: {local_time(first[-1].met_at, policy)}{who}")
    for clock in clocks:
        if clock.state not in ("running", "paused", "breached") or clock.kind not in _OWED:
            continue
        if clock.state == "paused" and clock.paused_at is not None:
            since = local_time(clock.paused_at, policy)
            lines.append(
                f"- {_OWED[clock.kind]}: paused while we wait for your reply (since "
                f"{since}); your next comment resumes it"
            )
        else:
            lines.append(f"- {_OWED[clock.kind]}: by **{local_time(clock.due_at, policy)}**")
    return "" if not lines else "\n\n---\n" + STANDING_HEADING + "\n" + "\n".join(lines)


_OWED = {
    "next_response": "Our answer to your last comment",
    "update": "Our next update on this incident",
    "resolution": "Resolution of your request",
}
