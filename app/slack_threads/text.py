"""Slack's words on GitHub and GitHub's in Slack (pure): mrkdwn and mentions made readable
without pinging anyone, titles, bodies cut to GitHub's limit with a note, and the messages
sla-bot writes on either side."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from app.sla.triage import as_text

MARKER = "<!-- sla-bot:slack-request:{channel}:{thread_ts} -->"
MARKER_PREFIX = "<!-- sla-bot:slack-request:"
GITHUB_BODY_LIMIT = 65_536  # issue bodies and comments (characters)
ROOM = GITHUB_BODY_LIMIT - 2_000  # for the header, the note and the marker
TITLE_LIMIT = 256
SLACK_TEXT_LIMIT = 39_000  # chat.postMessage takes 40,000

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(channel|here|everyone)(?:\|[^>]*)?>")
_GROUP = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|([^>]*))?>")
_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>\s]+)(?:\|([^>]*))?>")
_AT = re.compile(r"(?<![\w`/])@([A-Za-z0-9][A-Za-z0-9-]*)")  # a GitHub mention


def readable(text: str, names: dict[str, str] | None = None) -> str:
    """Slack mrkdwn as GitHub Markdown that pings nobody: user, group and channel mentions
    and @channel as code, links as links; a typed @login never mentions a GitHub user.
    Slack's &lt; &gt; &amp; are left as entities (GitHub shows them as < > &, and no HTML or
    hidden marker can be smuggled in)."""
    names = names or {}
    text = _SPECIAL.sub(lambda m: f"`@{m[1]}`", text)
    text = _GROUP.sub(lambda m: f"`{m[2] or '@group'}`", text)
    text = _DATE.sub(lambda m: m[1], text)
    text = _USER.sub(lambda m: f"`@{m[2] or names.get(m[1]) or m[1]}`", text)
    text = _CHANNEL.sub(lambda m: f"`#{m[2] or m[1]}`", text)
    text = _LINK.sub(lambda m: f"[{m[2]}]({m[1]})" if m[2] else m[1], text)
    return _AT.sub(lambda m: f"`@{m[1]}`", text)


_EMPHASIS = re.compile(r"(?<![\w*_~])[*_~]+(?=\S)|(?<=\S)[*_~]+(?![\w*_~])")


def mentioned(text: str) -> list[str]:
    """The user ids a message mentions (their names make it readable)."""
    return sorted({m[1] for m in _USER.finditer(text) if not m[2]})


def plain(text: str, names: dict[str, str] | None = None) -> str:
    """One line of Slack text as plain words (a title): no markup, mentions as names."""
    line = _EMPHASIS.sub("", readable(text, names)).replace("`", "")
    line = re.sub(r"\[([^\]]*)\]\(([^)]*)\)", r"\1", line)
    line = line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(line.split())


def title(text: str, names: dict[str, str] | None = None) -> str:
    """The message's first non-empty line, at most GitHub's 256 characters."""
    for line in text.splitlines():
        words = plain(line, names)
        if words:
            return words if len(words) <= TITLE_LIMIT else words[: TITLE_LIMIT - 1] + "…"
    return "Request from Slack"


def cut(text: str, limit: int, where: str) -> str:
    """`text` within `limit` characters, with a note saying where the rest is."""
    if len(text) <= limit:
        return text
    note = f"\n\n*(cut at {limit:,} of {len(text):,} characters: the whole message is {where})*"
    return text[:limit] + note


def issue_body(
    text: str,
    *,
    channel: str,
    thread_ts: str,
    who: str,
    org: str | None,
    permalink: str | None,
    names: dict[str, str] | None = None,
) -> str:
    """The issue's body: the requester, the link back to Slack, then the message."""
    marker = MARKER.format(channel=channel, thread_ts=thread_ts)
    where = f"[in Slack]({permalink})" if permalink else "in Slack"
    asker = as_text(who) + (f" ({as_text(org)})" if org else "")
    message = cut(readable(text, names), ROOM, where) or "*(no text)*"
    quoted = "\n".join(f"> {line}" if line else ">" for line in message.splitlines())
    return f"{marker}\nRequested by **{asker}** {where}:\n\n{quoted}\n"


def from_slack(body: str) -> bool:
    return MARKER_PREFIX in body


def slack_comment(
    text: str,
    *,
    who: str,
    org: str | None,
    permalink: str | None,
    names: dict[str, str] | None = None,
) -> str:
    """A reply in the thread as an issue comment: "kim (Acme) via Slack: ..."."""
    asker = as_text(who) + (f" ({as_text(org)})" if org else "")
    link = f"[via Slack]({permalink})" if permalink else "via Slack"
    where = f"[in Slack]({permalink})" if permalink else "in Slack"
    return f"**{asker}** {link}:\n\n{cut(readable(text, names), ROOM, where)}"


def github_reply(body: str, *, who: str, url: str) -> str:
    """A responder's GitHub comment in the thread (Slack escapes: no mention fires)."""
    escaped = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    name = who.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    note = f"\n_(cut: the whole comment is on <{url}|GitHub>)_"
    if len(escaped) > SLACK_TEXT_LIMIT:
        escaped = escaped[:SLACK_TEXT_LIMIT] + note
    return f"*{name}* on <{url}|GitHub>:\n{escaped}"


def ts_time(ts: str) -> datetime:
    """A Slack `ts` ("1764493200.000100": seconds since the epoch) as an aware time."""
    return datetime.fromtimestamp(int(float(ts)), UTC)  # to the second, as GitHub times are
