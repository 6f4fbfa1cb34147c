"""/board: the meeting page live behind GitHub sign-in, checked against the GitHub stand-in
(its OAuth web flow and what each person's token may read); no real network."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from app.config import Settings
from app.http.main import create_app
from app.services import build
from app.store import clocks as store_clocks
from sla_sandbox.standins import FakeGitHub, LoopbackServer
from tests.factories import stored_clock as clock
from tests.harness import LOOPBACK_TLS

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
PUBLIC = "https://sla.example.com"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(time=lambda: NOW)
    with fake.serve():
        fake.add_repo("acme/support", 1, private=True)
        fake.add_repo("globex/desk", 1, private=True)
        fake.set_role("acme/support", "dana", "read")
        yield fake


def settings(github: FakeGitHub, tmp_path: Path, **more: object) -> Settings:
    values: dict[str, object] = {
        "github_api_url": github.api_url,
        "github_webhook_secret": secrets.token_hex(20),
        "database_url": f"sqlite:///{tmp_path / 'board.db'}",
        "sla_sweep_interval": 0,
        "sla_redeliver_interval": 0,
        "sla_reconcile_interval": 0,
        "sla_retention_days": 0,
        "github_client_id": github.oauth.client_id,
        "github_client_secret": github.oauth.client_secret,
        "sla_public_url": PUBLIC,
    }
    values.update(more)
    return Settings(**values)  # type: ignore[arg-type]


class Browser:
    """A browser on the board: its cookies (Secure ones too: the server sits behind TLS at
    PUBLIC, reached here on loopback), redirects followed by the test."""

    def __init__(self, url: str) -> None:
        self.url, self.jar = url, {}  # type: dict[str, str]
        self.http = httpx.Client(verify=LOOPBACK_TLS, base_url=url, timeout=10)

    def get(self, path: str, follow_redirects: bool = False) -> httpx.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        response = self.http.get(path, headers={"cookie": cookie} if cookie else {})
        self.http.cookies.clear()
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0].strip('"')
            if "max-age=0" in header.lower() or not value:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return response

    def post(self, path: str) -> httpx.Response:
        return self.http.post(path)


@pytest.fixture
def board(github: FakeGitHub, tmp_path: Path) -> Iterator[Browser]:
    config = settings(github, tmp_path)
    services = build(config, time=lambda: NOW)
    for item in (
        clock(1, started_at=NOW - timedelta(days=1), due_at=NOW - timedelta(hours=20)),
        clock(
            2,
            repo="globex/desk",
            started_at=NOW - timedelta(days=1),
            due_at=NOW + timedelta(hours=2),
            state="running",
            met_at=None,
            response_seconds=None,
        ),
    ):
        services.db.tx(store_clocks.start, **{k: v for k, v in asdict(item).items() if k != "id"})
    with LoopbackServer(create_app(config, services=services)) as server:
        browser = Browser(server.url)
        yield browser
        browser.http.close()


def sign_in(client: Browser, github: FakeGitHub, who: str, page: str) -> httpx.Response:
    """A browser opening `page`: sent to sign in, to GitHub and back, then the page."""
    github.oauth.signed_in = who
    first = client.get(page, follow_redirects=False)
    assert first.status_code == 302 and first.headers["location"].startswith("/board/-/login")
    to_github = client.get(first.headers["location"], follow_redirects=False)
    assert to_github.headers["location"].startswith(f"{github.api_url}/login/oauth/authorize?")
    back = httpx.get(to_github.headers["location"], follow_redirects=False)  # GitHub's page
    assert back.status_code == 302
    callback = urlsplit(back.headers["location"])
    assert f"{callback.scheme}://{callback.netloc}" == PUBLIC
    done = client.get(f"{callback.path}?{callback.query}", follow_redirects=False)
    assert done.status_code == 302 and done.headers["location"] == page
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "samesite=lax" in cookie.lower()
    return client.get(page, follow_redirects=False)


def test_an_anonymous_visitor_is_sent_to_sign_in_and_sees_nothing(board: Browser) -> None:
    for page in ("/board", "/board/acme/support"):
        response = board.get(page, follow_redirects=False)
        assert response.status_code == 302
        assert response.headers["location"].startswith("/board/-/login?next=")
        assert "acme/support#1" not in response.text


def test_a_person_who_can_read_the_repository_sees_its_page(
    board: Browser, github: FakeGitHub
) -> None:
    page = sign_in(board, github, "dana", "/board/acme/support")
    assert page.status_code == 200
    assert "acme/support: status meeting" in page.text and "acme/support#1" in page.text
    assert "globex/desk" not in page.text and "Signed in as dana" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    index = board.get("/board")
    assert "acme/support#1" in index.text and "globex/desk#2" not in index.text  # hers only
    tokens = [c for c in github.calls if (c.authorization or "").startswith("Bearer ghu_")]
    assert {c.path for c in tokens} >= {"/user", "/repos/acme/support"}
    assert board.post("/board/acme/support").status_code == 405  # read-only


def test_a_person_without_read_access_is_refused(board: Browser, github: FakeGitHub) -> None:
    page = sign_in(board, github, "eve", "/board/acme/support")
    assert page.status_code == 403 and "acme/support#1" not in page.text
    assert "Signed in as eve" in page.text
    assert "acme/support#" not in board.get("/board").text


def test_a_forged_or_stale_sign_in_is_refused(board: Browser, github: FakeGitHub) -> None:
    board.jar["sla_board"] = "forged"
    assert board.get("/board", follow_redirects=False).status_code == 302
    bad = board.get("/board/-/callback?code=x&state=y", follow_redirects=False)
    assert bad.status_code == 400  # no sign-in started here
    github.oauth.signed_in = "dana"
    to_github = board.get("/board/-/login", follow_redirects=False).headers["location"]
    back = urlsplit(httpx.get(to_github, follow_redirects=False).headers["location"])
    query = back.query.replace("code=", "code=0")  # a code GitHub never gave
    assert board.get(f"{back.path}?{query}", follow_redirects=False).status_code == 401


def test_the_board_is_off_unless_configured(github: FakeGitHub, tmp_path: Path) -> None:
    config = settings(github, tmp_path, github_client_id=None, github_client_secret=None)
    with LoopbackServer(create_app(config, services=build(config, time=lambda: NOW))) as server:
        client = Browser(server.url)
        response = client.get("/board")
        assert response.status_code == 404
        assert "GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET" in response.text
        assert client.get("/board/acme/support").status_code == 404
        client.http.close()
