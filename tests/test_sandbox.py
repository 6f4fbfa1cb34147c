"""`sla-bot sandbox` tried as a new user: one curl line later, labels and a comment are
visible at /sandbox, and the page went to the on-call channel; run again in the same folder,
it works again, and the operator's store is never touched."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.harness import free_port


def one_sandbox_request(folder: Path, *args: str, **env: str) -> tuple[str, str, str]:
    """Start the sandbox in `folder`, open the sample issue, and return its base URL, what
    /sandbox showed once the page went out, and what the command printed."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SLACK_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli.main", "sandbox", "--port", str(port), *args],
        cwd=folder,
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    page = ""
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
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
        # GitHub and Slack send on their own: the page may show before the label, or after.
        shown = ("Paging on-call", "/issues/1/labels", "/issues/1/comments")
        while time.monotonic() < deadline and not all(part in page for part in shown):
            page = httpx.get(f"{base}/sandbox", timeout=5).text
            time.sleep(0.1)
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    return base, page, out


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
