"""FakeSlack and LoopbackServer: the stand-ins answer like Slack and start and stop cleanly."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from sla_sandbox.standins import FAKE_TOKEN, FakeSlack, LoopbackServer
from sla_sandbox.standins.slack import channel_id
from tests.harness import LOOPBACK_TLS, MovableTime

AUTH = {"Authorization": f"Bearer {FAKE_TOKEN}"}


def call(slack: FakeSlack, method: str, **kwargs: object) -> httpx.Response:
    with httpx.Client(verify=LOOPBACK_TLS, base_url=slack.api_url, timeout=5) as client:
        return client.post(method, **kwargs)  # type: ignore[arg-type]


def test_json_post_is_recorded_and_answered(fake_slack: FakeSlack, time: MovableTime) -> None:
    body = {"channel": "#support", "text": "hi", "thread_ts": "1.2"}

    first = call(fake_slack, "chat.postMessage", json=body, headers=AUTH).json()
    second = call(fake_slack, "chat.postMessage", json=body, headers=AUTH).json()

    assert first["ok"] is True
    # Slack answers with the channel's id, the same one every time
    assert (first["channel"], first["ts"]) == (
        channel_id("#support"),
        f"{int(time().timestamp())}.000100",
    )
    assert first["channel"].startswith("C") and second["channel"] == first["channel"]
    assert second["ts"] == f"{int(time().timestamp())}.000101"
    assert first["message"]["thread_ts"] == "1.2"
    assert fake_slack.calls[0].body == body
    assert [m.thread_ts for m in fake_slack.messages] == ["1.2", "1.2"]


def test_form_post_with_token_field(fake_slack: FakeSlack) -> None:
    blocks = [{"type": "divider"}]
    form = {"token": FAKE_TOKEN, "channel": "C1", "text": "hi", "blocks": json.dumps(blocks)}

    reply = call(fake_slack, "chat.postMessage", data=form).json()

    assert reply["ok"] is True
    assert fake_slack.messages[0].blocks == blocks
    assert fake_slack.calls[0].token == FAKE_TOKEN


def test_update_changes_the_recorded_message(fake_slack: FakeSlack) -> None:
    ts = call(fake_slack, "chat.postMessage", json={"channel": "C1", "text": "a"}, headers=AUTH)
    update = {"channel": "C1", "ts": ts.json()["ts"], "text": "b"}

    reply = call(fake_slack, "chat.update", json=update, headers=AUTH).json()
    missing = call(fake_slack, "chat.update", json={**update, "ts": "9.9"}, headers=AUTH).json()

    assert reply["ok"] is True and reply["text"] == "b"
    assert [m.text for m in fake_slack.messages] == ["b"]
    assert missing == {"ok": False, "error": "message_not_found"}


@pytest.mark.parametrize(
    ("headers", "body", "error"),
    [
        ({}, {"channel": "C1", "text": "hi"}, "not_authed"),
        ({"Authorization": "Bearer xoxb-wrong"}, {"channel": "C1", "text": "hi"}, "invalid_auth"),
        (AUTH, {"text": "hi"}, "channel_not_found"),
        (AUTH, {"channel": "C1"}, "no_text"),
        (
            AUTH,
            {"channel": "C1", "text": "x", "blocks": [{"type": "header"}] * 51},
            "invalid_blocks",
        ),
        (
            AUTH,
            {"channel": "C1", "blocks": [{"type": "header", "text": {"text": "x" * 151}}]},
            "invalid_blocks",
        ),
    ],
)
def test_slack_errors(
    fake_slack: FakeSlack, headers: dict[str, str], body: dict[str, object], error: str
) -> None:
    response = call(fake_slack, "chat.postMessage", json=body, headers=headers)

    assert response.status_code == 200
    assert response.json() == {"ok": False, "error": error}
    assert fake_slack.messages == []


def test_unknown_method(fake_slack: FakeSlack) -> None:
    reply = call(fake_slack, "users.list", headers=AUTH).json()

    assert reply == {"ok": False, "error": "unknown_method"}


def test_faults_are_queued_in_order(fake_slack: FakeSlack) -> None:
    fake_slack.rate_limit_next(retry_after=3)
    fake_slack.fail_next(502)
    fake_slack.error_next("is_archived")
    ok = {"json": {"channel": "C1", "text": "hi"}, "headers": AUTH}

    limited, failed, archived, posted = (call(fake_slack, "chat.postMessage", **ok) for _ in "1234")

    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    assert limited.json() == {"ok": False, "error": "ratelimited"}
    assert failed.status_code == 502
    assert archived.json()["error"] == "is_archived"
    assert posted.json()["ok"] is True
    assert len(fake_slack.calls) == 4 and len(fake_slack.messages) == 1


def test_reset_forgets_everything(fake_slack: FakeSlack, time: MovableTime) -> None:
    fake_slack.fail_next()
    call(fake_slack, "chat.postMessage", json={"channel": "C1", "text": "hi"}, headers=AUTH)
    fake_slack.error_next("channel_not_found")

    fake_slack.reset()

    assert fake_slack.calls == [] and fake_slack.messages == []
    reply = call(fake_slack, "chat.postMessage", json={"channel": "C", "text": "x"}, headers=AUTH)
    assert reply.json()["ts"] == f"{int(time().timestamp())}.000100"


def test_api_url_needs_a_running_server() -> None:
    with pytest.raises(RuntimeError, match="serve"):
        _ = FakeSlack().api_url


def test_loopback_server_serves_and_stops() -> None:
    app = Starlette(routes=[Route("/ping", lambda request: PlainTextResponse("pong"))])
    server = LoopbackServer(app)

    with server:
        assert server.running
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(server.url + "/ping", timeout=5).text == "pong"
        url = server.url

    assert not server.running
    server.stop()  # twice is fine
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/ping", timeout=5)
