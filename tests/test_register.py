"""`sla-bot register`: the manifest page, the callback and the .env file, over loopback HTTP."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from dotenv import dotenv_values
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.cli import register
from app.cli.register import Registered, build_manifest
from app.config import Settings
from sla_sandbox.standins import LoopbackServer
from sla_sandbox.standins.server import join
from tests.harness import LOOPBACK_TLS

ROOT = Path(__file__).resolve().parents[1]
STATE = "s3cr3t-state-value"
WEBHOOK = "https://sla.example.com/webhooks/github"
REDIRECT = "http://127.0.0.1:3000/callback"
HTML_URL = "https://github.com/apps/sla-bot-acme"
SECRET = "e340154128314309424b7c8e90325147d99fdafa"
CLIENT_SECRET = "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"
CONVERTED = {"id": 4242, "slug": "sla-bot-acme", "html_url": HTML_URL, "webhook_secret": SECRET}
CONVERTED |= {"client_id": "Iv1.abc", "client_secret": CLIENT_SECRET}
MANIFEST = build_manifest(webhook_url=WEBHOOK, redirect_url=REDIRECT)
ENV_KEYS = {"GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "GITHUB_API_URL"}


@dataclass
class FakeConversions:
    """GitHub's `POST /app-manifests/{code}/conversions`: one good code, any other refused."""

    pem: str
    url: str = ""
    refuse: tuple[int, str] = (404, "Not Found")
    calls: list[str] = field(default_factory=list)

    async def convert(self, request: Request) -> JSONResponse:
        code = request.path_params["code"]
        self.calls.append(code)
        if code != "good-code" or "authorization" in request.headers:  # the call has no auth
            return JSONResponse({"message": self.refuse[1]}, status_code=self.refuse[0])
        return JSONResponse({**CONVERTED, "pem": self.pem}, status_code=201)


