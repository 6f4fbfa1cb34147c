"""Triage (pure): which labels a new issue gets and what the customer is told on intake."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from app.github.issue import Issue
from app.sla.classifier import Classification, Scope, classify
from app.sla.clock import Clock
from app.sla.domain import Priority, RequestType
from app.sla.policy import Policy

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
NOTE_DOWNGRADED = (
    "\n\n> **Why Urgent and not Production down?** Production down is reserved for "
    "Problem/Troubleshooting requests that stop many end users from working; it pages the "
    "on-call engineer at any hour. If that is what is happening, please open a "
    "Problem/Troubleshooting request or call the escalation number."
)
NOTE_NARROW = (
    "\n\n> **Why Urgent and not Production down?** Production down is reserved for problems "
    "that stop many or all end users from working; it pages the on-call engineer at any hour. "
    "Under *{field}* this request says *{answer}*. If more users are affected, say so in a "
    "comment and an engineer will raise the priority, or call the escalation number."
)
NOTE_ASSUMED = (
    "\n\n> We could not find a priority in this request, so we set **{priority}**. If it "
    "is blocking your work or affecting your end users, say so in a comment and an engineer "
    "will relabel it (`{urgent}`)."
)
NOTE_PAGED = "\n\nThe on-call engineer has been paged."
NOTE_PERSON_SET = "\n\nThe priority was set by a team member."


@dataclass(frozen=True)
class IntakeDecision:
    priority: Priority
    request_type: RequestType
    labels_to_add: list[str]
    classification: Classification
    person_set_priority: bool


def decide(issue: Issue, policy: Policy) -> IntakeDecision:
    """Classify a new issue; a priority label a person already set is never overridden."""
    labeled_type = issue.request_type(policy)
    rule = policy.production_down_scope
    result = classify(
        issue.body,
        type_from_labels=labeled_type,
        default_priority=policy.default_priority,
        scope=Scope(field=rule.field, answers=rule.answers),
    )
    labeled_priority = issue.priority(policy)
    priority = labeled_priority or result.priority
    add = []
    if labeled_priority is None:
        add.append(policy.priorities[priority].label)
    if labeled_type is None:
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
    notes = ""
    if decision.person_set_priority:
        notes += NOTE_PERSON_SET
    elif decision.classification.downgrade_reason == "type":
        notes += NOTE_DOWNGRADED
    elif decision.classification.downgrade_reason == "audience":
        answer = decision.classification.audience or "no answer"
        # The customer's own words, shown as text: no mention, link or HTML of theirs.
        notes += NOTE_NARROW.format(
            field=as_text(policy.production_down_scope.field), answer=as_text(answer)
        )
    elif decision.classification.assumed_default:
        notes += NOTE_ASSUMED.format(
            priority=decision.priority.title, urgent=policy.priorities[Priority.URGENT].label
        )
    if policy.priorities[decision.priority].page and policy.slack.page_channel:
        notes += NOTE_PAGED
    template = INTAKE_COMMENT_LATE if now >= due else INTAKE_COMMENT
    return template.format(
        author=issue.author,
        type=decision.request_type.title,
        priority=decision.priority.title,
        due=local_time(due, policy),
        notes=notes,
    )


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
