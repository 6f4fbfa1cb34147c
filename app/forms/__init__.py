"""The issue forms and `config.yml`, written from the policy: one form per request type with
the policy's priorities in its dropdown, its targets, labels and contact links (`sla-bot
forms`). The shipped `.github/ISSUE_TEMPLATE/` is this for the built-in policy."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from app.forms.dump import dump
from app.sla.domain import Priority, RequestType
from app.sla.policy import Policy
from app.sla.policy_sections import PriorityPolicy
from app.sla.target import Target

PRIORITY_HEADING = "Priority"
INTRO = "**Priorities.** Pick the one that fits; the support team may change it."
# The example domains (RFC 2606) and Slack's example workspace: a link there is a placeholder.
_PLACEHOLDER_HOST = re.compile(r"(^|\.)example\.(com|org|net)$|^example\.slack\.com$")
CONTACTS = ("slack_help_url", "escalation_url")


def promise(target: Target, calendar: str) -> str:
    """A first-response target as the forms tell it to customers."""
    if target.next_business_day:
        return "by end of the next business day"
    if target.days:
        if calendar == "24/7":
            return f"within {_count(target.days, 'day')}"
        return f"by end of the {_ordinal(target.days)} business day"
    hours, minutes = divmod(target.minutes, 60)
    if calendar == "24/7":
        span = _count(hours, "hour") if not minutes else _count(target.minutes, "minute")
        return f"within {span} 24/7"
    if not minutes:
        return f"within {_count(hours, 'business hour')}"
    return f"within {_count(target.minutes, 'business minute')}"


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def web(url: str | None) -> str | None:
    """GitHub's config.yml takes http(s) links only: its schema's `url` is `^https?://`
    (SchemaStore github-issue-config.json, which check-jsonschema vendors)."""
    return url if url and url.startswith(("https://", "http://")) else None


def placeholder(url: str | None) -> bool:
    """A link to an example domain (`https://example.slack.com/...`): never to publish."""
    host = urlsplit(url).hostname if url else None
    return host is not None and bool(_PLACEHOLDER_HOST.search(host))


def placeholders(policy: Policy) -> list[tuple[str, str]]:
    """The policy's contact links that are placeholders: (key, url)."""
    found = ((key, getattr(policy.contacts, key)) for key in CONTACTS)
    return [(f"contacts.{key}", url) for key, url in found if placeholder(url)]


def render(policy: Policy) -> dict[str, str]:
    """File name -> YAML text, for `.github/ISSUE_TEMPLATE/`: exactly the policy's types."""
    files = {f"{kind}.yml": dump(form(policy, kind)) for kind in policy.types}
    files["config.yml"] = config(policy)
    return files


def form(policy: Policy, kind: RequestType) -> dict[str, Any]:
    """One type's issue form: its priorities explained, the dropdown, then its fields."""
    spec = policy.types[kind]
    chosen = [p for p, rules in policy.priorities.items() if rules.chosen_by == "anyone"]
    text = "\n".join([INTRO, *(_bullet(policy, p, kind) for p in chosen)]) + "\n"
    if spec.note:
        text += f"\n{spec.note.strip()}\n"
    dropdown = {
        "type": "dropdown",
        "id": "priority",
        "attributes": {
            "label": PRIORITY_HEADING,
            "options": [_option(policy, p) for p in chosen],
        },
        "validations": {"required": True},
    }
    return {
        "name": policy.type_name(kind),
        "description": spec.about,
        "labels": [spec.label],
        "body": [
            {"type": "markdown", "attributes": {"value": text}},
            dropdown,
            *spec.fields,
        ],
    }


def _option(policy: Policy, key: Priority) -> str:
    """`Sev 1 — the platform is down (Bug only; on-call is paged, response within 15 …)`."""
    rules = policy.priorities[key]
    notes = []
    if rules.requires is not None and rules.requires.type:
        notes.append(f"{_types(policy, rules)} only")
    paged = "on-call is paged, " if rules.page else ""
    notes.append(f"{paged}response {promise(rules.within, rules.calendar)}")
    said = f" — {rules.form}" if rules.form else ""
    return f"{policy.name_of(key)}{said} ({'; '.join(notes)})"


def _bullet(policy: Policy, key: Priority, kind: RequestType) -> str:
    """One priority explained on `kind`'s form: what it is for and what it promises."""
    rules, name = policy.priorities[key], policy.name_of(key)
    rule = rules.requires
    if rule is not None and rule.type and kind not in rule.type:
        lower = policy.lower(key)
        where = f" where {rules.form}" if rule.end_users and rules.form else ""
        handled = (
            f" Chosen here, the request is handled as {policy.name_of(lower)}." if lower else ""
        )
        call = " and call the escalation number" if rules.page and _number(policy) else ""
        return (
            f"- **{name}** is only for {_types(policy, rules)} requests{where}.{handled} "
            f"{name}? Use the {_types(policy, rules)} form{call}."
        )
    due = promise(rules.within, rules.calendar)
    what = f"- **{name}**: {rules.form}." if rules.form else f"- **{name}**."
    if rules.page:
        call = f" {name} right now? Also call the escalation number{_number(policy)}."
        paged = f" The on-call engineer is paged at once and answers {due}."
        return what + paged + (call if _number(policy) else "")
    return f"{what} First response {due}."


def _types(policy: Policy, rules: PriorityPolicy) -> str:
    kinds = rules.requires.type if rules.requires is not None else ()
    return " or ".join(policy.type_name(kind) for kind in kinds)


def _number(policy: Policy) -> str:
    """Where the escalation number is: a `tel:` link cannot go in config.yml (http(s) only),
    so the forms give the number itself; a web page is linked on the new-issue page."""
    url = policy.contacts.escalation_url
    if url and url.startswith("tel:"):
        return f" ({url.removeprefix('tel:')})"
    return " (linked on the new-issue page)" if web(url) else ""


def config(policy: Policy) -> str:
    """`config.yml`: blank issues off, and the policy's http(s) contact links (none made up)."""
    links = []
    slack = web(policy.contacts.slack_help_url)
    if slack:
        links.append(
            {
                "name": "Slack help channel",
                "url": slack,
                "about": "Quick questions and chat with the support team during business hours.",
            }
        )
    escalation = web(policy.contacts.escalation_url)
    paging = policy.paging
    if escalation and paging is not None:
        name = policy.name_of(paging)
        kinds = _types(policy, policy.priorities[paging])
        then = f", then open a {kinds} issue" if kinds else ""
        links.append(
            {
                "name": f"Escalation phone number ({name.lower()})",
                "url": escalation,
                "about": f"{name}? Call the on-call engineer{then}.",
            }
        )
    data: dict[str, Any] = {"blank_issues_enabled": False}
    if links:
        data["contact_links"] = links
    return dump(data)


__all__ = ["Priority", "placeholder", "placeholders", "promise", "render", "web"]
