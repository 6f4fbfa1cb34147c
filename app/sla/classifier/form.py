"""Parse an issue body as GitHub renders an issue form submission into its fields."""

from __future__ import annotations

import re
from dataclasses import dataclass

NO_RESPONSE = "_No response_"

# Rendered form bodies use `### <label>`; users editing the body later add #'s, so any ATX
# heading of level 3 to 6 starts a section (CommonMark: up to 3 spaces of indentation, a space
# or the line's end after the #'s, an optional closing run of #'s).
# https://spec.commonmark.org/0.31.2/#atx-headings
_HEADING = re.compile(r"^ {0,3}#{3,6}(?:[ \t]+(?P<text>.*?))?(?:[ \t]+#+)?[ \t]*$")
# A `textarea` with `render:` is wrapped in a fence; a `###` inside it is not a heading.
# https://spec.commonmark.org/0.31.2/#fenced-code-blocks
_FENCE_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}(?=[^`]*$)|~{3,})(?P<info>.*)$")
_CHECKBOX = re.compile(r"^\s*[-*+][ \t]+\[(?P<mark>[ xX])\](?:[ \t]+(?P<label>.*?))?\s*$")
_NO_RESPONSE = re.compile(r"^_no response_$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Fence:
    """An open fenced code block: its fence character and length."""

    char: str
    length: int

    def closed_by(self, line: str) -> bool:
        """Whether `line` closes this block: the same character, at least as many, alone."""
        unindented = line.lstrip(" ")
        run = unindented.rstrip(" \t")
        return (
            len(line) - len(unindented) <= 3
            and len(run) >= self.length
            and run == self.char * len(run)
        )


def parse_form(body: str | None) -> dict[str, str | None]:
    """Return each `### <label>` section's value, keyed by the stripped heading text.

    A value is None when empty or `_No response_`; a value that is one fenced code block is
    its content; a value made only of checkbox items is its checked options, one a line (None
    when none is checked). Text before the first heading is ignored, and when a heading
    occurs twice the first one wins.
    """
    fields: dict[str, str | None] = {}
    for heading, lines in _sections(body or ""):
        if heading and heading not in fields:
            fields[heading] = _value(lines)
    return fields


def _sections(body: str) -> list[tuple[str, list[str]]]:
    """Split a body into (heading, lines) pairs, skipping headings inside fenced blocks."""
    sections: list[tuple[str, list[str]]] = []
    lines: list[str] | None = None
    fence: _Fence | None = None
    for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if fence is not None:
            if fence.closed_by(line):
                fence = None
        elif (heading := _HEADING.match(line)) is not None:
            lines = []
            sections.append(((heading.group("text") or "").strip(), lines))
            continue
        else:
            fence = _open_fence(line)
        if lines is not None:
            lines.append(line)
    return sections


def _open_fence(line: str) -> _Fence | None:
    match = _FENCE_OPEN.match(line)
    if match is None:
        return None
    fence = match.group("fence")
    return _Fence(char=fence[0], length=len(fence))


def _value(lines: list[str]) -> str | None:
    """Turn one section's lines into its field value."""
    text = "\n".join(lines).strip()
    if not text or _NO_RESPONSE.match(text):
        return None
    fenced = _fenced_content(text.split("\n"))
    if fenced is not None:
        return fenced if fenced.strip() else None
    checkboxes = [_CHECKBOX.match(line) for line in text.split("\n") if line.strip()]
    if all(checkboxes):
        checked = [m.group("label") or "" for m in checkboxes if m and m.group("mark") != " "]
        return "\n".join(checked) or None
    return text


def _fenced_content(lines: list[str]) -> str | None:
    """The content of `lines` if they are exactly one fenced code block, else None."""
    fence = _open_fence(lines[0])
    if fence is None or len(lines) < 2 or not fence.closed_by(lines[-1]):
        return None
    inner = lines[1:-1]
    if any(fence.closed_by(line) for line in inner):
        return None
    return "\n".join(inner)
