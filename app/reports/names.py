"""The names people read for priority and type keys, and their order, from a policy."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from app.sla.policy import DEFAULT_POLICY, Policy


@dataclass(frozen=True)
class Names:
    """Display names by key, priorities most urgent first. A key the policy no longer has
    (history from before a change of vocabulary) reads as its built-in name or as itself."""

    priorities: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)

    def priority(self, key: str) -> str:
        return self.priorities.get(key) or _fallback(DEFAULT_POLICY.name_of, key)

    def type(self, key: str) -> str:
        return self.types.get(key) or _fallback(DEFAULT_POLICY.type_name, key)

    def priority_order(self, present: Iterable[str] = ()) -> list[str]:
        """The policy's priorities, then any other key in `present`, sorted."""
        known = list(self.priorities)
        return known + sorted(set(present) - set(known))

    def type_order(self, present: Iterable[str] = ()) -> list[str]:
        known = list(self.types)
        return known + sorted(set(present) - set(known))


def _fallback(name: Callable[[str], str], key: str) -> str:
    try:
        return name(key)
    except ValueError:  # not even a key (an old store's odd row): shown as it is
        return key


def names_of(policy: Policy) -> Names:
    return Names(
        {str(key): policy.name_of(key) for key in policy.priorities},
        {str(key): policy.type_name(key) for key in policy.types},
    )


BUILT_IN = names_of(DEFAULT_POLICY)
