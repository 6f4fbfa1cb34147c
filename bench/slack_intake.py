"""A request from Slack: from the signed `reaction_added` event to the issue and the thread reply.

`sla-bot serve` runs as a process against the FakeGitHub and FakeSlack stand-ins
(sla_sandbox/standins), served on loopback in this process. A customer from another
workspace posts in a channel the deployment's policy claims and reacts with :ticket:; Slack's
signed Events API request follows, one request after another as people use a channel.
Figures: the 99th percentile over the requests of each run, from sending the event to the
issue's creation at GitHub, and to sla-bot's reply in the message's thread (the issue's link
and the promised first response).

    .venv/bin/python -m bench.slack_intake [--requests 40] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import servers
from bench.calls import _wait, p99
from bench.deliveries import APP_ID, INSTALLATION, REPO
from bench.results import Result
from bench.urgent_first import TimedSlack
from sla_sandbox.standins import FakeGitHub
from sla_sandbox.standins.slack import event_callback, sign

NAME = "slack_intake"
TITLE = "12. Requests from Slack: the event to the issue and the thread reply"
CHANNEL, CUSTOMERS = "C0SHARED", "T0CUSTOMER"
SIGNING_SECRET = "bench-slack-signing-secret-0123456789"
POLICY = f"""\
intake:
  slack:
    channels: {{{CHANNEL}: {REPO}}}
"""


def _created(github: FakeGitHub) -> int:
    return sum(1 for c in github.calls if c.method == "POST" and c.path.endswith("/issues"))


def _replies(slack: TimedSlack) -> list[float]:
    return [at for at, channel, _ in slack.posts if channel == CHANNEL]


def _one_request(
    client: httpx.Client, url: str, github: FakeGitHub, slack: TimedSlack, n: int
) -> tuple[float, float]:
    """One customer's message and :ticket:; the time (ms) to the issue and to the reply."""
    user = f"U0C{n:04d}"
    slack.add_user(user, f"customer-{n}", CUSTOMERS)
    ts = slack.say(CHANNEL, user, f"Export fails for report {n}\nSince this morning.")
    issues, replies = _created(github), len(_replies(slack))
    item = {"type": "message", "channel": CHANNEL, "ts": ts}
    event = {"type": "reaction_added", "user": user, "reaction": "ticket", "item": item}
    at = datetime.now(UTC)
    body = event_callback(
        {**event, "item_user": user, "event_ts": ts}, team=slack.team_id, event_id=f"Ev{n}", at=at
    )
    sent = time.perf_counter()
    client.post(url, content=body, headers=sign(SIGNING_SECRET, body, at)).raise_for_status()
    issue_at = sent
    if not _wait(lambda: _created(github) > issues, 30):
        raise RuntimeError(f"request {n} opened no issue within 30 s")
    issue_at = time.perf_counter()  # polled every 2 ms: within 2 ms of the call's arrival
    if not _wait(lambda: len(_replies(slack)) > replies, 30):
        raise RuntimeError(f"request {n} got no thread reply within 30 s")
    return (issue_at - sent) * 1000, (_replies(slack)[-1] - sent) * 1000


def measure(requests: int, workdir: Path) -> tuple[list[float], list[float]]:
    """Each request's time (ms) from its event to its issue, and to its thread reply."""
    github, slack = FakeGitHub(APP_ID), TimedSlack()
    github.add_repo(REPO, INSTALLATION)
    policy = workdir / "sla.yml"
    policy.write_text(POLICY, encoding="utf-8")
    issue_ms: list[float] = []
    reply_ms: list[float] = []
    with (
        github.serve(),
        slack.serve(),
        servers.installed_app(
            github,
            REPO,
            slack.api_url,
            workdir,
            "slack",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLA_POLICY_FILE=str(policy),
        ) as server,
    ):
        url = f"{server.url}/slack/events"
        with httpx.Client(timeout=10) as client:
            _one_request(client, url, github, slack, 0)  # warm-up: the policy, the token
            for n in range(1, requests + 1):
                issue, reply = _one_request(client, url, github, slack, n)
                issue_ms.append(issue)
                reply_ms.append(reply)
    return issue_ms, reply_ms


def run(quick: bool = False) -> list[Result]:
    """`python -m bench`: a few runs of requests one after another, on SQLite."""
    requests, runs = (2, 1) if quick else (40, 3)
    issues: list[float] = []
    replies: list[float] = []
    medians: list[float] = []
    with tempfile.TemporaryDirectory(prefix="sla-slack-") as tmp:
        for _ in range(runs):
            issue_ms, reply_ms = measure(requests, Path(tmp))
            issues.append(p99(issue_ms))
            replies.append(p99(reply_ms))
            medians.append(statistics.median(reply_ms))
    p50 = statistics.median(medians)
    note = f"{requests} requests a run, one after the other; p50 to the reply {p50:.0f} ms"
    return [
        Result(
            NAME,
            "a :ticket: reaction's event to its issue at GitHub, p99",
            "ms",
            issues,
            note=note,
        ),
        Result(
            NAME,
            "a :ticket: reaction's event to the reply in its thread, p99",
            "ms",
            replies,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sla-slack-") as tmp:
        for _ in range(args.runs):
            issue_ms, reply_ms = measure(args.requests, Path(tmp))
            print(f"issue p99 {p99(issue_ms):.1f} ms, thread reply p99 {p99(reply_ms):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
