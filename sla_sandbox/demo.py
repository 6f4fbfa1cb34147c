"""`sla-bot demo`: a scripted support week replayed through the real app on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import httpx

from app.config import Settings
from app.http.interactions import slack_signature
from app.http.main import create_app
from app.notify import pagerduty
from app.notify.messages import AlertKind
from app.reports import report
from app.services import Services, build
from app.store import clocks, queue
from app.store.effects import alert_key
from app.store.outbox import by_key as sent_by_key
from app.store.tables import deliveries, jobs, outbox
from sla_sandbox.demo_script import CHANNEL_NAMES, LINE, POLICY, REPO, SCRIPT, SHARED, Step
from sla_sandbox.standins import FakeGitHub, FakeSlack, LoopbackServer
from sla_sandbox.standins.pagerduty import ROUTING_KEY, FakePagerDuty
from sla_sandbox.standins.slack import event_callback, sign
from sla_sandbox.standins.twilio import AUTH_TOKEN, FakeTwilio

TZ = ZoneInfo("Europe/Amsterdam")
INSTALLATION = 4242
CUSTOMERS_TEAM = "T0ACME"  # Acme's own Slack workspace, sharing the channel


class SimTime:
    """Simulated time: the app, the GitHub stand-in and the sweeps all read it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Demo:
    """The app on 127.0.0.1 with GitHub and Slack replaced by local recorders."""

    def __init__(
        self, workdir: Path, out: Callable[[str], None], database_url: str | None = None
    ) -> None:
        self.out = out
        self.time = SimTime(SCRIPT[0].at)
        self.github = FakeGitHub(time=self.time)
        self.slack = FakeSlack(time=self.time)
        self.pagerduty = FakePagerDuty()
        policy = workdir / "sla.yml"
        policy.write_text(POLICY, encoding="utf-8")
        self.settings = Settings(
            github_app_id=self.github.app_id,
            github_private_key=self.github.private_key_pem,
            github_webhook_secret=secrets.token_hex(20),
            github_api_url="http://unset",
            slack_bot_token=self.slack.token,
            slack_signing_secret=secrets.token_hex(16),
            pagerduty_routing_key=ROUTING_KEY,
            twilio_auth_token=AUTH_TOKEN,
            sla_policy_file=policy,
            database_url=database_url or f"sqlite:///{workdir / 'demo.db'}",
            sla_sweep_interval=0,
            sla_redeliver_interval=0,
            sla_reconcile_interval=0,
        )
        self._servers: list[LoopbackServer] = []
        self._seen_github = self._seen_slack = self._seen_calls = self._seen_pagerduty = 0
        self._thread = ""  # the last request opened from Slack
        self.http = httpx.Client(timeout=10)

    def __enter__(self) -> Demo:
        self._servers += [self.github.serve(), self.slack.serve(), self.pagerduty.serve()]
        self.settings = self.settings.model_copy(
            update={
                "github_api_url": self.github.api_url,
                "slack_api_url": self.slack.api_url,
                "pagerduty_events_url": self.pagerduty.url,
            }
        )
        self.github.add_repo(REPO, INSTALLATION, description="Customer service requests")
        self.services: Services = build(self.settings, time=self.time)
        self._servers.append(LoopbackServer(create_app(self.settings, services=self.services)))
        self._servers[-1].start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        for server in reversed(self._servers):
            server.stop()

    def deliver(self, event: str, payload: dict[str, Any]) -> None:
        """Sign and POST a delivery as GitHub does, then wait for its effects."""
        body = json.dumps(payload).encode()
        secret = self.settings.webhook_secret().encode()
        signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        response = self.http.post(
            f"{self._servers[-1].url}/webhooks/github",
            content=body,
            headers={
                "content-type": "application/json",
                "x-github-event": event,
                "x-github-delivery": secrets.token_hex(16),
                "x-hub-signature-256": signature,
            },
        )
        response.raise_for_status()
        self._wait()

    def click(self, action: str, clock_id: int, who: str) -> None:
        """An on-call engineer's click on the page's button, signed as Slack signs it: a
        member of the workspace, on the page's message."""
        user = f"U{who.upper()}"
        self.slack.add_user(user)
        page = self.services.db.tx(sent_by_key, alert_key(clock_id, AlertKind.PAGE))
        where = page.result if page is not None and page.result else {}
        data = {
            "type": "block_actions",
            "team": {"id": self.slack.team_id},
            "user": {"id": user, "name": who, "team_id": self.slack.team_id},
            "container": {
                "type": "message",
                "channel_id": where.get("channel"),
                "message_ts": where.get("ts"),
            },
            "actions": [{"action_id": f"sla_{action}", "value": str(clock_id), "type": "button"}],
        }
        body = ("payload=" + json.dumps(data)).encode()
        secret = self.settings.signing_secret() or ""
        response = self.http.post(
            f"{self._servers[-1].url}/slack/interactions",
            content=body,
            headers={
                "content-type": "application/x-www-form-urlencoded",
                **slack_signature(secret, body, self.time()),
            },
        )
        response.raise_for_status()
        self._wait()

    def _wait(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.services.db.tx(queue.busy, [deliveries, outbox, jobs], self.time()):
            if time.monotonic() > deadline:
                raise TimeoutError("the app did not finish its work in time")
            time.sleep(0.01)

    def call(self, caller: str, key: str, message: str) -> None:
        """A call to the escalation number as Twilio places it (signed webhooks following the
        TwiML answered): the question answered with `key`, a message, its transcript."""
        twilio = FakeTwilio(self._servers[-1].url, client=self.http)
        call = twilio.call(LINE, caller)
        twilio.press(call, key)
        self._wait()
        twilio.speak(call, seconds=len(message.split()))
        self._wait()  # the recording's link is on the issue; the transcript comes later
        twilio.transcribe(call, message)
        twilio.hang_up(call)
        self._wait()

    def slack_request(self, who: str, text: str) -> None:
        """A customer from Acme's workspace posts in the shared channel and reacts with the
        ticket emoji: Slack's signed `reaction_added` event follows."""
        user = self._slack_user(who, CUSTOMERS_TEAM)
        self._thread = self.slack.say(SHARED, user, text)
        item = {"type": "message", "channel": SHARED, "ts": self._thread}
        event = {"type": "reaction_added", "user": user, "reaction": "ticket", "item": item}
        self._event({**event, "item_user": user, "event_ts": self._thread})

    def slack_reply(self, who: str, text: str) -> None:
        """`who` (of Acme's workspace) replies in the last request's thread: Slack's signed
        `message` event follows."""
        user = self._slack_user(who, CUSTOMERS_TEAM)
        ts = self.slack.say(SHARED, user, text, thread_ts=self._thread)
        message = {"type": "message", "channel": SHARED, "user": user, "text": text, "ts": ts}
        team = {"user_team": CUSTOMERS_TEAM, "team": CUSTOMERS_TEAM}
        self._event({**message, "thread_ts": self._thread, **team})

    def _slack_user(self, who: str, team: str) -> str:
        user = f"U0{who.upper()}"
        self.slack.add_user(user, who, team)
        return user

    def _event(self, event: dict[str, Any]) -> None:
        """An Events API request as Slack sends it (signed), then wait for its effects."""
        at = self.time()
        body = event_callback(
            event, team=self.slack.team_id, event_id=f"Ev{secrets.token_hex(5).upper()}", at=at
        )
        headers = sign(self.settings.signing_secret() or "", body, at)
        url = f"{self._servers[-1].url}/slack/events"
        self.http.post(url, content=body, headers=headers).raise_for_status()
        self._wait()

    def sweep(self) -> None:
        """`sla-bot sweep --now <simulated time>`: its own services on the same database."""
        now = self.time()

        async def run() -> None:
            services = build(self.settings, time=lambda: now)
            try:
                await services.sweeper.sweep(now)
            finally:
                await services.aclose()

        asyncio.run(run())

    def show_effects(self) -> None:
        """Print what the customer saw on GitHub and what on-call saw in Slack since last time."""
        calls = self.github.calls
        new = calls[self._seen_github :]
        created = [c for c in new if c.method == "POST" and c.path.endswith(f"{REPO}/labels")]
        if created:
            names = ", ".join(sorted({c.json["name"].split(":")[0] for c in created}))
            self.out(f"{'':19}GitHub  created {len(created)} labels ({names})")
        for call in new:
            if call.method == "POST" and call.path.endswith(f"{REPO}/issues"):
                labels = ", ".join(call.json.get("labels") or ())
                self.out(f"{'':19}GitHub  issue opened: {call.json['title']} ({labels})")
            if call.status >= 300 or "/issues/" not in call.path:
                continue
            number = call.path.split("/issues/")[1].split("/")[0]
            if call.method == "PATCH" and number == "comments":
                owed = [line[2:] for line in call.json["body"].splitlines() if line[:2] == "- "]
                self.out(f"{'':19}GitHub  intake comment edited: {_clip(' | '.join(owed))}")
            elif call.method == "PATCH" and "body" in call.json and "/" not in number:
                body = call.json["body"]
                said = _line_with(body, "> ") or _line_with(body, "**Recording:**") or "the call"
                self.out(f"{'':19}GitHub  #{number} body edited: {_clip(said)}")
            elif call.method == "DELETE" and "/labels/" in call.path:
                name = unquote(call.path.rsplit("/labels/", 1)[1])
                self.out(f"{'':19}GitHub  #{number} label removed: {name}")
            elif call.method != "POST":
                continue
            elif call.path.endswith("/labels"):
                self.out(f"{'':19}GitHub  #{number} labeled {', '.join(call.json['labels'])}")
            elif call.path.endswith("/comments"):
                self.out(f"{'':19}GitHub  #{number} comment: {_first_line(call.json['body'])}")
                if promise := _line_with(call.json["body"], "You can expect"):
                    self.out(f"{'':27}{promise}")
        self._seen_github = len(calls)
        messages = self.slack.messages
        for message in messages[self._seen_slack :]:
            if message.user is not None:
                continue  # a person's post: the step says what they wrote
            where = "  (in thread)" if message.thread_ts else ""
            channel = CHANNEL_NAMES.get(message.channel, message.channel)
            self.out(f"{'':19}Slack   {channel}{where}: {_first_line(message.text or '')}")
        self._seen_slack = len(messages)
        slack_calls = self.slack.calls
        for edit in slack_calls[self._seen_calls :]:
            if edit.method == "chat.update":
                status = str(edit.body.get("text", "")).rsplit("(", 1)[-1].rstrip(")")
                self.out(f"{'':19}Slack   the page now says: {status}")
        self._seen_calls = len(slack_calls)
        for event in self.pagerduty.events[self._seen_pagerduty :]:
            episode = pagerduty.episode_of(str(event["dedup_key"]))
            named = f"{episode.repo}#{episode.number}" if episode else event["dedup_key"]
            self.out(f"{'':19}PagerDuty  {event['event_action']} incident of {named}")
        self._seen_pagerduty = len(self.pagerduty.events)

    def run(self, script: list[Step]) -> None:
        for step in script:
            self.time.now = step.at
            self.out(f"{step.at.astimezone(TZ):%a %d %b %H:%M}  {step.text}")
            step.act(self)
            self.show_effects()

    def meeting_page(self, path: Path) -> None:
        """The week's status-meeting page of acme/support, as `report --customer` writes it."""
        from app.reports.meeting import from_store
        from app.reports.report_html import as_html
        from app.services import fallback_policy

        now = self.time()
        policy = fallback_policy(self.settings)
        found = self.services.db.tx(from_store, policy, now - timedelta(days=14), now, REPO)
        path.write_text(as_html(found[0]), encoding="utf-8")

    def final_report(self) -> str:
        now = self.time()
        found = self.services.db.tx(clocks.started_since, now - timedelta(days=30))
        return report.as_table(report.summarize(found, now), "SLA report for the week")


def _first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("<!--")]
    return _clip(lines[0] if lines else "")


