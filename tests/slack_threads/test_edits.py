"""Edits and deletions in Slack follow on GitHub (message_changed, message_deleted, as Slack
sends them): a reply's comment is edited, a deleted reply's comment loses its words, the
request's message edited or deleted rewrites the issue's body. sla-bot's own posts and changes
that leave the words alone change nothing, and no edit reopens a met clock."""

from __future__ import annotations

from tests.slack_threads.conftest import CHANNEL, CUSTOMERS, REPO, TEAM, Served
from tests.slack_threads.test_in_step import in_thread, kinds, opened, reply


def comment_bodies(served: Served) -> list[str]:
    return [str(c["body"]) for c in served.fake.comments(REPO, 1)[1:]]  # after the intake one


def test_a_customer_who_edits_their_reply_sees_its_comment_edited(served: Served) -> None:
    root = opened(served)
    ts = reply(served, root, "U0KIM", "The export is empty", CUSTOMERS)
    served.event(served.slack.edit(CHANNEL, ts, "The export is empty since Friday"))
    [body] = comment_bodies(served)
    assert "The export is empty since Friday" in body and "**kim (Acme Corp)**" in body
    assert len(served.fake.comments(REPO, 1)) == 2  # edited in place, not a new comment


def test_a_reply_deleted_in_slack_leaves_its_comment_without_the_words(served: Served) -> None:
    root = opened(served)
    served.time.advance(minutes=20)
    ts = reply(served, root, "U0DANA", "Try the staging export: secret-token-123", TEAM)
    assert kinds(served)["response"] == ["met"]
    served.event(served.slack.remove(CHANNEL, ts))
    [body] = comment_bodies(served)
    assert "secret-token-123" not in body and "deleted in Slack by its author" in body
    assert kinds(served)["response"] == ["met"]  # a deletion does not reopen a met clock


def test_the_requester_who_edits_the_request_sees_the_issue_body_follow(served: Served) -> None:
    root = opened(served)
    served.event(served.slack.edit(CHANNEL, root, "Invoices export as empty CSV on Firefox"))
    body = str(served.fake.issue(REPO, 1)["body"])
    assert "> Invoices export as empty CSV on Firefox" in body
    assert "Requested by **kim (Acme Corp)**" in body
    assert served.fake.issue(REPO, 1)["title"] == "Invoices export as empty CSV"  # untouched


def test_a_request_deleted_in_slack_leaves_the_issue_without_its_words(served: Served) -> None:
    root = opened(served)
    served.event(served.slack.remove(CHANNEL, root))
    body = str(served.fake.issue(REPO, 1)["body"])
    assert "Invoices export as empty CSV" not in body
    assert "deleted in Slack by its author" in body


def test_two_edits_in_a_row_leave_the_last_words(served: Served) -> None:
    root = opened(served)
    ts = reply(served, root, "U0KIM", "first", CUSTOMERS)
    served.event(served.slack.edit(CHANNEL, ts, "second"), wait=False)
    served.event(served.slack.edit(CHANNEL, ts, "third"))
    [body] = comment_bodies(served)
    assert body.rstrip().endswith("third")


def test_sla_bots_own_post_edited_and_a_change_that_keeps_the_words_change_nothing(
    served: Served,
) -> None:
    root = opened(served)
    ts = reply(served, root, "U0KIM", "The export is empty", CUSTOMERS)
    own = next(m for m in served.slack.messages if m.thread_ts == root and m.user is None)
    served.event(served.slack.edit(CHANNEL, own.ts, "tampered"))
    same = served.slack.edit(CHANNEL, ts, "The export is empty")  # e.g. a link unfurled
    served.event(same)
    [body] = comment_bodies(served)
    assert "The export is empty" in body
    edits = [c for c in served.fake.calls if c.method == "PATCH" and "/comments/" in c.path]
    assert [c for c in edits if "tampered" in str(c.json)] == []
    assert len(in_thread(served, root)) == 1  # nothing posted back to the thread either


def test_a_reply_edited_before_the_issue_exists_is_posted_as_it_now_reads(
    served: Served,
) -> None:
    from tests.slack_threads.test_open import people, reaction

    people(served)
    root = served.slack.say(CHANNEL, "U0KIM", "VPN drops every hour")
    served.fake.fail_next("POST", r"/issues$", 502)
    served.event(reaction(root))
    ts = reply(served, root, "U0KIM", "also on mobile", CUSTOMERS)
    served.event(served.slack.edit(CHANNEL, ts, "also on mobile and on the tablet"))
    served.time.advance(minutes=1)
    served.wait_idle()
    [body] = comment_bodies(served)
    assert "also on mobile and on the tablet" in body
