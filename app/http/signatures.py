"""The signature headers of Slack and PagerDuty requests, checked before the body is read.

Each check answers the MAC to compute while the body is read and the test its hex digest
must pass, or None when the headers alone already refuse the request (missing, malformed,
stale): such a request costs no body read.

https://docs.slack.dev/authentication/verifying-requests-from-slack
https://developer.pagerduty.com/docs/webhooks/webhook-signatures/
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import datetime

SLACK_SIGNATURE = re.compile(r"v0=([0-9a-f]{64})")
PAGERDUTY_SIGNATURE = re.compile(r"v1=([0-9a-f]{64})")
SLACK_WINDOW = 300  # seconds either side of now (Slack: "more than five minutes" is a replay)

Check = tuple[hmac.HMAC, Callable[[str], bool]]


def slack(secret: str, headers: Mapping[str, str], now: datetime) -> Check | None:
    """Slack's v0 signature: HMAC-SHA256 over `v0:{timestamp}:{body}`, timestamp within 5
    minutes of `now`."""
    stamp = headers.get("x-slack-request-timestamp", "")
    found = SLACK_SIGNATURE.fullmatch(headers.get("x-slack-signature", ""))
    if found is None or not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        return None
    if abs(now.timestamp() - int(stamp)) > SLACK_WINDOW:
        return None
    mac = hmac.new(secret.encode(), f"v0:{stamp}:".encode(), hashlib.sha256)
    expected = found.group(1)
    return mac, lambda digest: hmac.compare_digest(digest, expected)


def slack_headers(secret: str, body: bytes, at: datetime) -> dict[str, str]:
    """The headers Slack signs a request with (the demo's clicks and the tests use them)."""
    stamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {"x-slack-request-timestamp": stamp, "x-slack-signature": f"v0={digest.hexdigest()}"}


def pagerduty(secret: str, header: str) -> Check | None:
    """`X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the body>[,v1=...]` (a secret being
    rotated sends several); at most 10 are looked at."""
    given = [
        m.group(1)
        for part in header.split(",")[:10]
        if (m := PAGERDUTY_SIGNATURE.fullmatch(part.strip()))
    ]
    if not given:
        return None
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    return mac, lambda digest: any(hmac.compare_digest(digest, g) for g in given)
