"""Every signed endpoint under hostile input (issue 25): the Slack and PagerDuty endpoints read
their bodies as the GitHub receiver does (size first, spooled, stalls dropped, a bound on
bodies in flight, one log line for a client that leaves) and a signed but absurd payload is
a 400 that changes nothing."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from app.http import interactions
from app.http.signatures import slack_headers
from app.time_source import system_time
from tests.factories import (
    PD_SECRET,
    SIGNING_SECRET,
    click,
    opened,
    opened_problem,
    pagerduty_signature,
)
from tests.harness import Harness, free_port, peak_rss_mib, serve

ENDPOINTS = ("/slack/interactions", "/pagerduty/webhooks")


def headers_for(harness: Harness, path: str, body: bytes) -> dict[str, str]:
    """Well-formed signature headers: right over `body`."""
    if path == "/slack/interactions":
        return {
            "content-type": "application/x-www-form-urlencoded",
            **slack_headers(SIGNING_SECRET, body, harness.time()),
        }
    return {"content-type": "application/json", "x-pagerduty-signature": pagerduty_signature(body)}


def started(harness: Harness, path: str, declared: int = 1000) -> socket.socket:
    """A connection that sent a request's headers (well-formed signature) and one byte."""
    host, port = harness.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    head = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {declared}"]
    head += [f"{k}: {v}" for k, v in headers_for(harness, path, b"x").items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b"p")
    return sock


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bodies stall after 0.5 s; 4 are read at once per endpoint."""
    limits = dataclasses.replace(interactions.LIMITS, stall=0.5, in_flight=4)
    monkeypatch.setattr(interactions, "LIMITS", limits)


@pytest.mark.usefixtures("quick")
@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_body_that_stalls_is_answered_408(oncall: Harness, path: str) -> None:
    with started(oncall, path) as sock:  # then nothing more
        assert sock.recv(4096).startswith(b"HTTP/1.1 408")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_body_that_trickles_is_dropped_as_one_that_stalls(
    oncall: Harness, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte every 0.3 s never stalls 0.5 s, but 1,000 bytes at that pace would take
    minutes: the body's whole time is bounded too (0.5 s + 1,000 bytes at 1,000 a second)."""
    limits = dataclasses.replace(interactions.LIMITS, stall=0.5, min_rate=1000)
    monkeypatch.setattr(interactions, "LIMITS", limits)
    with started(oncall, path) as sock:
        sock.settimeout(0.3)
        began, answer = time.monotonic(), b""
        while not answer and time.monotonic() - began < 5:
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                sock.sendall(b"x")
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - began < 3


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_huge_body_without_a_declared_size_is_cut_off_at_the_limit(
    oncall: Harness, path: str
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"payload="
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB in all, chunked: no Content-Length to refuse on

    headers = headers_for(oncall, path, b"whatever")
    assert (
        oncall.http.post(f"{oncall.url}{path}", content=chunks(), headers=headers).status_code
        == 413
    )


@pytest.mark.usefixtures("quick")
def test_many_stalled_bodies_leave_the_other_endpoints_answering(oncall: Harness) -> None:
    """4 stalled clicks fill the Slack endpoint's slots: the next click is 503 at once, and a
    GitHub delivery, a PagerDuty webhook and /healthz are answered as ever."""
    socks = [started(oncall, "/slack/interactions") for _ in range(4)]
    try:
        time.sleep(0.1)  # their bodies are being read
        began = time.monotonic()
        refused = click(oncall, "acknowledge")
        assert refused.status_code == 503 and time.monotonic() - began < 0.4
        assert refused.headers["retry-after"] == "1"
        assert oncall.deliver("issues", opened(), delivery="beside").status_code == 202
        assert oncall.http.get(f"{oncall.url}/healthz").status_code == 200
        # A signed webhook about an incident that is none of this deployment's: read,
        # verified and answered (main's incident keys name a deployment and an episode).
        assert signed_webhook(oncall, _incident("another-deployment-1")).status_code == 200
    finally:
        for sock in socks:
            sock.close()
    time.sleep(0.1)
    oncall.deliver("issues", opened_problem("All end users"))
    assert click(oncall, "acknowledge").status_code == 200  # the slots are free again


def test_the_github_receiver_bounds_its_bodies_in_flight_too(
    oncall: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.webhooks.receiver.IN_FLIGHT", 2)
    monkeypatch.setattr("app.webhooks.receiver.STALL_SECONDS", 0.5)
    socks = [started_github(oncall) for _ in range(2)]
    try:
        time.sleep(0.1)
        assert oncall.deliver("issues", opened(), delivery="third").status_code == 503
        assert oncall.delivery("third") is None
    finally:
        for sock in socks:
            sock.close()
    time.sleep(0.1)
    assert oncall.deliver("issues", opened(), delivery="third").status_code == 202


def started_github(harness: Harness) -> socket.socket:
    host, port = harness.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: issues\r\n"
        b"X-GitHub-Delivery: slow\r\nX-Hub-Signature-256: sha256="
        + b"0" * 64
        + b"\r\nContent-Length: 1000\r\n\r\n{"
    )
    return sock


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_client_gone_mid_body_costs_one_log_line(
    oncall: Harness, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with started(oncall, path):
        pass  # and the connection closes
    deadline = time.monotonic() + 5
    while "went away mid-body" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    gone = [r for r in caplog.records if "went away mid-body" in r.getMessage()]
    assert len(gone) == 1 and gone[0].exc_info is None and "Traceback" not in caplog.text
    oncall.deliver("issues", opened_problem("All end users"))
    assert click(oncall, "acknowledge").status_code == 200


def signed_click(harness: Harness, data: dict[str, Any] | str) -> httpx.Response:
    raw = data if isinstance(data, str) else json.dumps(data)
    body = urlencode({"payload": raw}).encode()
    headers = headers_for(harness, "/slack/interactions", body)
    return harness.http.post(f"{harness.url}/slack/interactions", content=body, headers=headers)


def signed_webhook(harness: Harness, raw: str) -> httpx.Response:
    body = raw.encode()
    headers = headers_for(harness, "/pagerduty/webhooks", body)
    return harness.http.post(f"{harness.url}/pagerduty/webhooks", content=body, headers=headers)


def _click(value: Any) -> dict[str, Any]:
    action = {"action_id": "sla_acknowledge", "value": value}
    return {
        "type": "block_actions",
        "user": {"id": "U0ONCALL", "name": "dana"},
        "team": {"id": "T0"},
        "actions": [action],
    }


def _incident(key: str) -> str:
    return json.dumps(
        {
            "event": {
                "event_type": "incident.acknowledged",
                "agent": {"summary": "x"},
                "data": {"incident_key": key},
            }
        }
    )


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "block_actions", "x": ' + "[" * 50_000 + "]" * 50_000 + "}",  # orjson: too deep
        '{"type": "block_actions", "x": ' + "[" * 1_010 + "]" * 1_010 + "}",  # json: too deep
        json.dumps(_click("99999999999999999999")),  # a 20-digit value
        '{"type": "block_actions", "actions": [{"action_id": "sla_acknowledge", '
        '"value": 12345678901234567890}], "user": {"id": "U1"}}',
        json.dumps(_click("-3")),
        '{"type": "block_actions", "n": NaN}',
        '{"type": "block_actions", "n": 1e999999}',
        "[1, 2]",
        "not json",
    ],
    ids=[
        "deep",
        "just-deep",
        "20-digits",
        "20-digit-number",
        "negative",
        "nan",
        "inf",
        "list",
        "text",
    ],
)
def test_a_signed_but_absurd_click_is_400_and_changes_nothing(oncall: Harness, raw: str) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    before = len(oncall.github.calls())
    assert signed_click(oncall, raw).status_code == 400
    oncall.wait_idle()
    assert oncall.clocks()[0].state == "running" and len(oncall.github.calls()) == before


