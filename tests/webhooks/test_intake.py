"""Intake over HTTP: signed deliveries in, labels and one comment out, every call asserted."""

from __future__ import annotations

import json
import logging
import threading

import httpx
import jwt
import pytest

from sla_sandbox.standins import FakeSlack
from tests.factories import PROD, URGENT, label, opened, payload
from tests.harness import (
    APP_ID,
    GITHUB_URL,
    INSTALLATION,
    REPO,
    TOKEN,
    Harness,
    body_of,
    mock_writes,
)


def test_urgent_problem_is_labeled_and_answered_with_its_promise(harness: Harness) -> None:
    mock_writes(harness)
    response = harness.deliver("issues", opened())
    assert response.status_code == 202

    calls = harness.github.calls()
    assert [(c.request.method, c.request.url.path) for c in calls] == [
        ("POST", f"/api/v3/repos/{REPO}/issues/7/labels"),
        ("POST", f"/api/v3/repos/{REPO}/issues/7/comments"),
    ]
    assert body_of(calls[0]) == {"labels": ["priority: urgent"]}  # type label came with the form
    for call in calls:
        assert call.request.headers["authorization"] == f"token {TOKEN}"
        assert call.request.headers["x-github-api-version"] == "2022-11-28"
    text = body_of(calls[1])["body"]
    # Friday 16:30 in Amsterdam + 1 business hour = Monday 09:30.
    assert "**Problem/Troubleshooting**" in text and "**Urgent**" in text
    assert "Mon 30 Nov 2026, 09:30 CET (Europe/Amsterdam)" in text
    clocks = harness.clocks()
    assert [(c.priority, c.state) for c in clocks] == [("urgent", "running")]
    assert clocks[0].started_at.isoformat() == "2026-11-27T15:30:00+00:00"


def test_token_is_fetched_with_the_app_jwt_once_per_installation(harness: Harness) -> None:
    mock_writes(harness)
    mock_writes(harness, 8)
    harness.deliver("issues", opened())
    harness.deliver("issues", opened(issue__number=8))
    assert harness.github.token.call_count == 1
    assert len(harness.github.calls()) == 4
    scheme, token = harness.github.token.calls.last.request.headers["authorization"].split()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert scheme.lower() == "bearer"
    assert claims["iss"] == APP_ID and claims["exp"] - claims["iat"] == 600


def test_no_form_body_gets_default_priority_type_other_and_a_note(harness: Harness) -> None:
    mock_writes(harness)
    harness.deliver("issues", payload("issues.opened", issue__body=None, issue__labels=[]))
    calls = harness.github.calls()
    assert body_of(calls[0]) == {"labels": ["priority: normal", "type: other"]}
    text = body_of(calls[1])["body"]
    assert "could not find a priority" in text and "`priority: urgent`" in text
    # Friday 16:30: the close of the next business day is Monday 17:00.
    assert "Mon 30 Nov 2026, 17:00 CET" in text


def test_production_down_of_another_type_is_urgent_with_the_scope_rule(harness: Harness) -> None:
    mock_writes(harness)
    data = opened("change-request", PROD, issue__labels=[label("type: change-request")])
    harness.deliver("issues", data)
    calls = harness.github.calls()
    assert body_of(calls[0]) == {"labels": ["priority: urgent"]}
    assert "Why Urgent and not Production down?" in body_of(calls[1])["body"]
    assert harness.clocks()[0].priority == "urgent"


def test_production_down_problem_pages_on_call(harness: Harness, fake_slack: FakeSlack) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened("problem", PROD))
    calls = harness.github.calls()
    assert body_of(calls[0]) == {"labels": ["priority: production-down"]}
    assert "on-call engineer has been paged" in body_of(calls[1])["body"]
    pages = [m for m in fake_slack.messages if m.channel == "#on-call"]
    assert len(pages) == 1 and "acme/support#7" in pages[0].text


def test_a_priority_label_a_person_set_is_never_overridden(harness: Harness) -> None:
    labels, comment = mock_writes(harness)
    data = opened(
        "problem", URGENT, issue__labels=[label("type: problem"), label("priority: normal")]
    )
    harness.deliver("issues", data)
    assert labels.call_count == 0  # both labels present: no label call at all
    assert comment.call_count == 1
    assert harness.clocks()[0].priority == "normal"


def test_pull_requests_cost_nothing(harness: Harness) -> None:
    data = opened(issue__pull_request={"url": f"{GITHUB_URL}/repos/{REPO}/pulls/7"})
    assert harness.deliver("issues", data).status_code == 202
    assert harness.github.calls(setup=True) == []


