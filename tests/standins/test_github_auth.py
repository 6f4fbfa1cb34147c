"""FakeGitHub's App auth (JWT, installation tokens), driven by sla-bot's real GitHubApp."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gidgethub import BadRequest

from app.github import ops
from app.github.app import GitHubApp
from app.github.client import GitHubClient
from app.github.http import Session
from sla_sandbox.standins import FakeGitHub
from tests.harness import LOOPBACK_TLS, MovableTime
from tests.standins.conftest import APP_ID, INSTALLATION, REPO

pytestmark = pytest.mark.anyio


async def _read_config(gh: GitHubClient) -> str | None:
    return await ops.read_file(gh, REPO, ".github/sla.yml")


async def test_token_exchange_is_verified_and_the_token_used(
    fake_github: FakeGitHub, github_app: GitHubApp
) -> None:
    fake_github.set_file(REPO, ".github/sla.yml", "tiers: {}\n")

    text = await github_app.call(INSTALLATION, _read_config)

    assert text == "tiers: {}\n"
    exchange, read = fake_github.calls
    assert (exchange.method, exchange.status) == ("POST", 201)
    assert exchange.path == f"/app/installations/{INSTALLATION}/access_tokens"
    assert (exchange.authorization or "").lower().startswith("bearer ")
    assert read.status == 200
    assert (read.authorization or "").startswith("token ghs_")


async def test_a_jwt_signed_by_another_key_is_refused(
    fake_github: FakeGitHub, time: MovableTime
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    http = Session(timeout=5.0)
    impostor = GitHubApp(
        app_id=APP_ID, private_key=pem, base_url=fake_github.api_url, http=http, time=time
    )
    with pytest.raises(BadRequest) as refused:
        await impostor.call(INSTALLATION, _read_config)
    await http.aclose()

    assert refused.value.status_code == 401
    assert [c.status for c in fake_github.calls] == [401]


def _jwt(fake: FakeGitHub, key: str, iat: int = -60, exp: int = 540, iss: str = APP_ID) -> str:
    """An App JWT with `iat` and `exp` relative to the fake's now (the test's time)."""
    now = int(fake.now().timestamp())
    return jwt.encode({"iat": now + iat, "exp": now + exp, "iss": iss}, key, algorithm="RS256")


@pytest.mark.parametrize(
    ("claims", "status", "problem"),
    [
        ({}, 200, ""),
        ({"iss": "999"}, 401, "'Issuer' claim"),
        ({"iat": -900, "exp": -300}, 401, "'exp'"),
        ({"exp": 3600}, 401, "too far in the future"),
        ({"iat": 300, "exp": 500}, 401, "'iat'"),
    ],
)
def test_jwt_claims_are_checked(
    fake_github: FakeGitHub, app_key: str, claims: dict[str, Any], status: int, problem: str
) -> None:
    with httpx.Client(verify=LOOPBACK_TLS, base_url=fake_github.api_url, timeout=5) as http:
        token = _jwt(fake_github, app_key, **claims)
        reply = http.get("/app", headers={"Authorization": f"Bearer {token}"})

    assert reply.status_code == status
    assert problem in reply.json().get("message", "")


def test_app_endpoints_need_the_jwt_and_tokens_need_an_installation(
    fake_github: FakeGitHub, app_key: str
) -> None:
    token = _jwt(fake_github, app_key)
    with httpx.Client(verify=LOOPBACK_TLS, base_url=fake_github.api_url, timeout=5) as http:
        as_token = http.get("/app", headers={"Authorization": f"token {token}"})
        unknown = http.post(
            "/app/installations/1/access_tokens",
            headers={"Authorization": f"Bearer {token}"},
        )
        anonymous = http.get(f"/repos/{REPO}/labels")
        with_jwt = http.get(f"/repos/{REPO}/labels", headers={"Authorization": f"Bearer {token}"})

    assert (as_token.status_code, as_token.json()["message"]) == (401, "Bad credentials")
    assert (unknown.status_code, unknown.json()["message"]) == (404, "Not Found")
    assert (anonymous.status_code, anonymous.headers["x-ratelimit-limit"]) == (401, "60")
    assert with_jwt.status_code == 403


async def test_slug_and_installation_repositories_pages(
    fake_github: FakeGitHub, github_app: GitHubApp
) -> None:
    for name in ("acme/billing-help", "acme/onboarding", "acme/status"):
        fake_github.add_repo(name, INSTALLATION)
    fake_github.add_repo("globex/help", 9999)

    async def names(gh: GitHubClient) -> list[str]:
        pages = gh.getiter(
            "/installation/repositories{?per_page}",
            url_vars={"per_page": "3"},
            iterable_key="repositories",
        )
        return [repo["full_name"] async for repo in pages]

    app = await (await github_app.as_app()).getitem("/app")
    assert (app["id"], app["slug"]) == (int(APP_ID), "sla-bot")
    assert await github_app.installation_of("globex/help") == 9999
    assert await github_app.call(INSTALLATION, names) == [
        REPO,
        "acme/billing-help",
        "acme/onboarding",
        "acme/status",
    ]
    assert [c.query for c in fake_github.calls_to("GET", "^/installation/repositories$")] == [
        {"per_page": "3"},
        {"per_page": "3", "page": "2"},
    ]


async def test_an_expired_token_is_refused_and_refreshed_once(
    fake_github: FakeGitHub, github_app: GitHubApp
) -> None:
    n = fake_github.open_issue(REPO, title="Help", user="wile-e")["number"]
    await github_app.call(INSTALLATION, lambda gh: ops.comment(gh, REPO, n, "first"), write=True)

    fake_github.expire_tokens()
    await github_app.call(INSTALLATION, lambda gh: ops.comment(gh, REPO, n, "second"), write=True)

    assert [(c.path.rsplit("/", 1)[-1], c.status) for c in fake_github.calls] == [
        ("access_tokens", 201),
        ("comments", 201),
        ("comments", 401),
        ("access_tokens", 201),
        ("comments", 201),
    ]
    refused = fake_github.calls[2]
    assert refused.authorization == fake_github.calls[1].authorization
    assert [c["body"] for c in fake_github.comments(REPO, n)] == ["first", "second"]


async def test_tokens_expire_after_an_hour_of_the_fake_clock(
    fake_github: FakeGitHub, github_app: GitHubApp, time: MovableTime
) -> None:
    token = await github_app.tokens.get(INSTALLATION)
    time.advance(minutes=61)

    async with httpx.AsyncClient(
        verify=LOOPBACK_TLS, base_url=fake_github.api_url, timeout=5
    ) as http:
        auth = {"Authorization": f"token {token}"}
        stale = await http.get(f"/repos/{REPO}/labels", headers=auth)

    assert (stale.status_code, stale.json()["message"]) == (401, "Bad credentials")
    assert await github_app.tokens.get(INSTALLATION) != token  # sla-bot's cache agrees


async def test_a_token_sees_only_its_installations_repos(
    fake_github: FakeGitHub, github_app: GitHubApp
) -> None:
    fake_github.add_repo("globex/help", 9999)
    fake_github.set_file("globex/help", ".github/sla.yml", "secret: true\n")

    async def peek(gh: GitHubClient) -> str | None:
        return await ops.read_file(gh, "globex/help", ".github/sla.yml")

    assert await github_app.call(INSTALLATION, peek) is None  # a 404, as on GitHub


def test_a_manifest_code_converts_once(fake_github: FakeGitHub, app_key: str) -> None:
    code = fake_github.manifest_code("s3cret")

    with httpx.Client(verify=LOOPBACK_TLS, base_url=fake_github.api_url, timeout=5) as http:
        first = http.post(f"/app-manifests/{code}/conversions")
        again = http.post(f"/app-manifests/{code}/conversions")

    assert first.status_code == 201
    created = first.json()
    assert (created["id"], created["slug"], created["pem"]) == (int(APP_ID), "sla-bot", app_key)
    assert created["webhook_secret"] == "s3cret"
    assert again.status_code == 404
