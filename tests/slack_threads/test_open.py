"""A reaction with the policy's emoji, or a mention of the app, opens one GitHub issue per
Slack thread: its text, requester and link; the clock from the message's time; the link and
the promised first response in the thread; ✅ on the message."""

from __future__ import annotations

from typing import Any

from app.store import clocks, slack
from tests.factories import reaction
from tests.slack_threads.conftest import CHANNEL, REPO, T0, Served, people


def issues(served: Served) -> list[dict[str, Any]]:
    return [served.fake.issue(REPO, n) for n in range(1, 20) if _exists(served, n)]


def _exists(served: Served, n: int) -> bool:
    try:
        served.fake.issue(REPO, n)
    except Exception:
        return False
    return True


def test_a_reaction_opens_one_issue_however_often_the_event_comes(served: Served) -> None:
    people(served)
    ts = served.slack.say(
        CHANNEL, "U0KIM", "Export *fails* for <@U0DANA>\nSince this morning <!here>"
    )
    served.time.advance(minutes=20)  # noticed a while later
    for retry in (None, 1, 2):
        served.event(reaction(ts), event_id="Ev0REACT", retry=retry)
    served.event(reaction(ts, user="U0DANA"))  # a second reaction: changes nothing
    opened = issues(served)
    assert len(opened) == 1
    issue = opened[0]
    assert issue["title"] == "Export fails for @dana"
    assert "Requested by **kim (Acme Corp)**" in issue["body"]
    assert "https://fake.slack.test/archives/C0SUPPORT/p" in issue["body"]
    assert "`@dana`" in issue["body"] and "`@here`" in issue["body"]
    assert issue["user"]["login"] == "sla-bot[bot]"
    assert {label["name"] for label in issue["labels"]} == {"priority: normal", "type: other"}
    # The clock counts from the message, not from the issue's creation.
    clock = served.services.db.tx(clocks.live, REPO, 1)
    assert clock is not None and clock.started_at == T0 and clock.issue_author == "kim"
    # The thread is told where and when, once; the message is marked.
    replies = [m for m in served.slack.messages if m.thread_ts == ts and m.user is None]
    assert len(replies) == 1
    assert f"{REPO}#1" in replies[0].text and "Tue 01 Dec 2026, 17:00 CET" in replies[0].text
    message = served.slack.message(CHANNEL, ts)
    assert message is not None and message.reactions == ("white_check_mark",)
    # The customer's promise on the issue, once, from the message's time.
    comments = served.fake.comments(REPO, 1)
    assert len(comments) == 1 and "Tue 01 Dec 2026, 17:00 CET" in comments[0]["body"]


def test_github_announcing_the_new_issue_starts_no_second_intake(served: Served) -> None:
    people(served)
    ts = served.slack.say(CHANNEL, "U0KIM", "Please add Lee to the account")
    served.time.advance(hours=3)
    served.event(reaction(ts))
    assert served.deliver("issues", "opened", 1).status_code == 202
    assert len(served.fake.comments(REPO, 1)) == 1  # only the Slack intake's promise
    started = served.services.db.tx(clocks.history, REPO, 1)
    assert [c.started_at for c in started] == [T0]


def test_a_mention_of_the_app_opens_the_request_too(served: Served) -> None:
    people(served)
    ts = served.slack.say(CHANNEL, "U0KIM", "<@U0SLABOT> our SSO login loops")
    served.event(
        {
            "type": "app_mention",
            "user": "U0KIM",
            "channel": CHANNEL,
            "ts": ts,
            "text": "<@U0SLABOT> our SSO login loops",
            "event_ts": ts,
        }
    )
    assert [i["title"] for i in issues(served)] == ["@U0SLABOT our SSO login loops"]


def test_another_emoji_a_gone_message_and_a_bots_message_open_nothing(served: Served) -> None:
    people(served)
    ts = served.slack.say(CHANNEL, "U0KIM", "thanks!")
    served.event(reaction(ts, emoji="tada"))
    gone = served.slack.say(CHANNEL, "U0KIM", "oops, wrong channel")
    served.slack.delete(CHANNEL, gone)
    served.event(reaction(gone))  # message_not_found
    posted = served.http.post(
        served.slack.api_url + "chat.postMessage",
        json={"channel": CHANNEL, "text": "deploy ok"},
        headers={"authorization": f"Bearer {served.slack.token}"},
    ).json()
    served.event(reaction(posted["ts"]))  # a bot's message
    assert issues(served) == []
    threads = [served.services.db.tx(slack.thread_at, CHANNEL, t) for t in (ts, gone, posted["ts"])]
    assert [t.status if t else None for t in threads] == [None, "gone", "ignored"]


def test_the_promise_waits_for_github_and_nothing_is_opened_twice(served: Served) -> None:
    people(served)
    ts = served.slack.say(CHANNEL, "U0KIM", "Change our plan")
    served.fake.fail_next("POST", r"/issues$", 502)  # GitHub down when the issue is first tried
    served.event(reaction(ts))
    assert issues(served) == []
    served.time.advance(minutes=1)
    served.wait_idle()
    assert len(issues(served)) == 1
    assert served.services.db.tx(clocks.live, REPO, 1).started_at == T0
    assert len([m for m in served.slack.messages if m.thread_ts == ts]) == 1
