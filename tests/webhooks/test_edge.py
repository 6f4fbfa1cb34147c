"""The receiver under hostile input (issue 12): nothing unauthenticated grows memory or
metrics, malformed signatures are 401s, replays change nothing, one absurd delivery fails
alone."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from app.store import deliveries
from app.store.ingest import DeliveryWriter
from tests.factories import SECRET, label, opened, payload, sign
from tests.harness import Harness, free_port, mock_writes, peak_rss_mib, serve


def post(harness: Harness, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return harness.http.post(f"{harness.url}/webhooks/github", content=body, headers=headers)


def test_unsigned_requests_with_made_up_events_do_not_grow_the_metrics(harness: Harness) -> None:
    before = len(harness.http.get(f"{harness.url}/metrics").content)
    for n in range(300):
        headers = {"x-github-event": f"made-up-{n}", "x-github-delivery": str(n)}
        assert post(harness, b"{}", headers).status_code == 401
    signed = b'{"zen": "hi"}'
    for n in range(50):  # signed but unknown events share one "other" series
        headers = {
            "x-github-event": f"signed-{n}",
            "x-github-delivery": f"s{n}",
            "x-hub-signature-256": sign(signed + str(n).encode()),
        }
        post(harness, signed + str(n).encode(), headers)
    text = harness.http.get(f"{harness.url}/metrics").text
    assert "made-up" not in text and "signed-" not in text
    assert len(text) - before < 2_000


@pytest.mark.parametrize(
    "signature",
    ["sha256=é" + "0" * 63, "sha256=" + "Z" * 64, "sha1=" + "0" * 40, "sha256=", "", "x" * 5000],
)
def test_any_malformed_signature_is_a_401_without_reading_the_body(
    harness: Harness, signature: str
) -> None:
    headers = {
        "x-github-event": "issues",
        "x-github-delivery": "bad-sig",
        "x-hub-signature-256": signature,
    }
    response = harness.http.post(
        f"{harness.url}/webhooks/github",
        content=json.dumps(opened()).encode(),
        headers={k: v.encode() for k, v in headers.items()},  # raw bytes: é goes out as UTF-8
    )
    assert response.status_code == 401
    assert harness.delivery("bad-sig") is None


def test_a_replayed_body_under_a_new_delivery_id_changes_nothing(harness: Harness) -> None:
    mock_writes(harness)
    body = json.dumps(
        payload(
            "issues.labeled",
            label=label("priority: urgent"),
            issue__labels=[label("priority: urgent")],
        )
    ).encode()
    first = harness.deliver("issues", body, delivery="original")
    again = [harness.deliver("issues", body, delivery=f"replay-{n}") for n in range(3)]
    assert first.status_code == 202
    assert {r.status_code for r in again} == {200}  # already stored
    assert [harness.delivery(f"replay-{n}") for n in range(3)] == [None] * 3
    assert len(harness.clocks()) == 1


def test_one_absurd_delivery_fails_alone(harness: Harness) -> None:
    mock_writes(harness)
    absurd = [
        payload("issues.opened", issue__number=10**30),
        payload("issues.opened", installation={"id": 10**20}),
    ]
    answers = [harness.deliver("issues", a, wait=False).status_code for a in absurd]
    nested = '{"action": "opened", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    answers.append(harness.deliver("issues", nested.encode(), wait=False).status_code)
    assert answers == [400, 400, 400]
    good = [harness.deliver("issues", opened(issue__number=n)) for n in range(20, 25)]
    assert {r.status_code for r in good} == {202}


@pytest.mark.anyio
async def test_a_row_the_store_refuses_does_not_fail_its_batch(db: Any) -> None:
    writer = DeliveryWriter(db)
    rows = [_row(f"good-{n}") for n in range(20)]
    rows.insert(7, {**_row("bad"), "issue_number": 10**30})  # what validation would have caught
    try:
        results = await asyncio.gather(*(writer.record(r) for r in rows), return_exceptions=True)
    finally:
        await writer.aclose()
    assert [type(r) for r in results].count(bool) == 20 and all(
        r is True for r in results if isinstance(r, bool)
    )
    assert isinstance(results[7], Exception)
    assert all(db.tx(deliveries.get, f"good-{n}") is not None for n in range(20))


def _row(delivery_id: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    return {
        "id": delivery_id,
        "event": "issues",
        "action": "opened",
        "installation_id": 1,
        "repo": "acme/support",
        "issue_number": 7,
        "body": "{}",
        "received_at": now,
        "status": "pending",
        "next_attempt_at": now,
        "body_sha256": uuid.uuid4().hex,
    }


def test_the_secret_in_use_is_the_one_checked() -> None:
    body = b"Hello, World!"
    assert sign(body, "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    assert SECRET == "It's a Secret to Everybody"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_large_forged_bodies_cost_disk_not_memory(tmp_path: Path) -> None:
    """16 concurrent 20 MiB bodies, unsigned or with a wrong signature: the server's peak
    memory grows by far less than the 320 MiB it was sent."""
    port = free_port()
    env = {
        **os.environ,
        "GITHUB_WEBHOOK_SECRET": "edge-test-webhook-secret",
        "SLA_SWEEP_INTERVAL": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'edge.db'}",
        "LOG_LEVEL": "ERROR",
    }
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "SLACK_BOT_TOKEN"):
        env.pop(name, None)
    server = serve(env, port)
    try:
        url = f"http://127.0.0.1:{port}/webhooks/github"
        httpx.post(url, content=b"{}", headers={"x-hub-signature-256": "sha256=" + "0" * 64})
        before = peak_rss_mib(server.pid)
        body = b"x" * (20 * 1024 * 1024)

        def send(n: int) -> int:
            headers = {"x-github-event": "issues", "x-github-delivery": f"big-{n}"}
            if n % 2:
                headers["x-hub-signature-256"] = "sha256=" + "0" * 64  # well-formed, wrong
            try:
                return httpx.post(url, content=body, headers=headers, timeout=60).status_code
            except httpx.TransportError:  # an unsigned one may be cut off mid-upload
                return 401

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(send, range(16)))
        grown = peak_rss_mib(server.pid) - before
    finally:
        server.terminate()
        server.wait(10)
    assert set(answers) == {401}
    assert grown < 160, f"peak memory grew by {grown:.0f} MiB"


def _first_byte_only(harness: Harness, delivery: str) -> socket.socket:
    """A connection that has sent a delivery's headers and the first of its 1,000 bytes."""
    host, port = harness.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-GitHub-Event: issues\r\nX-GitHub-Delivery: " + delivery.encode() + b"\r\n"
        b"X-Hub-Signature-256: sha256=" + b"0" * 64 + b"\r\nContent-Length: 1000\r\n\r\n{"
    )
    return sock


