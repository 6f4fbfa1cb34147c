"""`sla-bot sandbox` tried as a new user: one curl line later, labels and a comment are
visible at /sandbox, and the page went to the on-call channel."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.test_crash import free_port


def test_one_request_later_labels_comment_and_page_show_at_sandbox(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SLACK_"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'sandbox.db'}"
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sandbox", "--port", str(port)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        opened = httpx.post(f"{base}/sandbox/issues", timeout=10, data={
            "title": "Checkout is down", "priority": "production-down", "affected": "All end users",
        })  # fmt: skip
        assert opened.status_code == 202
        page = ""
        while time.monotonic() < deadline and "Paging on-call" not in page:
            page = httpx.get(f"{base}/sandbox", timeout=5).text
            time.sleep(0.1)
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert "/repos/acme/support/issues/1/labels" in page and "priority: production-down" in page
    assert "/repos/acme/support/issues/1/comments" in page and "Thanks for your request" in page
    assert "#on-call" in page and "Paging on-call: acme/support#1" in page
    assert "webhook secret:" in out and f"curl -X POST {base}/sandbox/issues" in out
