"""compose.yaml brought up: both replicas ready, one delivery to each processed exactly once,
and after restarting a replica and the database, both ready again and nothing lost.

    python .ci/container/compose_probe.py SECRET PROJECT COMPOSE_FILE
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time

import httpx

REPLICAS = {"app-1": 8001, "app-2": 8002}


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], check=True, capture_output=True, text=True).stdout


def wait(what: str, ready: object, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if ready():  # type: ignore[operator]
                return
        except (httpx.TransportError, subprocess.CalledProcessError):
            pass
        time.sleep(1)
    raise SystemExit(f"compose: {what} did not happen within {seconds:.0f} s")


def ready(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3).status_code == 200


def deliver(secret: str, port: int, number: int) -> None:
    body = json.dumps(
        {
            "action": "opened",
            "installation": {"id": 77},
            "repository": {"full_name": "acme/support", "name": "support", "id": 1},
            "sender": {"login": "dana", "type": "User"},
            "issue": {
                "number": number,
                "title": f"Request {number}",
                "body": None,
                "state": "open",
                "labels": [],
                "user": {"login": "dana", "type": "User"},
                "author_association": "NONE",
                "created_at": "2026-11-30T08:00:00Z",
                "updated_at": "2026-11-30T08:00:00Z",
                "html_url": f"https://github.com/acme/support/issues/{number}",
            },
        }
    ).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    answer = httpx.post(
        f"http://127.0.0.1:{port}/webhooks/github",
        content=body,
        timeout=10,
        headers={
            "content-type": "application/json",
            "x-github-event": "issues",
            "x-github-delivery": f"compose-{number}",
            "x-hub-signature-256": signature,
        },
    )
    assert answer.status_code == 202, answer.text
    print(f"compose: delivery compose-{number} to :{port} answered 202")


def sql(project: str, query: str) -> list[str]:
    out = podman("exec", f"{project}_db_1", "psql", "-U", "sla", "-d", "sla", "-Atc", query)
    return out.split()


def processed(project: str, numbers: list[int]) -> bool:
    ids = ",".join(f"'compose-{n}'" for n in numbers)
    done = sql(project, f"select count(*) from deliveries where id in ({ids}) and status='done'")
    return done == [str(len(numbers))]


def main(secret: str, project: str) -> None:
    for name, port in REPLICAS.items():
        wait(f"{name} ready", lambda port=port: ready(port))
        print(f"compose: {name} ready on :{port}")
    restarts = {
        n: podman("inspect", "-f", "{{.RestartCount}}", f"{project}_{n}_1").strip()
        for n in REPLICAS
    }
    print(f"compose: restarts while the database started: {restarts}")
    waited = subprocess.run(
        ["podman", "logs", f"{project}_app-1_1"], capture_output=True, text=True
    ).stderr
    for line in [x for x in waited.splitlines() if "not reachable" in x][:3]:
        print(f"compose: app-1 said: {line[-160:]}")
    assert set(restarts.values()) == {"0"}, "a replica crashed waiting for its database"
    deliver(secret, 8001, 1)
    deliver(secret, 8002, 2)
    wait("both deliveries processed", lambda: processed(project, [1, 2]))
    intake = sql(project, "select count(*) from outbox where key like 'intake:comment:%'")
    assert intake == ["2"], intake  # each processed exactly once: one intake comment each
    print("compose: both deliveries processed, each once")
    podman("restart", f"{project}_app-1_1")
    podman("restart", f"{project}_db_1")
    for name, port in REPLICAS.items():
        wait(f"{name} ready after the restarts", lambda port=port: ready(port))
    print("compose: after restarting app-1 and the database, both replicas are ready")
    deliver(secret, 8001, 3)
    deliver(secret, 8002, 4)
    wait("the deliveries after the restarts", lambda: processed(project, [1, 2, 3, 4]))
    print("compose: nothing lost across the restarts")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
