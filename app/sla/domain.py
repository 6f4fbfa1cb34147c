"""The domain words, named once: priorities, request types and their defaults."""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    """A request's priority; the policy maps each to a label and a target."""

    PRODUCTION_DOWN = "production-down"
    URGENT = "urgent"
    NORMAL = "normal"

    @property
    def rank(self) -> int:
        """Higher is more severe: with several priority labels the highest counts."""
        return _RANK[self]

    @property
    def title(self) -> str:  # type: ignore[override]
        return _PRIORITY_TITLES[self]


_RANK = {Priority.NORMAL: 0, Priority.URGENT: 1, Priority.PRODUCTION_DOWN: 2}
_PRIORITY_TITLES = {
    Priority.PRODUCTION_DOWN: "Production down",
    Priority.URGENT: "Urgent",
    Priority.NORMAL: "Normal",
}


class RequestType(StrEnum):
    """A request's type; one issue form and one label each."""

    ADD_REMOVE_USER = "add-remove-user"
    CHANGE_REQUEST = "change-request"
    GUIDANCE = "guidance"
    ON_CALL = "on-call"
    PROBLEM = "problem"
    OTHER = "other"

    @property
    def title(self) -> str:  # type: ignore[override]
        return _TYPE_TITLES[self]


_TYPE_TITLES = {
    RequestType.ADD_REMOVE_USER: "Add/Remove User",
    RequestType.CHANGE_REQUEST: "Change Request",
    RequestType.GUIDANCE: "Guidance & usage support",
    RequestType.ON_CALL: "On-call",
    RequestType.PROBLEM: "Problem/Troubleshooting",
    RequestType.OTHER: "Other",
}

BREACHED_LABEL = "sla: breached"
