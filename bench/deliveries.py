"""Signed webhook deliveries as raw HTTP requests, rendered fast enough for a load generator.

The payloads are real-shaped (built by the FakeGitHub stand-in from its own state), turned
into a byte template once; each request then only substitutes the issue number, signs the
body (HMAC-SHA256, as GitHub does) and adds a unique X-GitHub-Delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

SECRET = "bench-webhook-secret-0b9a0c3e5d"
INSTALLATION = 2311213
REPO = "acme/support"
APP_ID = "123456"
SENTINEL = 987654321  # stands for the issue number in a template
FORM_BODY = (
    "### Priority\n\nUrgent — blocking work or affecting end users (response within 1 "
    "business hour)\n\n### Impact\n\nNobody in the warehouse can print shipping labels; "
    "orders pile up.\n\n### End users affected\n\nA few (up to 10)\n\n### Since when\n\n"
    "2026-11-27 16:10 CET\n\n### Steps to reproduce\n\n1. Open the order screen\n"
    '2. Click "Print label"\n3. An error appears: 500\n\n### Logs or screenshots\n\n'
    "_No response_\n\n### Environment\n\nProduction"
)
TITLE = "Shipping labels cannot be printed"


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def request_bytes(
    port: int, event: str, delivery: str, body: bytes, secret: str = SECRET, path: str = ""
) -> bytes:
    """One POST /webhooks/github as GitHub sends it, on a keep-alive connection."""
    head = (
        f"POST {path or '/webhooks/github'} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "User-Agent: GitHub-Hookshot/044aadd\r\n"
        "Accept: */*\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-GitHub-Event: {event}\r\n"
        f"X-GitHub-Delivery: {delivery}\r\n"
        "X-GitHub-Hook-ID: 412345678\r\n"
        "X-GitHub-Hook-Installation-Target-Type: integration\r\n"
        f"X-GitHub-Hook-Installation-Target-ID: {APP_ID}\r\n"
        f"X-Hub-Signature-256: {sign(body, secret)}\r\n"
        "\r\n"
    )
    return head.encode() + body


def sample_payloads() -> dict[str, dict[str, Any]]:
    """issues.opened (a Problem form, Urgent) and a responder's issue_comment.created."""
    from sla_sandbox.standins import FakeGitHub

    fake = FakeGitHub(APP_ID)
    fake.add_repo(REPO, INSTALLATION)
    fake.open_issue(REPO, title=TITLE, body=FORM_BODY, user="wile-e", labels=["type: problem"])
    fake.add_comment(REPO, 1, "Looking into it now.", "support-sam", association="MEMBER")
    return {
        "issues": fake.payload("issues", "opened", REPO, 1),
        "issue_comment": fake.payload("issue_comment", "created", REPO, 1),
    }


class Templates:
    """Byte templates of each event's body with the issue number left open."""

    def __init__(self) -> None:
        self.parts: dict[str, list[bytes]] = {}
        for event, data in sample_payloads().items():
            issue = data["issue"]
            issue["number"] = SENTINEL
            for key in ("url", "html_url", "comments_url", "events_url", "labels_url"):
                issue[key] = str(issue.get(key, "")).replace("/issues/1", f"/issues/{SENTINEL}")
            raw = json.dumps(data, separators=(",", ":")).encode()
            self.parts[event] = raw.split(str(SENTINEL).encode())

    def body(self, event: str, number: int) -> bytes:
        return str(number).encode().join(self.parts[event])


def guid(tag: str, n: int) -> str:
    """A GUID-shaped X-GitHub-Delivery, unique per run `tag` (4 hex digits) and number."""
    return f"0b9a0c3e-{tag[:4]:0>4}-4000-8000-{n:012d}"


def mixed_source(
    port: int, tag: str, secret: str = SECRET, path: str = ""
) -> Callable[[int], bytes]:
    """Request n: even n opens issue n//2, odd n is a responder's comment on it."""
    templates = Templates()

    def source(n: int) -> bytes:
        event = "issues" if n % 2 == 0 else "issue_comment"
        body = templates.body(event, 1000 + n // 2)
        return request_bytes(port, event, guid(tag, n), body, secret, path)

    return source
