"""A call to the escalation number: from its first webhook to the page at Slack and PagerDuty.

`sla-bot serve` runs as a process against the FakeGitHub, FakeSlack and FakePagerDuty
stand-ins (sla_sandbox/standins), served on loopback in this process, which note when each
Slack post and each PagerDuty event arrives. The Twilio stand-in places calls one after the
other as Twilio does (the voice webhook form-encoded and signed with X-Twilio-Signature); the
deployment's policy claims the number and asks no question, so each call pages at its first
webhook. Figures: the 99th percentile over the calls of each run, from sending the first
webhook to the page's arrival at Slack, and to the trigger's arrival at PagerDuty (goal:
within a second, issue 30).

    .venv/bin/python -m bench.calls [--calls 40] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from bench import servers
from bench.deliveries import APP_ID, INSTALLATION, REPO
from bench.results import Result
from bench.urgent_first import TimedSlack
from sla_sandbox.standins import FakeGitHub
from sla_sandbox.standins.pagerduty import ROUTING_KEY, FakePagerDuty
from sla_sandbox.standins.twilio import AUTH_TOKEN, FakeTwilio

NAME = "calls"
TITLE = "10. The escalation number: a call's first webhook to the page"
LINE = "+31201234567"
PAGE_CHANNEL = "#on-call"
POLICY = f"""\
intake:
  phone:
    numbers: ["{LINE}"]
    open_in: {REPO}
"""


class TimedPagerDuty(FakePagerDuty):
    """FakePagerDuty noting when each event arrives (perf_counter)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[float] = []

    async def _enqueue(self, request: Request) -> Response:
        self.arrived.append(time.perf_counter())
        return await super()._enqueue(request)


def _wait(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def measure(calls: int, workdir: Path) -> tuple[list[float], list[float]]:
    """Each call's time (ms) from its first webhook to its page at Slack, and to its trigger
    at PagerDuty."""
    github, slack, pagerduty = FakeGitHub(APP_ID), TimedSlack(), TimedPagerDuty()
    github.add_repo(REPO, INSTALLATION)
    policy = workdir / "sla.yml"
    policy.write_text(POLICY, encoding="utf-8")
    page_ms: list[float] = []
    trigger_ms: list[float] = []
    with (
        github.serve(),
        slack.serve(),
        pagerduty.serve(),
        servers.installed_app(
            github,
            REPO,
            slack.api_url,
            workdir,
            "calls",
            PAGERDUTY_ROUTING_KEY=ROUTING_KEY,
            PAGERDUTY_EVENTS_URL=pagerduty.url,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            SLA_POLICY_FILE=str(policy),
        ) as server,
        httpx.Client(timeout=10) as client,
    ):
        twilio = FakeTwilio(server.url, client=client)
        twilio.call(LINE, "+31612345000")  # warm-up: the policy read, the token
        _wait(lambda: len(pagerduty.arrived) >= 1, 30)
        for n in range(1, calls + 1):
            page, trigger = _one_call(twilio, slack, pagerduty, f"+31612345{n:03d}")
            page_ms.append(page)
            trigger_ms.append(trigger)
            time.sleep(0.02)  # one caller at a time: the line as it is used
    return page_ms, trigger_ms


def _one_call(
    twilio: FakeTwilio, slack: TimedSlack, pagerduty: TimedPagerDuty, caller: str
) -> tuple[float, float]:
    """One call; the time (ms) from its first webhook to its page, and to its trigger."""
    pages, triggers = _pages(slack), len(pagerduty.arrived)
    sent = time.perf_counter()
    twilio.call(LINE, caller)
    if not _wait(lambda: _pages(slack) > pages and len(pagerduty.arrived) > triggers, 30):
        raise RuntimeError(f"the call from {caller} did not page within 30 s")
    page_at = [at for at, channel, _ in slack.posts if channel == PAGE_CHANNEL][-1]
    return (page_at - sent) * 1000, (pagerduty.arrived[-1] - sent) * 1000


def _pages(slack: Any) -> int:
    return sum(1 for _, channel, _ in slack.posts if channel == PAGE_CHANNEL)


def p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def run(quick: bool = False) -> list[Result]:
    """`python -m bench`: a few runs of sequential calls on SQLite."""
    calls, runs = (2, 1) if quick else (40, 3)
    pages: list[float] = []
    triggers: list[float] = []
    medians: list[float] = []
    with tempfile.TemporaryDirectory(prefix="sla-calls-") as tmp:
        for _ in range(runs):
            page_ms, trigger_ms = measure(calls, Path(tmp))
            pages.append(p99(page_ms))
            triggers.append(p99(trigger_ms))
            medians.append(statistics.median(page_ms))
    p50 = statistics.median(medians)
    note = f"{calls} calls a run, one after the other; p50 at Slack {p50:.1f} ms"
    return [
        Result(
            NAME,
            "a call's first webhook to its page at Slack, p99",
            "ms",
            pages,
            goal="< 1,000 ms",
            note=note,
        ).check(1000.0),
        Result(
            NAME,
            "a call's first webhook to its trigger at PagerDuty, p99",
            "ms",
            triggers,
            goal="< 1,000 ms",
        ).check(1000.0),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sla-calls-") as tmp:
        for _ in range(args.runs):
            page_ms, trigger_ms = measure(args.calls, Path(tmp))
            print(f"page p99 {p99(page_ms):.1f} ms, trigger p99 {p99(trigger_ms):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