def _clip(line: str) -> str:
    return line if len(line) <= 110 else line[:107] + "..."


def _line_with(text: str, needle: str) -> str | None:
    return next((line.strip() for line in text.splitlines() if needle in line), None)


def run_demo(
    out: Callable[[str], None] = print,
    database_url: str | None = None,
    page: Path | None = None,
) -> int:
    """The whole demo; returns the exit status. `database_url` (`--store`) keeps the week's
    store; without it the store is a temporary one, never the operator's (DATABASE_URL).
    It ends by writing the week's status-meeting page to `page` (default: in the system's
    temporary directory, kept after exit)."""
    page = page or Path(tempfile.gettempdir()) / "sla-bot-demo-meeting.html"
    started = time.monotonic()
    out("sla-bot demo: a support week at acme/support, replayed through the real app.")
    out("GitHub and Slack are local recorders on 127.0.0.1; times are Europe/Amsterdam.")
    out(f"store: {store_banner(database_url)}\n")
    with (
        tempfile.TemporaryDirectory(prefix="sla-bot-demo-") as workdir,
        Demo(Path(workdir), out, database_url) as demo,
    ):
        demo.run(SCRIPT)
        out("")
        out(demo.final_report())
        demo.meeting_page(page)
    if database_url:
        out(
            f"the week is kept in {database_url}: try "
            f"`DATABASE_URL={database_url} sla-bot report --since 60` on it"
        )
    out(f"\nthe status-meeting page of {REPO} for the week: {page}")
    out(f"demo finished in {time.monotonic() - started:.1f} s; nothing left running.")
    return 0


def store_url(store: str) -> str:
    """`--store PATH` (a SQLite file) or a database URL, as a DATABASE_URL."""
    if "://" in store:
        return store
    return f"sqlite:///{Path(store).expanduser().resolve()}"


def store_banner(database_url: str | None) -> str:
    """Which store the demo or the sandbox uses, for its banner (never a password)."""
    if database_url is None:
        return (
            "a temporary one of its own, deleted at exit (DATABASE_URL is not used; "
            "--store PATH keeps one)"
        )
    from sqlalchemy.engine import make_url

    return f"{make_url(database_url).render_as_string(hide_password=True)} (--store, kept)"
