"""Text from people (Slack names, GitHub logins, form answers) put into GitHub comments, Slack
messages and the terminal as text: no mention, link, HTML or escape sequence survives.

GitHub: backslashes do not stop a mention (`\\@team` still notifies: GitHub finds mentions,
issue references and bare URLs in the rendered text, outside code), so the text goes into a
code span or a fenced block, where Markdown, HTML, autolinks and mentions are all shown
literally (CommonMark "Code spans", "Fenced code blocks"; GitHub's mention and autolink
filters skip `code` and `pre`).
"""

from __future__ import annotations

import re
import unicodedata

NAME_LIMIT = 100
ANSWER_LIMIT = 2000

_SPACE = re.compile(r"\s+")
# Terminal escape sequences whole (CSI such as colours, OSC such as a window title), so that
# no stray "[31m" is left when the ESC goes.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x9b[0-?]*[ -/]*[@-~]"
)
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(//)")


def printable(text: str) -> str:
    """`text` without control characters (escape sequences, C0, DEL, C1, bidirectional
    overrides and other format characters but the emoji joiner): nothing a terminal or a
    reader's screen would act on. Tabs, newlines and other separators become spaces."""
    out = []
    for char in _ESCAPES.sub("", text):
        category = unicodedata.category(char)
        if char in "\t\n\r" or category.startswith("Z"):  # line and paragraph separators too
            out.append(" ")
        elif category not in ("Cc", "Cf", "Cs", "Co") or char == "\u200d":  # emoji joiner kept
            out.append(char)
    return "".join(out)


def one_line(text: str, limit: int) -> str:
    """Printable, its whitespace runs collapsed, at most `limit` characters."""
    flat = _SPACE.sub(" ", printable(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def code(text: str, limit: int = NAME_LIMIT) -> str:
    """A name or a short answer for a GitHub comment: one inline code span (a delimiter
    longer than any backtick run inside, padded when the text starts or ends with one)."""
    flat = one_line(text, limit)
    if not flat:
        return "` `"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat[0] in "` " or flat[-1] in "` " else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def block(text: str, limit: int = ANSWER_LIMIT) -> str:
    """A long or multi-line answer for a GitHub comment: a fenced block (a fence longer than
    any backtick or tilde run inside), on lines of its own."""
    lines = [printable(line).rstrip() for line in text[:limit].splitlines()]
    body = "\n".join(lines).strip("\n")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def defang(text: str) -> str:
    """`scheme://` made unlinkable (`http[:]//evil`): Slack and terminals link bare URLs."""
    return _URL.sub(r"\1[:]\2", text)
