"""FakeGitHub's HTTP behaviour: ETags, rate limits, faults, Link headers, deliveries, contents."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from gidgethub import HTTPException, RateLimitExceeded

from app.engine import failures
from app.github import ops
from app.github.app import GitHubApp
from app.github.client import GitHubClient
from app.github.http import Session
from sla_sandbox.standins import FakeGitHub
from tests.harness import LOOPBACK_TLS, MovableTime
from tests.standins.conftest import APP_ID, INSTALLATION, REPO, Sleeps

pytestmark = pytest.mark.anyio
CONFIG = ".github/sla.yml"


async def _read(gh: GitHubClient) -> str | None:
    return await ops.read_file(gh, REPO, CONFIG)


async def test_a_repeated_get_is_a_304_served_from_gidgethubs_cache(
    fake_github: FakeGitHub, github_app: GitHubApp
) -> None:
    fake_github.set_file(REPO, CONFIG, "business_hours: 9-17\n")

    first = await github_app.call(INSTALLATION, _read)
    remaining = fake_github.rate_remaining(INSTALLATION)
    second = await github_app.call(INSTALLATION, _read)
    fake_github.set_file(REPO, CONFIG, "business_hours: 8-18\n")
    third = await github_app.call(INSTALLATION, _read)

    assert (first, second, third) == (
        "business_hours: 9-17\n",
        "business_hours: 9-17\n",
        "business_hours: 8-18\n",
    )
    reads = fake_github.calls_to("GET", "/contents/")
    assert [(c.status, c.counted) for c in reads] == [(200, True), (304, False), (200, True)]
    assert fake_github.rate_remaining(INSTALLATION) == remaining - 1  # only the third counted


async def test_rate_limit_headers_on_every_response(fake_github: FakeGitHub, app_key: str) -> None:
    async with httpx.AsyncClient(
        verify=LOOPBACK_TLS, base_url=fake_github.api_url, timeout=5
    ) as http:
        missing = await http.get("/nowhere")
        refused = await http.get("/app", headers={"Authorization": "Bearer a.b.c"})

    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"
    assert refused.status_code == 401
    for reply in (missing, refused):
        assert reply.headers["x-ratelimit-resource"] == "core"
        assert int(reply.headers["x-ratelimit-reset"]) > fake_github.now().timestamp()
    assert (refused.headers["x-ratelimit-used"], refused.headers["x-ratelimit-remaining"]) == (
        "2",
        "58",
    )


async def test_a_502_is_retried_by_the_client(
    fake_github: FakeGitHub, github_app: GitHubApp, sleeps: Sleeps
) -> None:
    n = fake_github.open_issue(REPO, title="Hi", user="wile-e")["number"]
    fake_github.fail_next("POST", r"/issues/\d+/labels$", 502)

    await github_app.call(
        INSTALLATION, lambda gh: ops.add_labels(gh, REPO, n, ["type: problem"]), write=True
    )

    assert [c.status for c in fake_github.calls_to("POST", "/labels$")] == [502, 200]
    assert len(sleeps) == 1
    assert fake_github.label_names(REPO, n) == ["type: problem"]


@pytest.mark.parametrize(
    ("status", "headers", "message", "wait"),
    [
        (429, {"retry-after": "7"}, "slow down", 7.0),
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "{reset}"},
            "API rate limit",
            31.0,
        ),
        (403, {"retry-after": "600"}, "You have exceeded a secondary rate limit", 600.0),
        (403, {}, "You have exceeded a secondary rate limit", 60.0),
    ],
)
async def test_rate_limits_are_left_to_the_caller_with_the_wait(
    fake_github: FakeGitHub,
    github_app: GitHubApp,
    sleeps: Sleeps,
    time: MovableTime,
    status: int,
    headers: dict[str, str],
    message: str,
    wait: float,
) -> None:
    fake_github.set_file(REPO, CONFIG, "x: 1\n")
    headers = {k: v.format(reset=int(time().timestamp()) + 30) for k, v in headers.items()}
    fake_github.fail_next("GET", "/contents/", status, headers=headers, json={"message": message})

    with pytest.raises(HTTPException) as limited:
        await github_app.call(INSTALLATION, _read)

    verdict = failures.classify(limited.value, time())
    assert verdict.wait is not None and verdict.wait.total_seconds() == wait
    assert sleeps == []  # nothing slept in line: the outbox reschedules
    assert [c.status for c in fake_github.calls_to("GET", "/contents/")] == [status]


async def test_an_exhausted_rate_limit_is_a_403_until_reset(
    app_key: str, time: MovableTime, sleeps: Sleeps
) -> None:
    fake = FakeGitHub(APP_ID, app_key, time=time, rate_limit=2)
    fake.add_repo(REPO, INSTALLATION)
    with fake.serve():
        http = Session(timeout=5.0)
        app = GitHubApp(
            app_id=APP_ID, private_key=app_key, base_url=fake.api_url, http=http, time=time
        )
        try:
            for _ in range(2):
                await app.call(INSTALLATION, _read)
            with pytest.raises(RateLimitExceeded):
                await app.call(INSTALLATION, _read)
        finally:
            await http.aclose()

    refused = fake.calls[-1]
    assert (refused.status, refused.counted) == (403, False)
    assert fake.rate_remaining(INSTALLATION) == 0
    assert sleeps == []  # an hour's wait is left to the caller's retry


async def test_link_headers_are_absolute_and_point_at_the_fake(
    fake_github: FakeGitHub, github_app: GitHubApp
) -> None:
    for i in range(5):
        fake_github.create_label(REPO, f"l{i}")
    token = await github_app.tokens.get(INSTALLATION)

    async with httpx.AsyncClient(
        verify=LOOPBACK_TLS, base_url=fake_github.api_url, timeout=5
    ) as http:
        auth = {"Authorization": f"Bearer {token}"}  # tokens also work as Bearer
        page = await http.get(f"/repos/{REPO}/labels?per_page=2&page=2", headers=auth)

    base = f"{fake_github.api_url}/repos/{REPO}/labels?per_page=2&page="
    assert page.headers["link"] == ", ".join(
        [
            f'<{base}1>; rel="prev"',
            f'<{base}3>; rel="next"',
            f'<{base}3>; rel="last"',
            f'<{base}1>; rel="first"',
        ]
    )
    assert [label["name"] for label in page.json()] == ["l2", "l3"]


async def test_hook_deliveries_page_by_cursor_and_redeliver(
    fake_github: FakeGitHub, github_app: GitHubApp, time: MovableTime
) -> None:
    for i in range(5):
        time.advance(minutes=1)
        fake_github.add_hook_delivery(
            "issues", "labeled", status_code=503 if i == 3 else 200, installation_id=INSTALLATION
        )

    gh = await github_app.as_app()
    items = [d async for d in gh.getiter("/app/hook/deliveries?per_page=2")]
    failed = next(d for d in items if d["status"] != "OK")
    await gh.post(f"/app/hook/deliveries/{failed['id']}/attempts", data=b"")

    assert [d["delivered_at"] for d in items] == sorted(
        (d["delivered_at"] for d in items), reverse=True
    )
    assert len(items) == 5 and failed["status"] == "Invalid HTTP Response: 503"
    cursors = [c.query.get("cursor") for c in fake_github.calls_to("GET", "/deliveries$")]
    assert cursors[0] is None and all(c and c.startswith("v1_") for c in cursors[1:])
    assert len(cursors) == 3
    assert fake_github.redeliveries == [failed["id"]]
    assert fake_github.calls[-1].status == 202
    newest = await gh.getitem("/app/hook/deliveries?per_page=1")
    assert (newest[0]["guid"], newest[0]["redelivery"]) == (failed["guid"], True)


async def test_contents_404_directory_and_raw(
    fake_github: FakeGitHub, github_app: GitHubApp
) -> None:
    form = "name: Problem\nbody: []\n" * 10
    fake_github.set_file(REPO, ".github/ISSUE_TEMPLATE/problem.yml", form)

    async def read(gh: GitHubClient) -> tuple[Any, ...]:
        listing = await gh.getitem(f"/repos/{REPO}/contents/.github/ISSUE_TEMPLATE")
        raw = await gh.getitem(
            f"/repos/{REPO}/contents/.github/ISSUE_TEMPLATE/problem.yml",
            accept="application/vnd.github.raw+json",
        )
        return await ops.read_file(gh, REPO, "missing.yml"), listing, raw

    missing, listing, raw = await github_app.call(INSTALLATION, read)

    assert missing is None
    assert [(e["type"], e["name"]) for e in listing] == [("file", "problem.yml")]
    assert raw == form
    file = await github_app.call(
        INSTALLATION,
        lambda gh: gh.getitem(f"/repos/{REPO}/contents/.github/ISSUE_TEMPLATE/problem.yml"),
    )
    assert "\n" in file["content"].rstrip("\n")  # GitHub wraps base64 at 60 columns
    assert (
        await github_app.call(
            INSTALLATION, lambda gh: ops.read_file(gh, REPO, ".github/ISSUE_TEMPLATE/problem.yml")
        )
        == form
    )


async def test_concurrent_writes_are_all_recorded(
    fake_github: FakeGitHub, github_app: GitHubApp
) -> None:
    n = fake_github.open_issue(REPO, title="Busy", user="wile-e")["number"]

    async def post(i: int) -> dict[str, Any]:
        return await github_app.call(INSTALLATION, lambda gh: ops.comment(gh, REPO, n, f"c{i}"))

    posted = await asyncio.gather(*(post(i) for i in range(20)))

    assert len({c["id"] for c in posted}) == 20
    assert len(fake_github.comments(REPO, n)) == 20
    assert fake_github.counted_calls == len(fake_github.calls) == 21


@pytest.mark.parametrize(
    "base", ["https://api.github.com", "https://ghe.example.com/api/v3/", "http://127.0.0.1:8080"]
)
@pytest.mark.parametrize(
    ("url", "url_vars"),
    [
        ("/repos/acme/support/issues/42/labels", None),
        ("/repos/acme/support/issues/42/labels", {}),  # what gidgethub's post() passes
        ("/repos/acme%2Fx/sup%20port/issues/7/comments?per_page=100", None),
        ("/repos/{owner}/{name}/issues/comments/{id}", {"owner": "a b", "name": "c", "id": "9"}),
        ("https://api.github.com/app/installations", None),
        ("repos/acme/support", None),
        ("/search/issues{?q}", None),
    ],
)
def test_urls_are_the_ones_gidgethub_builds(
    base: str, url: str, url_vars: dict[str, str] | None
) -> None:
    """The short cut past gidgethub's URL template parse gives the URL it would have."""
    from gidgethub import sansio

    from app.engine import tuning

    assert tuning.gidgethub_urls()  # the locked gidgethub is one it was tested on
    shipped = sansio.format_url.shipped
    assert sansio.format_url(url, url_vars, base_url=base) == shipped(url, url_vars, base_url=base)


