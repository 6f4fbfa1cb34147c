"""The thread and the issue in step: replies in Slack become comments and count for the
clocks (the customer's owe an answer, the team's are answers); a responder's GitHub comment
is posted in the thread (never an internal one, never sla-bot's own); closing tells the
thread."""

from __future__ import annotations

from typing import Any

from app.store import clocks
from tests.factories import reaction
from tests.slack_threads.conftest import CHANNEL, CUSTOMERS, REPO, T0, TEAM, Served, people


def reply(served: Served, root: str, user: str, words: str, team: str) -> str:
    ts = served.slack.say(CHANNEL, user, words, thread_ts=root)
    served.event(
        {
            "type": "message",
            "channel": CHANNEL,
            "user": user,
            "text": words,
            "ts": ts,
            "thread_ts": root,
            "user_team": team,
            "team": team,
        }
    )
    return ts


def opened(served: Served) -> str:
    people(served)
    root = served.slack.say(CHANNEL, "U0KIM", "Invoices export as empty CSV")
    served.event(reaction(root))
    return root


def in_thread(served: Served, root: str) -> list[str]:
    return [m.text or "" for m in served.slack.messages if m.thread_ts == root and m.user is None]


def kinds(served: Served) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for clock in served.services.db.tx(clocks.of_issue, REPO, 1):
        found.setdefault(clock.kind, []).append(clock.state)
    return found


def test_team_and_customer_replies_become_comments_and_count(served: Served) -> None:
    root = opened(served)
    served.time.advance(minutes=30)
    reply(served, root, "U0DANA", "Which account is it?", TEAM)
    assert kinds(served)["response"] == ["met"]
    served.time.advance(minutes=10)
    reply(served, root, "U0KIM", "The <https://acme.example/billing|billing> one", CUSTOMERS)
    bodies = [c["body"] for c in served.fake.comments(REPO, 1)[1:]]
    assert "**dana** [via Slack]" in bodies[0] and "Which account is it?" in bodies[0]
    assert "**kim (Acme Corp)** [via Slack]" in bodies[1]
    assert "[billing](https://acme.example/billing)" in bodies[1]
    assert kinds(served)["next_response"] == ["running"]  # the customer is owed an answer
    # The same event again, or sla-bot's comment coming back from GitHub: nothing more.
    served.deliver("issue_comment", "created", 1, comment=served.fake.comments(REPO, 1)[-1]["id"])
    assert len(served.fake.comments(REPO, 1)) == 3
    assert kinds(served)["next_response"] == ["running"]


def test_a_responders_github_comment_goes_to_the_thread_and_answers(served: Served) -> None:
    root = opened(served)
    served.time.advance(minutes=45)
    made = served.fake.add_comment(REPO, 1, "Fixed: <!channel> try again", "lee", "MEMBER")
    served.deliver("issue_comment", "created", 1, comment=made["id"])
    secret = served.fake.add_comment(REPO, 1, "internal: root cause is the CDN", "lee", "MEMBER")
    served.deliver("issue_comment", "created", 1, comment=secret["id"])
    posted = in_thread(served, root)
    assert len(posted) == 2  # the promise, and lee's answer (the internal note stays)
    assert posted[1].startswith("*lee* on <") and "&lt;!channel&gt;" in posted[1]
    first = served.services.db.tx(clocks.history, REPO, 1)[0]
    assert first.state == "met" and first.responder == "lee"
    assert first.met_at == T0.replace(minute=45)


def test_closing_the_issue_tells_the_thread(served: Served) -> None:
    root = opened(served)
    served.fake.close_issue(REPO, 1, "lee")
    served.deliver("issues", "closed", 1, sender="lee")
    assert "This request was resolved by lee on <" in in_thread(served, root)[-1]


def test_a_reply_before_the_issue_exists_follows_it(served: Served) -> None:
    people(served)
    root = served.slack.say(CHANNEL, "U0KIM", "VPN drops every hour")
    served.fake.fail_next("POST", r"/issues$", 502)
    served.event(reaction(root))
    reply(served, root, "U0KIM", "also on mobile", CUSTOMERS)
    served.time.advance(minutes=1)
    served.wait_idle()
    bodies: list[Any] = [c["body"] for c in served.fake.comments(REPO, 1)]
    assert len(bodies) == 2 and "also on mobile" in bodies[1]
