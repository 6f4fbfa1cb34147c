"""`sla-bot sandbox`: the real `serve` wired to the built-in GitHub, Slack and Twilio
stand-ins, with no credentials, and a `/sandbox` page showing live what GitHub and Slack
received (and a button that calls the escalation number)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import shutil
import tempfile
from html import escape
from typing import Any
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from app.config import Settings
from app.store import repos
from sla_sandbox.standins import FakeGitHub, FakeSlack
from sla_sandbox.standins.twilio import FakeTwilio

REPO = "acme/support"
INSTALLATION = 4242
LINE, CALLER = "+31201234567", "+31612345678"  # the escalation number, and a customer's phone
# The sandbox repository's own `.github/sla.yml`: the built-in policy, and the escalation
# number answered for it (no question first: every call pages).
POLICY = f"""\
intake:
  phone:
    numbers: ["{LINE}"]
    team: Acme support
"""
MESSAGE = "This is Kim from Acme. Checkout is down for all our shops since ten past nine."
PRIORITIES = {
    "production-down": "Production down — many end users cannot work",
    "urgent": "Urgent — blocking work or affecting end users",
    "normal": "Normal — everything else",
}


class Sandbox:
    """The stand-ins and the settings that point the app at them."""

    def __init__(self, settings: Settings, database_url: str | None = None) -> None:
        """`database_url` (`--store`): where to keep the sandbox's store; by default a
        temporary one, removed by `close` (never the operator's DATABASE_URL)."""
        self._workdir = None if database_url else tempfile.mkdtemp(prefix="sla-bot-sandbox-")
        self.database_url = database_url or f"sqlite:///{self._workdir}/sandbox.db"
        self.github = FakeGitHub()
        self.slack = FakeSlack()
        self.secret = secrets.token_hex(16)
        self._servers = [self.github.serve(), self.slack.serve()]
        self.github.add_repo(REPO, INSTALLATION, description="Customer service requests (sandbox)")
        self.github.set_file(REPO, ".github/sla.yml", POLICY)
        self.twilio_token = secrets.token_hex(16)  # an auth token's shape: 32 hex characters
        self.calls = 0
        self.settings = settings.model_copy(
            update={
                "github_app_id": self.github.app_id,
                "github_private_key": SecretStr(self.github.private_key_pem or ""),
                "github_api_url": self.github.api_url,
                "github_webhook_secret": SecretStr(self.secret),
                "slack_bot_token": SecretStr(self.slack.token or ""),
                "slack_api_url": self.slack.api_url,
                "twilio_auth_token": SecretStr(self.twilio_token),
                "database_url": self.database_url,
                "sla_redeliver_interval": 0,
                "sla_reconcile_interval": 0,
            }
        )
        self.url = ""

    def close(self) -> None:
        for server in self._servers:
            server.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def routes(self) -> APIRouter:
        router = APIRouter()

        @router.get("/sandbox", response_class=HTMLResponse)
        async def page() -> str:
            return self.page()

        @router.post("/sandbox/issues")
        async def open_issue(request: Request) -> JSONResponse:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            number = await self.open_issue(
                request,
                form.get("title", "Checkout is down"),
                form.get("priority", "urgent"),
                form.get("affected", "All end users"),
            )
            return JSONResponse({"issue": number, "see": f"{self.url}/sandbox"}, 202)

        @router.post("/sandbox/calls")
        async def place_call(request: Request) -> Response:
            sid = await self.place_call(request)
            if "text/html" in request.headers.get("accept", ""):  # the page's button
                return RedirectResponse("/sandbox", 303)
            return JSONResponse({"call": sid, "see": f"{self.url}/sandbox"}, 202)

        return router

    async def place_call(self, request: Request) -> str:
        """A customer calls the escalation number through the Twilio stand-in: signed
        webhooks as Twilio sends them (the call, the recording, its transcript, the hang-up)."""
        base = str(request.base_url).rstrip("/")
        await self._installed(request, base)
        twilio = FakeTwilio(
            base, token=self.twilio_token, public=self.settings.sla_public_url or base
        )
        self.calls += 1
        # The stand-in's client blocks: off the event loop, which answers its webhooks.
        return await run_in_threadpool(_call, twilio)

    async def _installed(self, request: Request, base: str) -> None:
        """The App installed on the repository (GitHub's signed `installation` delivery),
        once: a call opens its issue only in a repository sla-bot tracks."""
        db = request.app.state.services.db
        if (REPO, INSTALLATION) in await db.run(repos.active):
            return
        data = self.github.payload("installation", "created", REPO)
        await self._deliver(base, "installation", data)
        for _ in range(100):  # processed by the worker, within a second or so
            if (REPO, INSTALLATION) in await db.run(repos.active):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("the sandbox's installation delivery was not processed in 10 s")

    async def _deliver(self, base: str, event: str, data: dict[str, Any]) -> None:
        """POST `data` to the app as GitHub does: signed with the webhook secret."""
        raw = json.dumps(data).encode()
        digest = hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
        headers = {
            "content-type": "application/json",
            "x-github-event": event,
            "x-github-delivery": secrets.token_hex(16),
            "x-hub-signature-256": f"sha256={digest}",
        }
        async with httpx.AsyncClient(timeout=10) as client:
            (
                await client.post(f"{base}/webhooks/github", content=raw, headers=headers)
            ).raise_for_status()

    async def open_issue(self, request: Request, title: str, priority: str, affected: str) -> int:
        """A customer opens a Problem request on the stand-in; GitHub's signed delivery follows."""
        body = (
            f"### Priority\n\n{PRIORITIES.get(priority, priority)}\n\n### Impact\n\n{title}\n\n"
            f"### End users affected\n\n{affected}\n\n### Since when\n\n_No response_"
        )
        issue = self.github.open_issue(
            REPO, title=title, body=body, user="sandbox-customer", labels=("type: problem",)
        )
        data = self.github.payload("issues", "opened", REPO, issue["number"])
        await self._deliver(str(request.base_url).rstrip("/"), "issues", data)
        return int(issue["number"])

    def page(self) -> str:
        writes = [
            c for c in self.github.calls if c.method != "GET" and "/access_tokens" not in c.path
        ]
        github = "".join(
            f"<li><code>{escape(c.method)} {escape(c.path)}</code> → {c.status}"
            f"<pre>{escape(_short(c.json))}</pre></li>"
            for c in writes
        )
        slack = "".join(
            f"<li><b>{escape(m.channel)}</b>{' (thread)' if m.thread_ts else ''}: "
            f"{escape(m.text or '')}</li>"
            for m in self.slack.messages
        )
        return (
            "<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' "
            "content='3'><title>sla-bot sandbox</title><style>body{font:14px sans-serif;"
            "margin:2em}pre{background:#f6f8fa;padding:.5em;white-space:pre-wrap}</style>"
            "</head><body><h1>sla-bot sandbox</h1><p>Refreshes every 3 s. Open an issue: "
            f"<code>{escape(self.curl())}</code></p>"
            "<form method='post' action='/sandbox/calls'><p>Or a customer calls the "
            f"escalation number {LINE} (Twilio stand-in; calls so far: {self.calls}): "
            "<button>Call it</button> (or "
            f"<code>{escape(self.call_curl())}</code>)</p></form>"
            f"<h2>GitHub received ({len(writes)})</h2><ul>{github or '<li>nothing yet</li>'}</ul>"
            f"<h2>Slack received ({len(self.slack.messages)})</h2>"
            f"<ul>{slack or '<li>nothing yet</li>'}</ul></body></html>"
        )

    def curl(self) -> str:
        return (
            f"curl -X POST {self.url}/sandbox/issues -d title='Checkout is down' "
            "-d priority=production-down -d affected='All end users'"
        )

    def call_curl(self) -> str:
        return f"curl -X POST {self.url}/sandbox/calls"


def _call(twilio: FakeTwilio) -> str:
    """One call as Twilio places it: answered, a message left, transcribed, hung up."""
    call = twilio.call(LINE, CALLER)
    for response in (
        call.responses[-1],
        twilio.speak(call, seconds=len(MESSAGE.split())),
        twilio.transcribe(call, MESSAGE),
        twilio.hang_up(call),
    ):
        response.raise_for_status()
    return call.sid


def _short(data: Any) -> str:
    text = json.dumps(data, indent=1, ensure_ascii=False) if data is not None else ""
    return text if len(text) < 800 else text[:800] + "…"


def mount(app: FastAPI, sandbox: Sandbox) -> FastAPI:
    app.include_router(sandbox.routes())
    return app