async def test_the_writes_every_issue_gets_skip_the_uri_template_parse(
    app_key: str, time: MovableTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The label and the comment go out without gidgethub's URI-template parse: the short
    cut is taken for the calls sla-bot makes, not only for the shapes the test above names."""
    import uritemplate

    from app.engine import tuning

    assert tuning.gidgethub_urls()
    parsed: list[str] = []
    expand = uritemplate.expand
    monkeypatch.setattr(
        uritemplate, "expand", lambda url, *a, **k: parsed.append(url) or expand(url, *a, **k)
    )
    fake, n = _with_an_issue(app_key, time)
    async with _app_on(fake, app_key, time) as (app, _):
        await app.tokens.get(INSTALLATION)  # the token's own request may be parsed
        parsed.clear()
        await app.call(INSTALLATION, lambda gh: ops.add_labels(gh, REPO, n, ["a"]), write=True)
        await app.call(INSTALLATION, lambda gh: ops.comment(gh, REPO, n, "On it"), write=True)
    assert parsed == []
    assert [c.path for c in fake.calls][-2:] == [
        f"/repos/{REPO}/issues/{n}/labels",
        f"/repos/{REPO}/issues/{n}/comments",
    ]


async def test_served_ghes_style_the_api_answers_under_api_v3_with_links_there(
    app_key: str, time: MovableTime
) -> None:
    fake = FakeGitHub(APP_ID, app_key, time=time, api_path="/api/v3")
    fake.add_repo(REPO, INSTALLATION)
    for i in range(3):
        fake.create_label(REPO, f"l{i}")
    with fake.serve():
        assert fake.api_url.endswith("/api/v3")
        http = Session(timeout=5.0)
        app = GitHubApp(
            app_id=APP_ID, private_key=app_key, base_url=fake.api_url, http=http, time=time
        )
        try:
            pages = await app.call(INSTALLATION, lambda gh: ops.existing_labels(gh, REPO))
        finally:
            await http.aclose()
    assert pages == {"l0", "l1", "l2"}
    assert {c.path for c in fake.calls} == {
        f"/app/installations/{INSTALLATION}/access_tokens",
        f"/repos/{REPO}/labels",
    }


async def test_an_intercept_answers_first_and_can_hand_over_to_the_stand_in(
    fake_github: FakeGitHub, github_app: GitHubApp
) -> None:
    from starlette.requests import Request
    from starlette.responses import Response

    seen: list[str] = []

    async def script(request: Request, stand_in: Any) -> Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/contents/.github/sla.yml"):
            return Response(b'{"message": "Server Error"}', 500)
        answer: Response = await stand_in()
        return answer

    fake_github.intercept(script)
    try:
        with pytest.raises(HTTPException) as broken:
            await github_app.call(INSTALLATION, _read)
    finally:
        fake_github.intercept(None)
    assert broken.value.status_code == 500
    assert seen[0].endswith("/access_tokens")  # the stand-in's own token exchange
    assert len(seen) == 1 + 3  # the read, tried three times (a 5xx on a safe request)


async def test_a_granted_token_is_accepted_as_an_issued_one(fake_github: FakeGitHub) -> None:
    fake_github.set_file(REPO, CONFIG, "x: 1\n")
    fake_github.grant_token(INSTALLATION, "ghs_" + "G" * 36)
    async with httpx.AsyncClient(
        verify=LOOPBACK_TLS, base_url=fake_github.api_url, timeout=5
    ) as http:
        auth = {"Authorization": "token ghs_" + "G" * 36}
        read = await http.get(f"/repos/{REPO}/contents/{CONFIG}", headers=auth)
    assert read.status_code == 200


async def test_every_call_names_sla_bot_as_its_user_agent_which_github_requires(
    app_key: str, time: MovableTime
) -> None:
    """GitHub refuses a request without a User-Agent (403): sla-bot's is gidgethub's
    requester, kept by aiohttp as it is."""
    fake, n = _with_an_issue(app_key, time)
    async with _app_on(fake, app_key, time) as (app, http):
        await app.call(INSTALLATION, lambda gh: ops.add_labels(gh, REPO, n, ["a"]), write=True)
        async with http.session().get(f"{fake.api_url}/repos/{REPO}") as bare:
            assert bare.status == 404  # no token: a private repository is not found
        async with http.session().get(
            f"{fake.api_url}/repos/{REPO}", skip_auto_headers=["User-Agent"]
        ) as anonymous:
            assert anonymous.status == 403
            assert "forbidden" in (await anonymous.json())["message"]
    assert [c.status for c in fake.calls][-3:] == [200, 404, 403]


def _with_an_issue(app_key: str, time: MovableTime) -> tuple[FakeGitHub, int]:
    """A stand-in GitHub with the App installed on REPO, and an issue opened there."""
    fake = FakeGitHub(APP_ID, app_key, time=time)
    fake.add_repo(REPO, INSTALLATION)
    return fake, int(fake.open_issue(REPO, title="Down", user="wile-e")["number"])


@contextlib.asynccontextmanager
async def _app_on(
    fake: FakeGitHub, app_key: str, time: MovableTime
) -> AsyncIterator[tuple[GitHubApp, Session]]:
    """`fake` served on loopback and the App's client of it, closed after."""
    with fake.serve():
        http = Session(timeout=5.0)
        app = GitHubApp(
            app_id=APP_ID, private_key=app_key, base_url=fake.api_url, http=http, time=time
        )
        try:
            yield app, http
        finally:
            await http.aclose()
