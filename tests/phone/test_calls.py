"""The escalation number end to end on loopback: the Twilio stand-in places signed calls to
the real app; Slack, PagerDuty and GitHub are stand-ins. A call pages at once, opens
one issue, the recording and the transcript are edited into it; retries change nothing;
unsigned, forged or replayed requests are 403 and open nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from app.store import calls, repos
from app.store.tables import calls as calls_table
from sla_sandbox.standins import FakeSlack
from sla_sandbox.standins.pagerduty import FakePagerDuty
from sla_sandbox.standins.twilio import AUTH_TOKEN, FakeTwilio
from tests.factories import SUNDAY_3AM, click
from tests.harness import INSTALLATION, REPO, GitHubMock, Harness, MovableTime
from tests.phone.support import CALLER, ISSUE_URL, LINE, edits, opened, pages, served_line

POLICY = f"""\
oncall:
  escalate_to: [S0ONCALL]
intake:
  phone:
    numbers: ["{LINE}"]
    open_in: {REPO}
    team: Acme support
"""


@pytest.fixture
def line(
    tmp_path: Path,
    github: GitHubMock,
    fake_slack: FakeSlack,
    time: MovableTime,
    app_key: str,
    pagerduty: FakePagerDuty,
    database_url: str,
) -> Iterator[Harness]:
    with served_line(
        POLICY,
        tmp_path=tmp_path,
        database_url=database_url,
        github=github,
        slack=fake_slack,
        time=time,
        app_key=app_key,
        pagerduty=pagerduty,
    ) as harness:
        yield harness


@pytest.fixture
def twilio(line: Harness) -> FakeTwilio:
    return FakeTwilio(line.url, client=line.http)


def stored_calls(harness: Harness) -> int:
    return len(harness.services.db.tx(lambda conn: conn.execute(calls_table.select()).all()))


def test_a_call_pages_at_once_and_its_recording_and_transcript_land_on_one_issue(
    line: Harness,
    twilio: FakeTwilio,
    fake_slack: FakeSlack,
    pagerduty: FakePagerDuty,
) -> None:
    call = twilio.call(LINE, CALLER)
    assert call.responses[-1].status_code == 200
    assert call.responses[-1].headers["content-type"].startswith("application/xml")
    # The TwiML: the policy's greeting, then the tone and the recording, transcribed.
    assert call.answer is not None
    assert call.answer.said()[0] == (
        "You have reached the production-down line of Acme support. After the tone, clearly "
        "state your name and describe the problem."
    )
    record, _ = call.answer.first("Record")
    assert record["maxLength"] == "120" and record["playBeep"] == "true"
    assert record["transcribe"] == "true"
    assert record["action"].endswith("/twilio/voice/recorded")
    line.wait_idle()
    # Paged (how soon is bench/calls.py's figure): Slack with its buttons, and PagerDuty.
    [page] = pages(fake_slack)
    assert "Production down: phone call from +31 •••••• 678" in (page.text or "")
    actions = [b for b in page.blocks or [] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == ["sla_acknowledge", "sla_resolve"]
    [trigger] = pagerduty.events
    assert trigger["event_action"] == "trigger" and pagerduty.refused == []
    # One issue, labeled production down and Problem/Troubleshooting; the caller's number
    # masked in its title, whole in its body (the policy allows it).
    [issue] = opened(line)
    assert issue["labels"] == ["priority: production-down", "type: problem"]
    assert issue["title"] == "Production down: phone call from +31 •••••• 678"
    assert CALLER in issue["body"] and "Sun 29 Nov 2026 03:00 CET" in issue["body"]
    # The page now links the issue.
    assert ISSUE_URL in json.dumps(pages(fake_slack)[0].blocks)
    # The clock runs 30 minutes from the call, on issue 42.
    [clock] = line.clocks(42)
    assert clock.started_at == SUNDAY_3AM and clock.due_at == SUNDAY_3AM + timedelta(minutes=30)
    assert clock.paged_at == SUNDAY_3AM

    closing = twilio.speak(call, seconds=21)
    assert closing.status_code == 200 and call.answer is not None
    assert call.answer.said() == [
        "Thank you. The on-call engineer has been alerted and will call you back. Goodbye."
    ]
    line.wait_idle()
    recording = twilio.recording_url(call.params["RecordingSid"])
    assert f"{recording} (21 s)" in edits(line)[-1]
    assert twilio.transcribe(call, "This is Kim from Acme. Checkout is down.").status_code == 200
    line.wait_idle()
    assert "> This is Kim from Acme. Checkout is down." in edits(line)[-1]

    # Twilio retries every webhook: nothing changes twice.
    before = (len(edits(line)), len(fake_slack.messages), len(pagerduty.events))
    again = FakeTwilio(line.url, client=line.http)
    again.post(f"{line.url}/twilio/voice", call.params | {"CallStatus": "ringing"})
    twilio.speak(call, seconds=21)
    call.params["RecordingSid"] = recording.rsplit("/", 1)[1]
    call.params["RecordingUrl"] = recording
    twilio.speak(call, seconds=21)
    twilio.transcribe(call, "This is Kim from Acme. Checkout is down.")
    line.wait_idle()
    assert len(opened(line)) == 1 and stored_calls(line) == 1
    assert (len(fake_slack.messages), len(pagerduty.events)) == before[1:]


def test_unsigned_forged_and_replayed_requests_are_403_and_open_nothing(
    line: Harness, twilio: FakeTwilio, fake_slack: FakeSlack
) -> None:
    unsigned = twilio.call(LINE, CALLER, signed=False)
    forged = twilio.call(LINE, CALLER, token="not-the-auth-token-0123456789abcd")
    assert [unsigned.responses[-1].status_code, forged.responses[-1].status_code] == [403, 403]
    # A signed request sent to another URL than the one it was signed for (a replay).
    params = {"CallSid": "CA" + "9" * 32, "From": CALLER, "To": LINE}
    signature = FakeTwilio(line.url, public="https://elsewhere.example", client=line.http).post
    moved = signature("https://elsewhere.example/twilio/voice/status", params)
    assert moved.status_code == 403
    line.wait_idle()
    assert stored_calls(line) == 0 and fake_slack.messages == [] and opened(line) == []
    # A genuine call's webhook replayed after the call's life (4 hours) is refused too.
    call = twilio.call(LINE, CALLER)
    line.wait_idle()
    line.time.advance(hours=5)
    replayed = twilio.post(f"{line.url}/twilio/voice", call.params)
    assert replayed.status_code == 403
    assert len(pages(fake_slack)) == 1 and len(opened(line)) == 1


def test_a_call_to_a_number_nobody_claims_is_answered_politely_and_opens_nothing(
    line: Harness, twilio: FakeTwilio, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    call = twilio.call("+31209999999", CALLER)
    assert call.answer is not None and call.answer.verbs[-1][0] == "Hangup"
    assert "not set up to take reports" in call.answer.said()[0]
    line.wait_idle()
    assert stored_calls(line) == 0 and fake_slack.messages == []
    assert "call to a number no policy claims" in caplog.text
    assert CALLER not in caplog.text  # the caller's number stays out of the log


def test_a_caller_who_hangs_up_before_the_tone_still_pages_with_their_number(
    line: Harness,
    twilio: FakeTwilio,
    fake_slack: FakeSlack,
    pagerduty: FakePagerDuty,
) -> None:
    call = twilio.call(LINE, CALLER)
    assert twilio.hang_up(call).status_code == 200
    line.wait_idle()
    assert len(pages(fake_slack)) == 1 and len(pagerduty.events) == 1
    [reply] = [m for m in fake_slack.messages if m.thread_ts]
    assert reply.text == (
        f":telephone_receiver: The caller ({CALLER}) hung up before describing the problem. "
        "Call them back."
    )
    assert "the caller hung up before describing the problem" in edits(line)[-1]


def test_nothing_said_after_the_tone_says_so_on_the_issue(
    line: Harness, twilio: FakeTwilio
) -> None:
    call = twilio.call(LINE, CALLER)
    assert twilio.silence(call).status_code == 200
    assert call.answer is not None and call.answer.verbs == [("Hangup", {}, "")]
    line.wait_idle()
    assert "the caller did not speak after the tone" in edits(line)[-1]


def test_github_down_the_page_goes_out_and_the_issue_follows_with_the_acknowledgement(
    line: Harness,
    twilio: FakeTwilio,
    fake_slack: FakeSlack,
    pagerduty: FakePagerDuty,
) -> None:
    route = line.github.router.routes["open"]
    down = httpx.Response(503, json={"message": "down"})
    route.side_effect = [down, httpx.Response(201, json={"number": 42, "html_url": ISSUE_URL})]
    comment = line.github.route("POST", f"/repos/{REPO}/issues/42/comments").respond(
        201, json={"id": 7, "html_url": ISSUE_URL}
    )
    # The retry looks for an issue the failed attempt may have opened before opening one.
    search = line.github.route("GET", f"/repos/{REPO}/issues").respond(200, json=[])
    twilio.call(LINE, CALLER)
    line.wait_idle()
    assert len(pages(fake_slack)) == 1 and len(pagerduty.events) == 1
    [clock_id] = [c.clock_id for c in [line.services.db.tx(calls.by_sid, _sid(line))]]
    assert clock_id is not None
    assert click(line, "acknowledge", clock_id).status_code == 200
    line.wait_idle()
    assert comment.calls.call_count == 0  # held for the issue, not sent to a guess
    line.time.advance(minutes=2)  # the retry of the opening is due
    line.services.runner.kick()
    line.wait_idle()
    # Asked twice (GitHub refused the first with a 503): one issue.
    assert [c.response.status_code for c in route.calls] == [503, 201]
    assert search.call_count == 1
    line.time.advance(seconds=5)
    line.services.runner.kick()
    line.wait_idle()
    [ack] = [json.loads(c.request.content)["body"] for c in comment.calls]
    assert "is on it since" in ack
    [clock] = line.clocks(42)
    assert clock.state == "met" and clock.acked_at is not None


def _sid(harness: Harness) -> str:
    rows = harness.services.db.tx(lambda conn: conn.execute(calls_table.select()).all())
    return str(rows[0].sid)


def test_behind_a_proxy_the_signature_is_checked_against_sla_public_url(
    tmp_path: Path, github: GitHubMock, time: MovableTime, app_key: str
) -> None:
    policy = tmp_path / "sla.yml"
    policy.write_text(POLICY)
    with Harness(
        database_url=f"sqlite:///{tmp_path / 'proxy.db'}",
        github=github,
        slack=None,
        time=time,
        private_key=app_key,
        sla_policy_file=policy,
        twilio_auth_token=AUTH_TOKEN,
        sla_public_url="https://sla.example.com/",
    ) as harness:
        harness.services.db.tx(repos.add, REPO, INSTALLATION, time.now)
        proxied = FakeTwilio(harness.url, public="https://sla.example.com", client=harness.http)
        call = proxied.call(LINE, CALLER)
        assert call.responses[-1].status_code == 200 and call.answer is not None
        record, _ = call.answer.first("Record")
        assert record["action"] == "https://sla.example.com/twilio/voice/recorded"
        local = FakeTwilio(harness.url, client=harness.http).call(LINE, "+31699999999")
        assert local.responses[-1].status_code == 403


def test_the_phone_line_is_off_without_twilio_auth_token(harness: Harness) -> None:
    answer = FakeTwilio(harness.url, client=harness.http).call(LINE, CALLER)
    assert answer.responses[-1].status_code == 404
    assert "TWILIO_AUTH_TOKEN" in answer.responses[-1].text


def call_issue_opened(line: Harness, twilio: FakeTwilio, body: str | None = None) -> None:
    """A call, then GitHub's `opened` delivery of the issue sla-bot opened for it (#42)."""
    from tests.factories import label, payload
    from tests.harness import mock_writes

    mock_writes(line, 42)
    twilio.call(LINE, CALLER)
    line.wait_idle()
    bot = {"login": "sla-bot[bot]", "id": 99, "type": "Bot"}
    labels = [label("priority: production-down"), label("type: problem")]
    extra = {} if body is None else {"issue__body": body}
    data = payload(
        "issues.opened",
        issue__number=42,
        issue__html_url=ISSUE_URL,
        issue__user=bot,
        issue__labels=labels,
        sender=bot,
        **extra,
    )
    assert line.deliver("issues", data).status_code == 202
    line.wait_idle()


