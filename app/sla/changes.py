"""What a new policy does to the clocks the old one started: renamed, removed and retimed
priorities and types, said the way `check-policy --was` prints them (pure)."""

from __future__ import annotations

from app.sla.policy import Policy
from app.sla.policy_sections import PriorityPolicy

_TARGETS = ("within", "calendar", "next_response", "updates_every", "resolution")


def changes(old: Policy, new: Policy) -> list[str]:
    """One line per change a running clock or a report would notice."""
    lines = []
    for key, was in old.priorities.items():
        now = new.priorities.get(key)
        if now is None:
            lines.append(
                f"priority {key}: removed; its running clocks run to their end on "
                f"{new.default_priority}'s targets, never page, and report under '{key}'"
            )
            continue
        lines += _renamed("priority", str(key), old.name_of(key), new.name_of(key))
        lines += _relabeled("priority", str(key), was.label, now.label)
        if _targets(was) != _targets(now):
            lines.append(
                f"priority {key}: targets change; running clocks keep the due time they "
                "started with, new clocks get the new targets"
            )
        if was.page != now.page:
            lines.append(
                f"priority {key}: {'pages' if now.page else 'no longer pages'} from now on"
            )
    for kind in old.types:
        if kind not in new.types:
            lines.append(
                f"type {kind}: removed; its form is gone, its requests report under '{kind}'"
            )
            continue
        lines += _renamed("type", str(kind), old.type_name(kind), new.type_name(kind))
        lines += _relabeled("type", str(kind), old.types[kind].label, new.types[kind].label)
    lines += [f"priority {key}: new" for key in new.priorities if key not in old.priorities]
    lines += [f"type {kind}: new" for kind in new.types if kind not in old.types]
    return lines


def _renamed(noun: str, key: str, was: str, now: str) -> list[str]:
    if was == now:
        return []
    return [f"{noun} {key}: renamed {was!r} -> {now!r}; its clocks and report rows stay"]


def _relabeled(noun: str, key: str, was: str, now: str) -> list[str]:
    if was.casefold() == now.casefold():
        return []
    return [
        f"{noun} {key}: label {was!r} -> {now!r}; create the new label (install does) and "
        f"relabel open issues: an issue with only {was!r} is no longer read as {key}"
    ]


def _targets(spec: PriorityPolicy) -> tuple[object, ...]:
    return tuple(getattr(spec, name) for name in _TARGETS)
