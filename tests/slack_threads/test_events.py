"""POST /slack/events: the handshake, the v0 signature, one stored delivery per event_id
however often Slack sends it, channels nobody claims ignored."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.slack_threads.conftest import CHANNEL, SIGNING, Served


def reaction(ts: str = "1764493200.000100", channel: str = CHANNEL) -> dict[str, object]:
    return {
        "type": "reaction_added",
        "user": "U0KIM",
        "reaction": "ticket",
        "item_user": "U0KIM",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": "1764493300.000200",
    }


def test_the_url_verification_handshake_answers_the_challenge(served: Served) -> None:
    answer = served.post_event({"token": "x", "challenge": "3eZbrw1a", "type": "url_verification"})
    assert answer.status_code == 200
    assert answer.json() == {"challenge": "3eZbrw1a"}


def test_unsigned_forged_and_stale_events_are_401_and_store_nothing(served: Served) -> None:
    body = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": reaction()}).encode()
    unsigned = served.http.post(f"{served.url}/slack/events", content=body)
    forged = served.post_event(body, secret="not-the-secret")
    stale = served.post_event(body, age=timedelta(minutes=6))  # a replay, later
    assert [unsigned.status_code, forged.status_code, stale.status_code] == [401, 401, 401]
    assert served.stored() == []


def test_an_event_delivered_three_times_is_stored_once(served: Served) -> None:
    answers = [served.event(reaction(), event_id="Ev0SAME", retry=n or None) for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    stored = served.stored()
    assert [(d.id, d.event, d.action, d.repo) for d in stored] == [
        ("slack:Ev0SAME", "slack", "reaction_added", "acme/support")
    ]


def test_events_from_a_channel_no_repository_claims_are_ignored(served: Served) -> None:
    answer = served.event(reaction(channel="C0ELSEWHERE"))
    assert answer.status_code == 200
    assert served.stored() == []


def test_a_bots_own_message_and_top_level_chatter_are_not_stored(served: Served) -> None:
    bot = {
        "type": "message",
        "channel": CHANNEL,
        "bot_id": "B0SLABOT",
        "text": "hi",
        "ts": "1764493300.000300",
        "thread_ts": "1764493200.000100",
    }
    chatter = {
        "type": "message",
        "channel": CHANNEL,
        "user": "U0KIM",
        "text": "lunch?",
        "ts": "1764493300.000400",
    }
    for event in (bot, chatter):
        assert served.event(event).status_code == 200
    assert served.stored() == []


def test_malformed_oversized_and_switched_off(served: Served) -> None:
    assert served.post_event(b"[1, 2]").status_code == 400
    assert served.post_event(b"{not json").status_code == 400
    huge = json.dumps({"type": "event_callback", "pad": "x" * (1024 * 1024)}).encode()
    assert served.post_event(huge).status_code == 413
    assert served.stored() == []
    served.services.settings.slack_signing_secret = None  # type: ignore[assignment]
    assert served.post_event({"type": "url_verification", "challenge": "c"}).status_code == 404
    served.services.settings.slack_signing_secret = SIGNING  # type: ignore[assignment]