def test_the_issues_own_opened_delivery_pages_nobody_again(
    line: Harness,
    twilio: FakeTwilio,
    fake_slack: FakeSlack,
    pagerduty: FakePagerDuty,
) -> None:
    call_issue_opened(line, twilio)
    assert len(pages(fake_slack)) == 1 and len(pagerduty.events) == 1
    assert [c.paged_at for c in line.clocks(42)] == [SUNDAY_3AM]


def test_an_app_opened_issues_delivery_waits_while_a_calls_issue_is_being_opened(
    line: Harness,
) -> None:
    from app.sla import rules
    from app.sla.domain import Priority
    from app.sla.policy import DEFAULT_POLICY
    from app.store import tracking

    db, now = line.services.db, line.time.now
    call = db.tx(
        calls.add,
        sid="CA" + "1" * 32,
        installation_id=INSTALLATION,
        repo=REPO,
        to_number=LINE,
        from_number=CALLER,
        at=now,
    )
    assert call is not None
    db.tx(calls.opening, call, now)  # GitHub asked, its answer (the number) not recorded
    subject = tracking.Subject(INSTALLATION, REPO, 42, "t", ISSUE_URL, "sla-bot[bot]")
    event = rules.Opened(now, Priority.PRODUCTION_DOWN, "problem", "sla-bot[bot]")
    with pytest.raises(tracking.CallIssueOpening):  # the delivery is retried in 10 s
        db.tx(tracking.handle, subject, event, DEFAULT_POLICY, now, case=rules.Case())
    person = tracking.Subject(INSTALLATION, REPO, 43, "t", ISSUE_URL, "kim")
    assert db.tx(tracking.handle, person, event, DEFAULT_POLICY, now, case=rules.Case()) == 1
    later = now + calls.OPENING + timedelta(seconds=1)  # a worker died mid-opening: not for ever
    assert db.tx(tracking.handle, subject, event, DEFAULT_POLICY, later, case=rules.Case()) == 1


def test_the_calls_issue_gets_no_intake_comment_greeting_sla_bot(
    line: Harness,
    twilio: FakeTwilio,
    fake_slack: FakeSlack,
    pagerduty: FakePagerDuty,
) -> None:
    from tests.harness import body_of

    call_issue_opened(line, twilio, "<!-- sla-bot:call:CA0123 -->\nA call to the escalation number")
    said = [
        str(body_of(c)["body"])
        for c in line.github.calls()
        if c.request.method == "POST" and "/comments" in str(c.request.url)
    ]
    assert not [text for text in said if "Thanks for your request" in text]