@pytest.mark.parametrize(
    "raw",
    [
        '{"event": ' + "[" * 50_000 + "]" * 50_000 + "}",
        _incident("sla-bot-clock-99999999999999999999"),
        _incident("sla-bot-clock--4"),
        "\xff\xfe",
        "[]",
    ],
    ids=["deep", "20-digits", "negative", "not-utf8", "list"],
)
def test_a_signed_but_absurd_webhook_is_400(oncall: Harness, raw: str) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    assert signed_webhook(oncall, raw).status_code == 400
    assert oncall.clocks()[0].state == "running"


def test_a_click_or_webhook_with_no_payload_field_or_bad_encoding_is_400(oncall: Harness) -> None:
    for body in (b"nothing=here", b"payload=%ff%fe", b"\xff"):
        headers = headers_for(oncall, "/slack/interactions", body)
        answer = oncall.http.post(f"{oncall.url}/slack/interactions", content=body, headers=headers)
        assert answer.status_code == 400


def _held_open(port: int, path: str, headers: dict[str, str], size: int) -> socket.socket:
    """A request whose headers and all but the last byte of its `size`-byte body were sent
    (as far as the server read them within a few seconds), then held open."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    head = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {size}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    chunk = b"x" * 65536
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        for _ in range(size // len(chunk) - 1):
            sock.sendall(chunk)
    except OSError:  # refused at once, and no longer read
        pass
    return sock


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_bodies_of_1_mib_held_open_cost_little_memory(tmp_path: Path) -> None:
    """300 bodies of 1 MiB with well-formed, wrong signatures, sent all but their last byte
    and held open at both endpoints: the server's peak memory grows by a fraction of the
    300 MiB it was sent (each body used to be held whole: 121 -> 443 MiB)."""
    port = free_port()
    env = {
        **os.environ,
        "GITHUB_WEBHOOK_SECRET": "edge-test-webhook-secret",
        "SLA_SWEEP_INTERVAL": "0",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "PAGERDUTY_WEBHOOK_SECRET": PD_SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'flood.db'}",
        "LOG_LEVEL": "ERROR",
        "SLA_WORKER": "inline",
    }
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "SLACK_BOT_TOKEN"):
        env.pop(name, None)
    server = serve(env, port)
    stamp = str(int(system_time().timestamp()))  # the server's own clock
    forged = {
        "/slack/interactions": {
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": "v0=" + "0" * 64,
        },
        "/pagerduty/webhooks": {"x-pagerduty-signature": "v1=" + "0" * 64},
    }
    try:
        before = peak_rss_mib(server.pid)
        with ThreadPoolExecutor(50) as pool:
            socks = list(
                pool.map(
                    lambda n: _held_open(port, ENDPOINTS[n % 2], forged[ENDPOINTS[n % 2]], 2**20),
                    range(300),
                )
            )
        time.sleep(0.5)
        grown = peak_rss_mib(server.pid) - before
        healthy = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code
        for sock in socks:
            sock.close()
    finally:
        server.terminate()
        server.wait(10)
    assert healthy == 200
    assert grown < 80, f"peak memory grew by {grown:.0f} MiB"


def test_the_deployment_guide_routes_every_endpoint_the_internet_calls() -> None:
    """docs/deploy.md's nginx example passes on every POST endpoint (and nothing else)."""
    from app.config import Settings
    from app.http.main import create_app

    app = create_app(Settings(github_webhook_secret="a-real-secret-for-the-route-table"))
    posts = {  # the receiver's bare route, and every POST in the API's schema
        route.path for route in app.routes if "POST" in (getattr(route, "methods", None) or ())
    } | {path for path, methods in app.openapi()["paths"].items() if "post" in methods}
    guide = (Path(__file__).parents[1] / "docs" / "deploy.md").read_text()
    routed = set(re.findall(r"location = (/\S+)\s*\{[^}]*proxy_pass", guide))
    twilio = {
        f"/twilio/voice{end}"
        for end in ("", "/recorded", "/transcribed", "/silent", "/status", "/answered")
    }
    assert (
        posts
        == routed
        == {
            "/webhooks/github",
            "/slack/interactions",
            "/pagerduty/webhooks",
            "/slack/events",
            *twilio,
        }
    )