class FormParser(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.inputs: dict[str, str] = {}
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.action = values.get("action")
        elif tag == "input" and values.get("name"):
            self.inputs[str(values["name"])] = values.get("value") or ""


@pytest.fixture
def fake(app_key: str) -> Iterator[FakeConversions]:
    conversions = FakeConversions(pem=app_key)
    route = Route("/app-manifests/{code}/conversions", conversions.convert, methods=["POST"])
    meta = Route("/meta", lambda _: JSONResponse({"verifiable_password_authentication": False}))
    with LoopbackServer(Starlette(routes=[route, meta])) as server:
        conversions.url = server.url
        yield conversions


@dataclass
class Flow:
    url: str
    env_file: Path
    fake: FakeConversions
    done: list[Registered]


@contextmanager
def serve(fake: FakeConversions, env_file: Path, **kw: Any) -> Iterator[Flow]:
    done: list[Registered] = []
    kw.setdefault("github_web_url", "https://github.com")
    app = register.build_register_app(
        MANIFEST, api_url=fake.url, env_file=env_file, state=STATE, on_done=done.append, **kw
    )
    with LoopbackServer(app) as server:
        yield Flow(server.url, env_file, fake, done)


@pytest.fixture
def flow(fake: FakeConversions, tmp_path: Path) -> Iterator[Flow]:
    with serve(fake, tmp_path / ".env") as running:
        yield running


def get(url: str, **params: str) -> httpx.Response:
    with httpx.Client(verify=LOOPBACK_TLS, timeout=10) as client:
        return client.get(url, params=params)


def test_the_manifest_asks_for_exactly_what_sla_bot_uses() -> None:
    permissions = {"issues": "write", "metadata": "read", "contents": "read"}
    assert MANIFEST["default_permissions"] == permissions
    assert MANIFEST["default_events"] == ["issues", "issue_comment", "repository", "push"]
    from app.webhooks import router  # every event a handler waits for is subscribed

    handled = {*router._deep_routes, *router._shallow_routes}
    handled -= {"installation", "installation_repositories"}
    assert handled == set(MANIFEST["default_events"])
    assert MANIFEST["hook_attributes"] == {"url": WEBHOOK, "active": True}
    assert (MANIFEST["redirect_url"], MANIFEST["url"]) == (REDIRECT, "https://sla.example.com")
    assert MANIFEST["public"] is False


def test_app_yml_is_the_manifest_register_builds() -> None:
    document = yaml.safe_load((ROOT / "app.yml").read_text())
    assert document.keys() == MANIFEST.keys()
    for same in ("default_permissions", "default_events", "name", "description", "public"):
        assert document[same] == MANIFEST[same]
    assert document["hook_attributes"].keys() == MANIFEST["hook_attributes"].keys()
    assert document["hook_attributes"]["active"] is True
    assert document["hook_attributes"]["url"].endswith("/webhooks/github")


@pytest.mark.parametrize(
    ("kw", "action"),
    [
        ({}, "https://github.com/settings/apps/new"),
        ({"org": "acme corp"}, "https://github.com/organizations/acme%20corp/settings/apps/new"),
        (
            {"github_web_url": "https://ghe.example.com/"},
            "https://ghe.example.com/settings/apps/new",
        ),
    ],
)
def test_the_page_posts_the_manifest_to_github(
    fake: FakeConversions, tmp_path: Path, kw: dict[str, str], action: str
) -> None:
    with serve(fake, tmp_path / ".env", **kw) as flow:
        page = get(f"{flow.url}/")
    assert (page.status_code, page.headers["referrer-policy"]) == (200, "no-referrer")
    form = FormParser(page.text)
    assert form.action == f"{action}?state={STATE}"
    assert form.inputs.keys() == {"manifest"}
    assert json.loads(form.inputs["manifest"]) == MANIFEST
    assert '"default_events"' not in page.text  # the JSON is HTML-escaped
    assert "&quot;default_events&quot;" in page.text
    assert "document.forms[0].submit()" in page.text


@pytest.mark.parametrize(
    "params", [{"code": "good-code", "state": "wrong"}, {"code": "good-code"}, {"state": STATE}]
)
def test_a_callback_without_the_right_state_and_a_code_is_refused(
    flow: Flow, params: dict[str, str]
) -> None:
    assert get(f"{flow.url}/callback", **params).status_code == 400
    assert (flow.fake.calls, flow.done, flow.env_file.exists()) == ([], [], False)


def test_the_callback_converts_the_code_and_writes_a_private_env_file(
    flow: Flow, app_key: str
) -> None:
    assert get(f"{flow.url}/callback", code="good-code", state=STATE).status_code == 200
    assert flow.fake.calls == ["good-code"]
    assert stat.S_IMODE(flow.env_file.stat().st_mode) == 0o600
    values = dotenv_values(flow.env_file)
    assert set(values) == ENV_KEYS
    assert (values["GITHUB_APP_ID"], values["GITHUB_WEBHOOK_SECRET"]) == ("4242", SECRET)
    assert values["GITHUB_API_URL"] == flow.fake.url  # not api.github.com, so written
    lines = flow.env_file.read_text().splitlines()
    assert any(line.startswith('GITHUB_PRIVATE_KEY="-----BEGIN ') for line in lines)  # one line
    settings = Settings(_env_file=flow.env_file)  # sla-bot reads it back to the same key
    assert settings.private_key().strip() == app_key.strip()
    assert (settings.app_id(), settings.webhook_secret()) == ("4242", SECRET)
    deadline = time.monotonic() + 5  # `on_done` runs as a background task after the answer
    while not flow.done and time.monotonic() < deadline:
        time.sleep(0.01)
    assert flow.done == [Registered(4242, "sla-bot-acme", HTML_URL, flow.env_file)]


def test_the_done_page_and_the_log_show_no_secret(
    flow: Flow, app_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    page = get(f"{flow.url}/callback", code="good-code", state=STATE)
    assert HTML_URL in page.text
    assert f"{HTML_URL}/installations/new" in page.text
    assert page.headers["cache-control"] == "no-store"
    server = [r for r in caplog.records if r.threadName.startswith("loopback-server")]
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in server)
    assert "github app registered" in logged
    secrets = (app_key.splitlines()[1], SECRET, CLIENT_SECRET, "good-code", STATE)
    assert [s for s in secrets if s in page.text or s in logged] == []


def test_an_existing_env_file_is_kept_without_force(flow: Flow) -> None:
    flow.env_file.write_text("SLACK_BOT_TOKEN=keep-me\n")
    response = get(f"{flow.url}/callback", code="good-code", state=STATE)
    assert response.status_code == 409
    assert "exists" in response.text
    assert flow.fake.calls == []  # the code is not spent: move the file, reload the page
    assert flow.env_file.read_text() == "SLACK_BOT_TOKEN=keep-me\n"


def test_force_replaces_the_env_file_with_a_private_one(
    fake: FakeConversions, tmp_path: Path
) -> None:
    (env_file := tmp_path / "sla.env").write_text("OLD=1\n")
    env_file.chmod(0o644)
    with serve(fake, env_file, force=True) as flow:
        assert get(f"{flow.url}/callback", code="good-code", state=STATE).status_code == 200
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert set(dotenv_values(env_file)) == ENV_KEYS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sla.env"]  # no temp file left


@pytest.mark.parametrize("refusal", [(404, "Not Found"), (422, "code expired")])
def test_a_refused_code_gives_a_clear_page_and_no_file(
    flow: Flow, refusal: tuple[int, str]
) -> None:
    flow.fake.refuse = refusal
    response = get(f"{flow.url}/callback", code="stale-code", state=STATE)
    assert response.status_code == 502
    assert f"GitHub answered {refusal[0]} {refusal[1]}." in response.text
    assert "expires an hour" in response.text and 'href="/"' in response.text  # start over
    assert (flow.fake.calls, flow.done, flow.env_file.exists()) == (["stale-code"], [], False)


def test_env_text_leaves_out_the_default_api_url_and_refuses_unquotable_values() -> None:
    creds = {"id": 1, "pem": "-----BEGIN KEY-----\nabc\n-----END KEY-----\n", "webhook_secret": "w"}
    text = register.env_text(creds, "https://api.github.com")
    assert "GITHUB_API_URL" not in text
    assert 'GITHUB_PRIVATE_KEY="-----BEGIN KEY-----\\nabc\\n-----END KEY-----"' in text
    with pytest.raises(ValueError, match="GITHUB_WEBHOOK_SECRET"):
        register.env_text({**creds, "webhook_secret": 'a"$b'}, "https://api.github.com")


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    register.configure_parser(p)
    return p.parse_args(argv)


def test_options_and_defaults() -> None:
    args = parse("--webhook-url", WEBHOOK)
    assert (args.port, args.env_file, args.force, args.org, args.github_url) == (
        3000,
        Path(".env"),
        False,
        None,
        "https://github.com",
    )
    for bad in ([], ["--webhook-url", "sla.example.com/webhooks/github"]):
        with pytest.raises(SystemExit):
            parse(*bad)


def test_register_refuses_to_start_over_an_existing_env_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env_file := tmp_path / ".env").write_text("KEEP=1\n")
    args = parse("--webhook-url", WEBHOOK, "--env-file", str(env_file))
    assert register.cmd_register(args, Settings()) == 1
    assert "--force" in capsys.readouterr().err
    assert env_file.read_text() == "KEEP=1\n"