def test_a_redelivery_changes_nothing(harness: Harness) -> None:
    labels, comment = mock_writes(harness)
    first = harness.deliver("issues", opened(), delivery="d-1")
    again = harness.deliver("issues", opened(), delivery="d-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert (labels.call_count, comment.call_count) == (1, 1)


def test_the_apps_own_label_event_changes_nothing(harness: Harness) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    before = len(harness.github.calls(setup=True))
    own = payload(
        "issues.labeled",
        issue__labels=[label("type: problem"), label("priority: urgent")],
        issue__updated_at="2026-11-27T15:30:02Z",
        sender={"login": "sla-bot[bot]", "id": 1, "type": "Bot"},
    )
    harness.deliver("issues", own)
    assert len(harness.github.calls(setup=True)) == before
    assert [(c.priority, c.state) for c in harness.clocks()] == [("urgent", "running")]


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha1=abc"])
def test_a_bad_signature_is_401_and_nothing_is_stored(
    harness: Harness, signature: str | None
) -> None:
    headers = {"x-hub-signature-256": signature} if signature else {"x-hub-signature-256": ""}
    response = harness.deliver("issues", opened(), delivery="bad-sig", headers=headers)
    assert response.status_code == 401
    assert harness.delivery("bad-sig") is None
    assert harness.github.calls(setup=True) == []


def test_a_wrong_secret_is_401(harness: Harness) -> None:
    response = harness.deliver("issues", opened(), secret="not the secret")
    assert response.status_code == 401


def test_malformed_json_is_400_and_recorded(harness: Harness) -> None:
    response = harness.deliver("issues", b'{"action": "opened", ', delivery="broken")
    assert response.status_code == 400
    stored = harness.delivery("rejected:broken")
    assert stored is not None and stored.status == "rejected" and stored.last_error


@pytest.mark.parametrize("header", ["x-github-event", "x-github-delivery"])
def test_missing_event_headers_are_400(harness: Harness, header: str) -> None:
    response = harness.http.post(
        f"{harness.url}/webhooks/github",
        content=(body := json.dumps(opened()).encode()),
        headers={
            "content-type": "application/json",
            "x-hub-signature-256": __import__("tests.harness").harness.sign(body),
            **{h: "x" for h in ("x-github-event", "x-github-delivery") if h != header},
        },
    )
    assert response.status_code == 400


def test_an_oversized_body_is_413_before_it_is_read(harness: Harness) -> None:
    body = b" " * (25 * 1024 * 1024 + 1)
    response = harness.deliver("issues", body)
    assert response.status_code == 413


def test_an_issues_payload_missing_fields_is_recorded_as_failed(harness: Harness) -> None:
    data = opened()
    del data["issue"]["user"]  # type: ignore[index]
    response = harness.deliver("issues", data, delivery="no-user")
    assert response.status_code == 202
    stored = harness.delivery("no-user")
    assert stored is not None and stored.status == "dead"
    assert "user" in (stored.last_error or "")
    # The app goes on serving.
    mock_writes(harness)
    assert harness.deliver("issues", opened()).status_code == 202
    assert len(harness.github.calls()) == 2


def test_a_form_encoded_delivery_is_accepted(harness: Harness) -> None:
    mock_writes(harness)
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(opened())}).encode()
    response = harness.deliver(
        "issues", body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 202
    assert len(harness.github.calls()) == 2


def test_the_answer_does_not_wait_on_github(harness: Harness) -> None:
    release = threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        release.wait(10)
        return httpx.Response(200, json=[])

    harness.github.route("POST", f"/repos/{REPO}/issues/7/labels").mock(side_effect=slow)
    harness.github.route("POST", f"/repos/{REPO}/issues/7/comments").respond(201, json={"id": 1})
    response = harness.deliver("issues", opened(), wait=False)
    assert response.status_code == 202  # answered while the label call is still hanging
    release.set()
    harness.wait_idle()
    assert len(harness.github.calls()) == 2


def test_an_event_that_needs_nothing_costs_no_github_call(harness: Harness) -> None:
    data = payload("issue_comment.created")
    data["comment"]["user"] = data["issue"]["user"]  # the customer commenting on their own issue
    harness.deliver("issue_comment", data)
    harness.deliver("ping", payload("ping"))
    harness.deliver("star", {"action": "created", "installation": {"id": INSTALLATION}})
    assert harness.github.calls(setup=True) == []


def test_secrets_never_reach_the_logs(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    harness.github.route("POST", f"/repos/{REPO}/issues/7/labels").respond(
        500, json={"message": "boom"}
    )
    harness.github.route("POST", f"/repos/{REPO}/issues/7/comments").respond(201, json={"id": 1})
    harness.deliver("issues", opened())
    harness.deliver("issues", opened(), secret="wrong")
    text = "\n".join(r.getMessage() + repr(vars(r)) for r in caplog.records)
    assert TOKEN not in text
    assert "PRIVATE KEY" not in text
    assert "It's a Secret to Everybody" not in text
    assert harness.settings.github_private_key is not None
    key_body = harness.settings.github_private_key.get_secret_value().splitlines()[1]
    assert key_body not in text


def test_signatures_follow_githubs_documented_test_vector() -> None:
    from tests.factories import sign

    expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(b"Hello, World!", "It's a Secret to Everybody") == f"sha256={expected}"


def test_a_customer_editing_the_body_later_changes_nothing(harness: Harness) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    before = len(harness.github.calls(setup=True))
    edited = opened(priority=PROD)
    edited["action"] = "edited"
    edited["changes"] = {"body": {"from": "old"}}
    harness.deliver("issues", edited)
    assert len(harness.github.calls(setup=True)) == before
    assert [(c.priority, c.state) for c in harness.clocks()] == [("urgent", "running")]


def test_a_legacy_sha1_signature_is_refused(harness: Harness) -> None:
    import hashlib
    import hmac

    body = json.dumps(opened()).encode()
    legacy = "sha1=" + hmac.new(b"It's a Secret to Everybody", body, hashlib.sha1).hexdigest()
    response = harness.deliver("issues", body, headers={"x-hub-signature-256": legacy})
    assert response.status_code == 401


def test_an_overlong_delivery_id_is_400(harness: Harness) -> None:
    response = harness.deliver("issues", opened(), delivery="x" * 500)
    assert response.status_code == 400
