"""Faults: GitHub and Slack failing in the ways they do; every effect lands exactly once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest

from app.store.effects import marker
from sla_sandbox.standins import FakeSlack
from tests.factories import opened
from tests.harness import REPO, Harness

LABELS = f"/repos/{REPO}/issues/7/labels"
COMMENTS = f"/repos/{REPO}/issues/7/comments"


def ok_comment() -> httpx.Response:
    return httpx.Response(201, json={"id": 99, "html_url": "https://github.com/x#99"})


def reset_in(now: datetime, seconds: int) -> str:
    return str(int(now.timestamp()) + seconds)


@pytest.mark.parametrize(
    "failing",
    [
        lambda now: httpx.Response(502, json={"message": "Server Error"}),
        lambda now: httpx.Response(
            403,
            json={"message": "API rate limit exceeded"},
            headers={
                "x-ratelimit-remaining": "0",
                "x-ratelimit-limit": "5000",
                "x-ratelimit-reset": reset_in(now, 1),
                "x-ratelimit-used": "5000",
            },
        ),
        lambda now: httpx.Response(
            403,
            json={"message": "You have exceeded a secondary rate limit."},
            headers={"retry-after": "1"},
        ),
        lambda now: httpx.Response(
            429, json={"message": "Too many requests"}, headers={"retry-after": "0"}
        ),
    ],
    ids=["502", "403-primary", "403-secondary", "429"],
)
def test_github_failures_are_retried_and_each_write_happens_once(
    harness: Harness, failing: Callable[[datetime], httpx.Response]
) -> None:
    failure = failing(harness.time())  # GitHub's `reset` is on the app's time
    labels = harness.github.route("POST", LABELS).mock(
        side_effect=[failure, httpx.Response(200, json=[])]
    )
    comments = harness.github.route("POST", COMMENTS).mock(side_effect=[ok_comment()])
    harness.deliver("issues", opened())
    if failure.status_code == 502:
        assert labels.call_count == 2  # a 5xx on adding labels (idempotent): retried at once
    else:
        # A rate limit is not slept through: the label waits for its time, and the
        # installation's other writes wait with it (no comment while GitHub says stop).
        assert (labels.call_count, comments.call_count) == (1, 0)
        harness.sweep(harness.time.now + timedelta(seconds=5))
        # The sweep moved the app's time past the pause too: its own sending loop may have
        # taken the comment meanwhile (once, either way); wait for it to finish.
        harness.wait_idle()
    assert json.loads(labels.calls.last.request.content) == {"labels": ["priority: urgent"]}
    assert (labels.call_count, comments.call_count) == (2, 1)
    order = [c.request.url.path.rsplit("/", 1)[1] for c in harness.github.calls()]
    assert order == ["labels", "labels", "comments"]
    assert harness.sweep(harness.time.now + timedelta(minutes=5)).sent == 0  # nothing left


def test_a_comment_whose_answer_was_lost_is_not_posted_twice(harness: Harness) -> None:
    harness.github.route("POST", LABELS).respond(200, json=[])
    # GitHub created the comment but answered 502: the post is not retried blindly...
    comments = harness.github.route("POST", COMMENTS).mock(
        side_effect=[httpx.Response(502, json={"message": "Server Error"}), ok_comment()]
    )
    posted = {"id": 5, "body": f"{marker('intake:comment:acme/support#7')}\nhi"}
    listing = harness.github.route("GET", COMMENTS).respond(200, json=[posted])
    harness.deliver("issues", opened())
    assert comments.call_count == 1
    # ...the outbox retries later, finds its marker on the issue, and stops there.
    harness.sweep(harness.time.now + timedelta(minutes=1))
    assert listing.call_count == 1 and comments.call_count == 1
    assert harness.sweep(harness.time.now + timedelta(hours=1)).sent == 0


def test_a_long_github_outage_delays_the_write_and_loses_nothing(harness: Harness) -> None:
    down = httpx.Response(502, json={"message": "Server Error"})
    labels = harness.github.route("POST", LABELS).mock(
        side_effect=[down] * 5 + [httpx.Response(200, json=[])]
    )
    harness.github.route("POST", COMMENTS).mock(side_effect=[ok_comment()])
    harness.deliver("issues", opened())
    assert labels.call_count == 3  # the client's own brief retries, then the outbox takes over
    harness.sweep(harness.time.now + timedelta(minutes=1))  # (or the app's own worker)
    harness.wait_idle()
    assert labels.call_count == 6
    assert harness.sweep(harness.time.now + timedelta(hours=1)).sent == 0


def test_an_expired_token_is_refreshed_once(harness: Harness) -> None:
    harness.github.route("POST", LABELS).mock(
        side_effect=[
            httpx.Response(401, json={"message": "Bad credentials"}),
            httpx.Response(200, json=[]),
        ]
    )
    harness.github.route("POST", COMMENTS).mock(side_effect=[ok_comment()])
    harness.deliver("issues", opened())
    assert harness.github.token.call_count == 2
    assert len(harness.github.calls()) == 3


def test_slack_rate_limit_then_ok_gives_one_alert(harness: Harness, fake_slack: FakeSlack) -> None:
    harness.github.route("POST", LABELS).respond(200, json=[])
    harness.github.route("POST", COMMENTS).mock(side_effect=[ok_comment()])
    fake_slack.rate_limit_next(retry_after=30)
    harness.deliver("issues", opened())
    assert fake_slack.messages == []  # rescheduled, not slept through
    assert harness.sweep(harness.time.now + timedelta(seconds=29)).sent == 0
    harness.sweep(harness.time.now + timedelta(seconds=2))
    announcements = [m for m in fake_slack.messages if m.channel == "#support"]
    assert len(announcements) == 1


def test_slack_down_for_a_while_then_one_alert(harness: Harness, fake_slack: FakeSlack) -> None:
    harness.github.route("POST", LABELS).respond(200, json=[])
    harness.github.route("POST", COMMENTS).mock(side_effect=[ok_comment()])
    fake_slack.fail_next(status=500, times=4)
    harness.deliver("issues", opened())
    assert fake_slack.messages == []
    for minutes in (1, 2, 5, 10, 30):
        harness.sweep(harness.time.now + timedelta(minutes=minutes))
    assert len([m for m in fake_slack.messages if m.channel == "#support"]) == 1


def test_writes_decided_during_a_rate_limit_pause_wait_for_its_end(harness: Harness) -> None:
    """GitHub said stop for 10 minutes: an issue opened 5 minutes later is not labeled or
    answered before the 10 minutes are up, nor is the breach label a sweep in another process
    decides (the pause holds every write of the installation), and everything goes out once
    it ends."""
    now = harness.time()
    limited = httpx.Response(
        403,
        json={"message": "API rate limit exceeded"},
        headers={
            "x-ratelimit-remaining": "0",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-reset": reset_in(now, 600),
            "x-ratelimit-used": "5000",
        },
    )
    labels = harness.github.route("POST", LABELS).mock(
        side_effect=[limited, httpx.Response(200, json=[])]
    )
    harness.github.route("POST", COMMENTS).mock(side_effect=[ok_comment()])
    later = [
        harness.github.route("POST", f"/repos/{REPO}/issues/8/{what}").mock(side_effect=[answer])
        for what, answer in (("labels", httpx.Response(200, json=[])), ("comments", ok_comment()))
    ]
    harness.deliver("issues", opened())
    assert labels.call_count == 1
    harness.time.advance(minutes=5)
    opened_late = opened(issue__number=8, issue__created_at="2026-11-27T14:35:05Z")  # breached
    harness.deliver("issues", opened_late)
    assert [route.call_count for route in later] == [0, 0]
    harness.sweep(harness.time.now + timedelta(minutes=4))  # another process: still paused
    assert [route.call_count for route in later] == [0, 0] and labels.call_count == 1
    later[0].side_effect = [httpx.Response(200, json=[])] * 2  # its labels, then sla: breached
    harness.sweep(now + timedelta(minutes=10, seconds=2))
    assert labels.call_count == 2 and [route.call_count for route in later] == [2, 1]
