"""Response targets as a policy writes them: "30m", "2h30m", "3d", "next-business-day"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

NEXT_BUSINESS_DAY = "next-business-day"
MAX_DAYS = 366
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?")
_DAYS = re.compile(r"(\d+)d")
_HINT = "use minutes or hours like '30m', '1h', '2h30m', days like '3d', or 'next-business-day'"


@dataclass(frozen=True, slots=True)
class Target:
    """A first-response target: a span of minutes, or a number of days.

    On the business calendar minutes count open time and N days mean the close of the N-th
    business day after the start's local date; on the 24/7 calendar both are wall-clock time
    ("3d" is 72 h). `next_business_day` only remembers that "1d" was spelled that way.
    """

    minutes: int = 0
    days: int = 0
    next_business_day: bool = False

    def __post_init__(self) -> None:
        if (self.minutes > 0) == (self.days > 0) or min(self.minutes, self.days) < 0:
            raise ValueError("a target is a positive number of minutes or of days, not both")
        if self.days > MAX_DAYS or self.minutes > MAX_DAYS * 24 * 60:
            raise ValueError(f"a target must be at most {MAX_DAYS} days")
        if self.next_business_day and self.days != 1:
            raise ValueError(f"{NEXT_BUSINESS_DAY} is one day")

    @classmethod
    def parse(cls, text: str) -> Target:
        """Parse "30m", "1h", "2h30m", "90m", "3d" or "next-business-day"."""
        spelled = text.strip().lower()
        if spelled == NEXT_BUSINESS_DAY:
            return cls(days=1, next_business_day=True)
        if match := _DAYS.fullmatch(spelled):
            return cls._checked(text, days=int(match[1]))
        match = _DURATION.fullmatch(spelled)
        if match is None or not spelled:
            hint = "add a unit: " if spelled.isdigit() else ""
            raise ValueError(f"{text!r} is not a target: {hint}{_HINT}")
        return cls._checked(text, minutes=int(match[1] or 0) * 60 + int(match[2] or 0))

    @classmethod
    def _checked(cls, text: str, *, minutes: int = 0, days: int = 0) -> Target:
        if minutes == days == 0:
            raise ValueError(f"{text!r} is not a target: it must be more than zero")
        return cls(minutes=minutes, days=days)

    @property
    def wall_clock(self) -> timedelta:
        """The target as elapsed time, its meaning on the 24/7 calendar."""
        return timedelta(minutes=self.minutes, days=self.days)

    def __str__(self) -> str:
        if self.next_business_day:
            return NEXT_BUSINESS_DAY
        if self.days:
            return f"{self.days}d"
        hours, minutes = divmod(self.minutes, 60)
        return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._coerce,
            json_schema_input_schema=core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def _coerce(cls, value: object) -> Target:
        if isinstance(value, Target):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        raise ValueError(f"{value!r} is not a target: {_HINT}")
