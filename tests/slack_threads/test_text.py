"""Slack text on GitHub: readable, pinging nobody, cut to GitHub's limit with a note."""

from __future__ import annotations

import pytest

from app.slack_threads import text


@pytest.mark.parametrize(
    ("slack", "github"),
    [
        ("<!channel> and <!here|here> and <!everyone>", "`@channel` and `@here` and `@everyone`"),
        ("ask <@U0KIM|kim> or <@U0LEE>", "ask `@kim` or `@lee`"),
        ("cc @octocat, mail a@b.example", "cc `@octocat`, mail a@b.example"),
        (
            "see <https://x.example/a?b=1|the docs> <https://y.example>",
            "see [the docs](https://x.example/a?b=1) https://y.example",
        ),
        ("in <#C0GENERAL|general> <!subteam^S0SUP|@support>", "in `#general` `@support`"),
        ("&lt;!-- sla-bot:x --&gt; &amp;", "&lt;!-- sla-bot:x --&gt; &amp;"),  # no hidden markers
    ],
)
def test_mrkdwn_and_mentions_become_readable_text_that_pings_nobody(
    slack: str, github: str
) -> None:
    assert text.readable(slack, {"U0LEE": "lee"}) == github


def test_a_huge_message_is_cut_to_githubs_limit_with_a_note() -> None:
    body = text.issue_body(
        "x" * 100_000,
        channel="C0S",
        thread_ts="1.2",
        who="kim",
        org=None,
        permalink="https://slack.example/p1",
    )
    assert len(body) <= text.GITHUB_BODY_LIMIT
    assert "(cut at 63,536 of 100,000 characters: the whole message is [in Slack](" in body


def test_titles_are_the_first_line_as_plain_words() -> None:
    assert (
        text.title("\n\n*Export* _fails_ for <@U0LEE>\nmore", {"U0LEE": "lee"})
        == "Export fails for @lee"
    )
    assert text.title("") == "Request from Slack"
    assert len(text.title("y" * 400)) == 256
