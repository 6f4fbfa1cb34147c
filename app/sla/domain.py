"""The domain words, named once: priority and request-type keys, and the built-in ones."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar, Self

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

# A key names a priority or type in the policy, the store and a form's file name.
KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


class _Vocabulary(type):
    """Iterating a key class gives its built-in keys, in the built-in order."""

    def __iter__(cls) -> Iterator[Any]:
        return iter(getattr(cls, "BUILT_IN", ()))


class _Key(str, metaclass=_Vocabulary):
    """A policy's key for a priority or a request type: a string, interned so that a key read
    from the store is the very object the policy holds (`is` compares as `==` does)."""

    __slots__ = ()
    _interned: ClassVar[dict[str, Any]]
    _titles: ClassVar[dict[str, str]]

    def __new__(cls, key: str) -> Self:
        found = cls._interned.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        if not KEY.fullmatch(key):
            raise ValueError(
                f"{key!r} is not a key: letters, digits, '-', '_' or '.', at most 40, e.g. 'sev1'"
            )
        made = super().__new__(cls, key)
        cls._interned[key] = made
        return made

    def __init_subclass__(cls) -> None:
        cls._interned = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __str__(self) -> str:
        return str.__str__(self)

    @property
    def value(self) -> str:
        return str(self)

    @property
    def title(self) -> str:  # type: ignore[override]
        """The built-in display name; a policy's own key reads as itself (the policy's `name`
        is what people see: `Policy.name_of`)."""
        key = str(self)
        return self._titles.get(key) or key[:1].upper() + key[1:]

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema()
        )


class Priority(_Key):
    """A request's priority: a key of the policy's `priorities` (the built-in three below)."""

    __slots__ = ()
    PRODUCTION_DOWN: ClassVar[Priority]
    URGENT: ClassVar[Priority]
    NORMAL: ClassVar[Priority]
    BUILT_IN: ClassVar[tuple[Priority, ...]]

    @property
    def rank(self) -> int:
        """Built-in urgency (higher is more severe); a policy orders its own: `Policy.rank`."""
        return _RANK.get(str(self), -1)


class RequestType(_Key):
    """A request's type: a key of the policy's `types` (the built-in six below), one issue
    form and one label each."""

    __slots__ = ()
    ADD_REMOVE_USER: ClassVar[RequestType]
    CHANGE_REQUEST: ClassVar[RequestType]
    GUIDANCE: ClassVar[RequestType]
    ON_CALL: ClassVar[RequestType]
    PROBLEM: ClassVar[RequestType]
    OTHER: ClassVar[RequestType]
    BUILT_IN: ClassVar[tuple[RequestType, ...]]


Priority._titles = {
    "production-down": "Production down",
    "urgent": "Urgent",
    "normal": "Normal",
}
Priority.PRODUCTION_DOWN = Priority("production-down")
Priority.URGENT = Priority("urgent")
Priority.NORMAL = Priority("normal")
Priority.BUILT_IN = (Priority.PRODUCTION_DOWN, Priority.URGENT, Priority.NORMAL)
_RANK = {"normal": 0, "urgent": 1, "production-down": 2}

RequestType._titles = {
    "add-remove-user": "Add/Remove User",
    "change-request": "Change Request",
    "guidance": "Guidance & usage support",
    "on-call": "On-call",
    "problem": "Problem/Troubleshooting",
    "other": "Other",
}
RequestType.ADD_REMOVE_USER = RequestType("add-remove-user")
RequestType.CHANGE_REQUEST = RequestType("change-request")
RequestType.GUIDANCE = RequestType("guidance")
RequestType.ON_CALL = RequestType("on-call")
RequestType.PROBLEM = RequestType("problem")
RequestType.OTHER = RequestType("other")
RequestType.BUILT_IN = tuple(RequestType(key) for key in RequestType._titles)

BREACHED_LABEL = "sla: breached"
