"""`sla-bot sandbox` tried as a new user: one curl line later, labels and a comment are
visible at /sandbox, and the page went to the on-call channel; the page's call button rings
the escalation number and a production-down issue opens and pages; run again in the same
folder, it works again, and the operator's store is never touched."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests import processes
from tests.harness import free_port


@contextmanager
def running_sandbox(folder: Path, *args: str, **env: str) -> Iterator[tuple[str, list[str]]]:
    """`sla-bot sandbox` started in `folder`; yields its base URL and, once it has stopped,
    what the command printed (as the list's one item)."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SLACK_"))}
    log = folder / f"sandbox-{port}.log"  # outside the pipe: its log lines never fill it
    with log.open("w") as stderr:
        process = processes.Popen(
            [sys.executable, "-m", "app.cli.main", "sandbox", "--port", str(port), *args],
            cwd=folder,
            env={**clean, **env},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    base, printed = f"http://127.0.0.1:{port}", []
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"{base}/healthz"):
            assert process.poll() is None and time.monotonic() < deadline, (
                f"the sandbox did not come up:\n{log.read_text()}"
            )
            time.sleep(0.1)
        yield base, printed
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
        printed.append(out)
        log.unlink()


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.TransportError:
        return False
    return True


def sandbox_page_once(base: str, *shown: str, seconds: float = 30) -> str:
    """/sandbox once it shows every one of `shown` (GitHub and Slack send on their own: in
    any order), or as it is when time is up."""
    deadline, page = time.monotonic() + seconds, ""
    while time.monotonic() < deadline and not all(part in page for part in shown):
        page = httpx.get(f"{base}/sandbox", timeout=5).text
        time.sleep(0.1)
    return page


def one_sandbox_request(folder: Path, *args: str, **env: str) -> tuple[str, str, str]:
    """Start the sandbox in `folder`, open the sample issue, and return its base URL, what
    /sandbox showed once the page went out, and what the command printed."""
    with running_sandbox(folder, *args, **env) as (base, printed):
        opened = httpx.post(
            f"{base}/sandbox/issues",
            timeout=10,
            data={
                "title": "Checkout is down",
                "priority": "production-down",
                "affected": "All end users",
            },
        )
        assert opened.status_code == 202
        page = sandbox_page_once(base, "Paging on-call", "/issues/1/labels", "/issues/1/comments")
    return base, page, printed[0]


@pytest.mark.slow
def test_one_request_later_labels_comment_and_page_show_at_sandbox(tmp_path: Path) -> None:
    base, page, out = one_sandbox_request(tmp_path)
    assert "/repos/acme/support/issues/1/labels" in page and "priority: production-down" in page
    assert "/repos/acme/support/issues/1/comments" in page and "Thanks for your request" in page
    assert "#on-call" in page and "Paging on-call: acme/support#1" in page
    assert "webhook secret:" in out and f"curl -X POST {base}/sandbox/issues" in out


@pytest.mark.slow
def test_sandbox_twice_beside_the_operators_env_works_and_leaves_their_store_alone(
    tmp_path: Path,
) -> None:
    # The README's `set -a; . ./.env` exported DATABASE_URL; ./sla-bot.db is the default.
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'production.db'}"}
    for _ in range(2):
        _, page, out = one_sandbox_request(tmp_path, **env)
        assert "Paging on-call: acme/support#1" in page  # the second run pages too
        assert "store: a temporary one of its own" in out
    assert not (tmp_path / "production.db").exists() and not (tmp_path / "sla-bot.db").exists()


def test_sandbox_with_store_keeps_it_there(tmp_path: Path) -> None:
    _, page, out = one_sandbox_request(tmp_path, "--store", "try.db")
    assert "Paging on-call" in page
    assert f"store: sqlite:///{tmp_path / 'try.db'} (--store, kept)" in out
    assert (tmp_path / "try.db").stat().st_size > 0


@pytest.mark.slow
def test_the_call_button_opens_a_production_down_issue_from_the_call_and_pages(
    tmp_path: Path,
) -> None:
    with running_sandbox(tmp_path) as (base, printed):
        assert "<button>Call it</button>" in httpx.get(f"{base}/sandbox", timeout=5).text
        pressed = httpx.post(f"{base}/sandbox/calls", headers={"accept": "text/html"}, timeout=30)
        assert (pressed.status_code, pressed.headers["location"]) == (303, "/sandbox")
        title = "Production down: phone call from +31 •••••• 678"
        page = sandbox_page_once(base, f"acme/support#1 {title}", "Checkout is down for all")
    assert "POST /repos/acme/support/issues</code>" in page and "priority: production-down" in page
    # The on-call channel was paged at the call; the page now links the issue.
    assert f"#on-call</b>: :rotating_light: Paging on-call: acme/support#1 {title}" in page
    assert "Checkout is down for all our shops" in page  # the transcript, edited into the issue
    assert f"curl -X POST {base}/sandbox/calls" in printed[0]