def test_a_body_that_stalls_is_dropped(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.webhooks.receiver.STALL_SECONDS", 0.5)
    with _first_byte_only(harness, "slow") as sock:  # then nothing more
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408")
    assert harness.delivery("slow") is None


def test_a_delivery_naming_another_installation_for_a_tracked_repo_is_parked(
    harness: Harness,
) -> None:
    from app.store import repos

    harness.services.db.tx(repos.add, "acme/support", 2311213, harness.time())
    mock_writes(harness)
    wrong = opened(installation={"id": 5555})
    harness.deliver("issues", wrong, delivery="mixed-up")
    parked = harness.delivery("mixed-up")
    assert parked is not None and parked.status == "dead"
    assert "installation 5555 does not own acme/support" in (parked.last_error or "")
    assert harness.github.calls(setup=True) == []  # nothing read or written with its token
    harness.deliver("issues", opened(), delivery="right")
    assert len(harness.github.calls()) == 2  # the real one: labels and comment


def test_the_tenant_check_covers_a_repository_name_of_any_length(harness: Harness) -> None:
    """GitHub's names go up to 140 characters (owner 39, name 100): one past 64 was clipped
    when stored, matched no owner, and skipped the check."""
    from app.store import repos

    long_name = "acme/" + "support-" * 12 + "x" * 4  # 105 characters
    harness.services.db.tx(repos.add, long_name, 2311213, harness.time())
    wrong = opened(installation={"id": 5555}, repository__full_name=long_name)
    harness.deliver("issues", wrong, delivery="long-mixed-up")
    parked = harness.delivery("long-mixed-up")
    assert parked is not None and parked.status == "dead" and parked.repo == long_name
    assert f"installation 5555 does not own {long_name}" in (parked.last_error or "")
    assert harness.github.calls(setup=True) == []
    absurd = opened(repository__full_name="acme/" + "x" * 300)
    assert harness.deliver("issues", absurd, delivery="absurd-name").status_code == 400


@pytest.mark.anyio
@pytest.mark.parametrize("size", [7_000, 3 * 1024 * 1024])  # in memory; spooled to disk
async def test_a_signed_body_is_read_whole_in_memory_or_spooled(size: int) -> None:
    from app.http import body as reader
    from app.webhooks.receiver import IN_MEMORY, limits

    body = bytes(range(256)) * (size // 256)
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]

    async def receive() -> dict[str, object]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    scope = {"type": "http", "method": "POST", "headers": [], "path": "/webhooks/github"}
    mac = hmac.new(b"s3cret", digestmod=hashlib.sha256)
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    read = await reader.read(Request(scope, receive), mac, expected.__eq__, limits())
    assert read == body and (size > IN_MEMORY) == (len(body) > IN_MEMORY)
    assert mac.hexdigest() == expected


def test_a_delivery_the_store_cannot_take_is_answered_503_and_the_next_one_is_stored(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy.exc import OperationalError

    mock_writes(harness)

    async def down(row: dict[str, Any]) -> bool:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    with monkeypatch.context() as patch:
        patch.setattr(harness.services.writer, "record", down)
        refused = harness.deliver("issues", opened(), delivery="while-down", wait=False)
    assert refused.status_code == 503
    assert "not" in refused.json()["detail"] and harness.delivery("while-down") is None
    assert SECRET not in caplog.text and '"action"' not in caplog.text  # no body in the log
    assert harness.deliver("issues", opened(), delivery="while-down").status_code == 202
    assert harness.http.get(f"{harness.url}/webhooks/github").status_code == 405


def test_a_client_that_goes_away_mid_body_stores_nothing_and_costs_no_traceback(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    mock_writes(harness)
    with _first_byte_only(harness, "gone"):
        pass  # and the connection closes
    assert harness.deliver("issues", opened(), delivery="after").status_code == 202
    deadline = time.monotonic() + 5
    while "went away mid-body" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "went away mid-body" in caplog.text and "Traceback" not in caplog.text
    assert harness.delivery("gone") is None


@pytest.mark.anyio
async def test_a_batch_of_deliveries_is_stored_beside_one_still_committing(db: Any) -> None:
    """PostgreSQL: while one batch waits for its commit, the next is stored beside it (one
    commit at a time held every request behind the WAL flush of the batch before)."""
    writer, real, release = DeliveryWriter(db), db.run_receiving, asyncio.Event()
    calls = 0

    async def first_one_slow(fn: Any, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()
        return await real(fn, *args)

    db.run_receiving = first_one_slow
    try:
        slow = asyncio.ensure_future(writer.record(_row("slow")))
        await asyncio.sleep(0.05)
        beside = asyncio.ensure_future(writer.record(_row("beside")))
        done, _ = await asyncio.wait({beside}, timeout=2)
        stored_beside = beside in done and beside.result() is True
        release.set()
        assert await slow is True
        await beside
    finally:
        await writer.aclose()
    serial = db.engine.dialect.name == "sqlite"  # one writer there: it waits its turn
    assert stored_beside is not serial
