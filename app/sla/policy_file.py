"""Policy files as YAML: line-numbered values, merging over defaults, and every problem."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

Loc = tuple[str | int, ...]
# Sections that a file replaces as a whole: a week listed without Friday means Friday is closed.
ATOMIC: frozenset[Loc] = frozenset({("business_hours",)})
# The team's vocabulary: a section naming only keys the base has adjusts those (`key: null`
# removes one); a section naming a key of its own is the whole list, in its order.
VOCABULARY: frozenset[Loc] = frozenset({("priorities",), ("types",)})
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_MAX_NODES = 10_000
_KEY_NOUNS = {"priorities": "priority", "types": "request type", "business_hours": "day"}


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One problem in a policy file: where it is and what is wrong."""

    line: int | None
    key: str  # dotted path, e.g. "priorities.urgent.within"; "" for the file as a whole
    message: str

    def format(self, source: str) -> str:
        where = source if self.line is None else f"{source}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class PolicyError(Exception):
    """A policy file that cannot be used; `problems` lists everything wrong with it."""

    def __init__(self, problems: Iterable[PolicyProblem], source: str = "<policy>") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(problem.format(self.source) for problem in self.problems)


def read_yaml(text: str) -> tuple[object, dict[Loc, int], list[PolicyProblem]]:
    """The file's data (every scalar kept as text, nulls as None), its lines, its problems.

    Scalars stay text so that YAML 1.1 surprises cannot happen (`NO` as false, `17:00` as
    1020, `000000` as 0); the policy models convert text to numbers, booleans and dates.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        return None, {}, [PolicyProblem(line, "", f"invalid YAML: {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, {}, [PolicyProblem(None, "", f"invalid YAML: {exc}")]
    reader = _Reader()
    data = None if node is None else reader.value(node, ())
    if data is None:  # an empty file, or one with only comments
        data = {}
    if not isinstance(data, dict):
        line = None if node is None else node.start_mark.line + 1
        message = "a policy is a mapping of keys (like 'timezone:') to values"
        reader.problems.append(PolicyProblem(line, "", message))
    return data, reader.lines, reader.problems


class _Reader:
    """Turns composed YAML nodes into plain data, noting each key's line."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}
        self.problems: list[PolicyProblem] = []
        self._nodes = 0
        self._path: set[int] = set()

    def value(self, node: yaml.Node, loc: Loc) -> object:
        self._nodes += 1
        if self._nodes > _MAX_NODES or id(node) in self._path:
            if self._nodes <= _MAX_NODES + 1:  # say it once
                self._problem(node, loc, "too large or recursive (check anchors and aliases)")
            return None
        if isinstance(node, yaml.ScalarNode):
            return None if node.style is None and node.value in _NULLS else str(node.value)
        self._path.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self._item(item, (*loc, i)) for i, item in enumerate(node.value)]
            return self._mapping(node, loc)
        finally:
            self._path.discard(id(node))

    def _item(self, node: yaml.Node, loc: Loc) -> object:
        self.lines[loc] = node.start_mark.line + 1
        return self.value(node, loc)

    def _mapping(self, node: yaml.Node, loc: Loc) -> dict[str, object]:
        data: dict[str, object] = {}
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(key_node, loc, "a key must be plain text")
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in first:
                self._problem(key_node, (*loc, key), f"duplicate key (first on line {first[key]})")
            first.setdefault(key, line)
            self.lines.setdefault((*loc, key), line)
            data[key] = self.value(value_node, (*loc, key))
        return data

    def _problem(self, node: yaml.Node, loc: Loc, message: str) -> None:
        self.problems.append(PolicyProblem(node.start_mark.line + 1, dotted(loc), message))


def merge(base: Mapping[str, Any], override: Mapping[str, Any], loc: Loc = ()) -> dict[str, Any]:
    """`override` deep-merged over `base`: mappings merge, lists and scalars replace.

    An empty section (`holidays:` with every entry commented out) keeps the defaults.
    """
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        vocabulary = (*loc, key) in VOCABULARY
        if vocabulary and isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = _vocabulary(current, value, (*loc, key))
            continue
        if isinstance(current, Mapping) and (*loc, key) not in ATOMIC:
            if isinstance(value, Mapping):
                merged[key] = merge(current, value, (*loc, key))
                continue
            if value is None:
                continue
        merged[key] = value
    return merged


def _vocabulary(base: Mapping[str, Any], override: Mapping[str, Any], loc: Loc) -> dict[str, Any]:
    """A `priorities:` or `types:` section over the base's (see VOCABULARY)."""
    own = any(key not in base for key in override)
    merged: dict[str, Any] = {} if own else dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged[key] = merge(base[key], value, (*loc, key))
        else:
            merged[key] = value
    return merged


def dotted(loc: Iterable[str | int]) -> str:
    """A pydantic or YAML location as text: `priorities.urgent.within`, `holidays.dates[1]`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "[key]":
            text += f".{part}" if text else str(part)
    return text


def line_of(lines: Mapping[Loc, int], loc: Loc) -> int | None:
    """The line of `loc`, or of its nearest ancestor that the file spells out."""
    path = tuple(part for part in loc if part != "[key]")
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def problems_from(
    error: ValidationError, lines: Mapping[Loc, int], known_keys: Iterable[str] = ()
) -> list[PolicyProblem]:
    """One problem per pydantic error, located by the file's lines."""
    keys = sorted(set(known_keys))
    details = error.errors(include_url=False)
    return [
        PolicyProblem(line_of(lines, detail["loc"]), dotted(detail["loc"]), _message(detail, keys))
        for detail in details
        if not _follows_on(detail["loc"], details)
    ]


def _follows_on(loc: Loc, details: list[ErrorDetails]) -> bool:
    """An error that only repeats another: the value of an unknown key ("Field required"), or
    a count of items after an item failed ("at least 1 item after validation, not 0")."""
    for other in details:
        there = other["loc"]
        if there[-1:] == ("[key]",) and loc[: len(there) - 1] == there[:-1] and loc != there:
            return True
        if len(there) > len(loc) and there[: len(loc)] == loc:
            return True
    return False


def _message(detail: ErrorDetails, known_keys: list[str]) -> str:
    loc, value, ctx = detail["loc"], detail["input"], detail.get("ctx", {})
    if detail["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), known_keys, n=1, cutoff=0.7)
        return "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    if loc and loc[-1] == "[key]" and "expected" in ctx:
        noun = _KEY_NOUNS.get(str(loc[0]), "key")
        return f"unknown {noun} {value!r}: expected {ctx['expected']}"
    if detail["type"] in {"value_error", "assertion_error"} and "error" in ctx:
        return str(ctx["error"])
    message = detail["msg"]
    if isinstance(value, str | int | float) and len(str(value)) <= 60:
        message += f" (got {value!r})"
    return message
