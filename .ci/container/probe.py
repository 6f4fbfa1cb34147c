"""The image, run as a user would: a FakeGitHub on the host, the container on the host's
network, a signed delivery, and the label it must put on the issue.

    python .ci/container/probe.py IMAGE
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time

import httpx

from sla_sandbox.standins import FakeGitHub

# The image's own CMD (serve on 0.0.0.0:8000) on the host's network: its HEALTHCHECK asks
# 127.0.0.1:8000, and the container reaches the FakeGitHub on the host's loopback.
PORT, SECRET, REPO = 8000, "container-probe-secret", "acme/support"


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], check=True, capture_output=True, text=True).stdout


def wait(what: str, ready: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if ready():  # type: ignore[operator]
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"probe: {what} did not happen within {seconds:.0f} s")


def main(image: str) -> None:
    fake = FakeGitHub()
    with fake.serve():
        fake.add_repo(REPO, 77)
        issue = fake.open_issue(REPO, title="Checkout is down", body=None, user="dana")
        assert fake.private_key_pem is not None
        cid = podman(
            "run",
            "-d",
            "--network",
            "host",
            "-v",
            "sla-probe-data:/data",
            "-e",
            f"GITHUB_WEBHOOK_SECRET={SECRET}",
            "-e",
            f"GITHUB_APP_ID={fake.app_id}",
            "-e",
            f"GITHUB_PRIVATE_KEY={fake.private_key_pem}",
            "-e",
            f"GITHUB_API_URL={fake.api_url}",
            image,
        ).strip()
        try:
            base = f"http://127.0.0.1:{PORT}"
            started = time.monotonic()
            wait("/healthz", lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200)
            print(f"probe: /healthz answered {time.monotonic() - started:.1f} s after start")
            podman("healthcheck", "run", cid)
            print(f"probe: HEALTHCHECK {podman('inspect', '-f', '{{.State.Health.Status}}', cid)}")
            body = json.dumps(fake.payload("issues", "opened", REPO, issue["number"])).encode()
            signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            answer = httpx.post(
                f"{base}/webhooks/github",
                content=body,
                timeout=10,
                headers={
                    "content-type": "application/json",
                    "x-github-event": "issues",
                    "x-github-delivery": "container-probe-1",
                    "x-hub-signature-256": signature,
                },
            )
            print(f"probe: a signed delivery was answered {answer.status_code}")
            assert answer.status_code == 202, answer.text
            wait("the label", lambda: "priority: normal" in fake.label_names(REPO, issue["number"]))
            print(
                f"probe: processed: {REPO}#{issue['number']} labeled "
                f"{fake.label_names(REPO, issue['number'])}"
            )
            uid = podman("exec", cid, "id", "-u").strip()
            store = podman("exec", cid, "ls", "/data")
            print(f"probe: running as uid {uid}; /data holds {store.split()}")
            assert uid == "10001" and "sla-bot.db" in store
        finally:
            print(podman("logs", cid)[-2000:], file=sys.stderr)
            podman("rm", "-f", cid)
            podman("volume", "rm", "-f", "sla-probe-data")


if __name__ == "__main__":
    main(sys.argv[1])