def test_register_serves_until_the_app_is_created_then_exits(
    fake: FakeConversions, tmp_path: Path, app_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:  # a free port for the command
        port = probe.getsockname()[1]
    env_file, base = tmp_path / ".env", f"http://127.0.0.1:{port}"
    args = parse("--webhook-url", WEBHOOK, "--port", str(port), "--env-file", str(env_file))
    result: list[int] = []
    settings = Settings(github_api_url=fake.url)
    command = threading.Thread(target=lambda: result.append(register.cmd_register(args, settings)))
    command.daemon = True  # a failing test must not hang the run
    command.start()
    with httpx.Client(verify=LOOPBACK_TLS, timeout=10) as client:
        for _ in range(500):  # until the command's server accepts connections
            try:
                page = client.get(f"{base}/")
                break
            except httpx.ConnectError:
                time.sleep(0.01)
        form = FormParser(page.text)
        callback = f"{base}/callback"
        assert json.loads(form.inputs["manifest"]) == {**MANIFEST, "redirect_url": callback}
        state = str(form.action).split("state=")[1]
        assert client.get(callback, params={"state": "no", "code": "x"}).status_code == 400
        assert client.get(callback, params={"code": "good-code", "state": state}).status_code == 200
    assert join(command, 10), "register did not exit after the App was created"
    assert result == [0]
    assert Settings(_env_file=env_file).private_key().strip() == app_key.strip()
    out = capsys.readouterr()
    assert f"{HTML_URL}/installations/new" in out.out
    assert all(s not in out.out + out.err for s in (app_key.splitlines()[1], SECRET))
    assert state not in out.out  # (stderr may hold this test's own client log, with the URL)


@pytest.mark.parametrize(
    ("api", "said"),
    [
        ("http://127.0.0.1:9", "cannot reach GitHub at http://127.0.0.1:9 (ClientConnectorError)"),
        ("not-github", "does not answer as GitHub's REST API (GET /meta: 404)"),
    ],
    ids=["unreachable", "not-the-api"],
)
def test_register_without_reaching_github_says_so_before_opening_the_browser_flow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], api: str, said: str
) -> None:
    with LoopbackServer(Starlette()) as elsewhere:  # a web server, not GitHub's API
        url = elsewhere.url if api == "not-github" else api
        args = parse("--webhook-url", WEBHOOK, "--port", "0", "--env-file", str(tmp_path / ".env"))
        assert register.cmd_register(args, Settings(github_api_url=url)) == 1
    out = capsys.readouterr()
    [line] = out.err.splitlines()
    assert line.startswith("sla-bot: ") and said in line and "GITHUB_API_URL" in line
    assert "nothing was created" in line
    assert "Open" not in out.out and not (tmp_path / ".env").exists()  # no browser flow
