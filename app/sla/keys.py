"""Outbox keys, built by one function: a key names an effect once for ever (the outbox
stores it, a comment's hidden marker carries it, later effects find their parent by it), so
a key once written keeps its spelling."""

from __future__ import annotations


def key(*parts: object) -> str:
    """Every outbox key: its parts, most general first, joined by colons."""
    return ":".join(str(part) for part in parts)


def issue(repo: str, number: int) -> str:
    """An issue as a key part: `owner/name#12`."""
    return f"{repo}#{number}"
