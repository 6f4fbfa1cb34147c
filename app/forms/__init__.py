"""The issue forms and `config.yml`, written from the policy: its targets, type labels and
contact links (`sla-bot forms`). The shipped `.github/ISSUE_TEMPLATE/` is this for the
built-in policy."""

from __future__ import annotations

from importlib import resources
from string import Template

from app.sla.domain import Priority, RequestType
from app.sla.policy import Policy
from app.sla.target import Target

EXAMPLE_SLACK = "https://example.slack.com/archives/C0SUPPORT"
EXAMPLE_ESCALATION = "https://example.com/support/escalation"
FILES = (*(f"{t}.yml" for t in RequestType), "config.yml")


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
    """GitHub's config.yml takes http(s) links only (a `tel:` link needs a page around it)."""
    return url if url and url.startswith(("https://", "http://")) else None


def render(policy: Policy) -> dict[str, str]:
    """File name -> YAML text, for `.github/ISSUE_TEMPLATE/`."""
    values = {
        str(p).replace("-", "_"): promise(rules.within, rules.calendar)
        for p, rules in policy.priorities.items()
    }
    values["slack_help_url"] = web(policy.contacts.slack_help_url) or EXAMPLE_SLACK
    values["escalation_url"] = web(policy.contacts.escalation_url) or EXAMPLE_ESCALATION
    files = {}
    templates = resources.files(__package__) / "templates"
    for name in FILES:
        kind = name.removesuffix(".yml")
        label = policy.types[RequestType(kind)].label if kind != "config" else ""
        text = (templates / name).read_text(encoding="utf-8")
        files[name] = Template(text).substitute(values, type_label=label)
    return files


__all__ = ["Priority", "promise", "render"]
