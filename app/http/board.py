"""`GET /board` and `/board/<customer>`: the status-meeting page live, read-only, behind
GitHub sign-in with the App's OAuth web flow; a person sees a customer only when GitHub
says they can read every repository its requests are in (asked with their own token).

Off (404) unless GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET and SLA_PUBLIC_URL are set. The
session is a cookie encrypted and signed with a key derived from the client secret
(Fernet), `HttpOnly`, `SameSite=Lax`, `Secure` behind https; every route is a GET that
changes nothing but the session, and the sign-in's `state` is checked against a cookie.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import urlencode

import aiohttp
from cryptography.fernet import Fernet, InvalidToken
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.config import Settings
from app.reports.meeting import Meeting, UnknownCustomer, from_store
from app.reports.report_html import as_html, as_html_all, document
from app.services import Services, fallback_policy

log = logging.getLogger(__name__)
http = APIRouter()

SESSION, STATE = "sla_board", "sla_board_state"
SESSION_TTL = timedelta(hours=8)  # a GitHub App's user token lasts 8 hours
STATE_TTL = timedelta(minutes=10)
ACCESS_TTL = timedelta(minutes=5)  # how long GitHub's "can read" answer is trusted
OFF = (
    "The status board is off: set GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET (the App's OAuth "
    "credentials) and SLA_PUBLIC_URL, and add SLA_PUBLIC_URL/board/-/callback as the App's "
    "callback URL. See README.md, Status meetings.\n"
)
HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; frame-ancestors 'none'; form-action 'none'",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}
API_VERSION = {"x-github-api-version": "2022-11-28", "accept": "application/vnd.github+json"}


@dataclass
class Access:
    """GitHub's answers to "can this person read this repository", kept briefly."""

    answers: dict[tuple[str, str], tuple[bool, datetime]] = field(default_factory=dict)

    def get(self, login: str, repo: str, now: datetime) -> bool | None:
        found = self.answers.get((login, repo.casefold()))
        return None if found is None or now >= found[1] else found[0]

    def put(self, login: str, repo: str, readable: bool, now: datetime) -> None:
        if len(self.answers) > 10_000:
            self.answers = {k: v for k, v in self.answers.items() if v[1] > now}
        self.answers[(login, repo.casefold())] = (readable, now + ACCESS_TTL)


class Expired(Exception):
    """GitHub no longer takes the person's token: they sign in again."""


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _access(request: Request) -> Access:
    state = request.app.state
    if not hasattr(state, "board_access"):
        state.board_access = Access()
    found: Access = state.board_access
    return found


def _fernet(secret: str) -> Fernet:
    key = hashlib.sha256(b"sla-bot board session\0" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _seal(secret: str, data: dict[str, Any], now: datetime) -> str:
    return _fernet(secret).encrypt_at_time(json.dumps(data).encode(), int(now.timestamp())).decode()


def _open(secret: str, value: str | None, ttl: timedelta, now: datetime) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        raw = _fernet(secret).decrypt_at_time(
            value.encode(), int(ttl.total_seconds()), int(now.timestamp())
        )
        data = json.loads(raw)
    except (InvalidToken, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _page(status: int, title: str, text: str) -> HTMLResponse:
    body = f"<h1>{escape(title)}</h1><p>{escape(text)}</p>"
    return HTMLResponse(document(title, body), status_code=status, headers=HEADERS)


def _cookie(response: Response, name: str, value: str, ttl: timedelta, settings: Settings) -> None:
    """HttpOnly, SameSite=Lax, only under /board; Secure when the public URL is https."""
    secure = (settings.sla_public_url or "").startswith("https://")
    response.set_cookie(
        name,
        value,
        max_age=int(ttl.total_seconds()),
        path="/board",
        httponly=True,
        secure=secure,
        samesite="lax",
    )


@http.get("/board", include_in_schema=False)
async def board_index(request: Request) -> Response:
    return await _board(request, None)


@http.get("/board/-/login", include_in_schema=False)
async def login(request: Request, next: str = "/board") -> Response:
    services = _services(request)
    board = services.settings.board()
    if board is None:
        return Response(OFF, status_code=404, media_type="text/plain")
    client_id, secret, public = board
    state = secrets.token_urlsafe(24)
    target = next if next.startswith("/board") and "//" not in next else "/board"
    query = urlencode(
        {"client_id": client_id, "redirect_uri": f"{public}/board/-/callback", "state": state}
    )
    web = services.settings.github_web_url()
    response = RedirectResponse(f"{web}/login/oauth/authorize?{query}", status_code=302)
    sealed = _seal(secret, {"state": state, "next": target}, services.time())
    _cookie(response, STATE, sealed, STATE_TTL, services.settings)
    return response


@http.get("/board/-/callback", include_in_schema=False)
async def callback(request: Request, code: str = "", state: str = "") -> Response:
    services = _services(request)
    board = services.settings.board()
    if board is None:
        return Response(OFF, status_code=404, media_type="text/plain")
    client_id, secret, public = board
    now = services.time()
    expected = _open(secret, request.cookies.get(STATE), STATE_TTL, now)
    if expected is None or not state or not secrets.compare_digest(state, str(expected["state"])):
        return _page(
            400,
            "Sign-in failed",
            "The sign-in expired or did not start here: open the board again.",
        )
    try:
        token = await _exchange(services, client_id, secret, code, f"{public}/board/-/callback")
        login_name = await _login(services, token)
    except (aiohttp.ClientError, TimeoutError, Expired, KeyError, ValueError) as exc:
        log.warning("board sign-in failed", extra={"error": type(exc).__name__})
        return _page(401, "Sign-in failed", "GitHub did not confirm the sign-in; try again.")
    log.info("board sign-in", extra={"login": login_name})
    response = RedirectResponse(str(expected.get("next") or "/board"), status_code=302)
    sealed = _seal(secret, {"login": login_name, "token": token}, now)
    _cookie(response, SESSION, sealed, SESSION_TTL, services.settings)
    response.delete_cookie(STATE, path="/board")
    return response


@http.get("/board/-/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    response = _page(200, "Signed out", "You are signed out of the status board.")
    response.delete_cookie(SESSION, path="/board")
    return response


@http.get("/board/{customer:path}", include_in_schema=False)
async def board_customer(request: Request, customer: str) -> Response:
    return await _board(request, customer)


async def _exchange(
    services: Services, client_id: str, secret: str, code: str, redirect: str
) -> str:
    """The user access token for `code` (POST /login/oauth/access_token)."""
    body = {"client_id": client_id, "client_secret": secret, "code": code, "redirect_uri": redirect}
    status, _, content = await services.http.request(
        "POST",
        f"{services.settings.github_web_url()}/login/oauth/access_token",
        {"accept": "application/json", "content-type": "application/json"},
        json.dumps(body).encode(),
    )
    if status >= 400:
        raise Expired(f"HTTP {status}")
    data = json.loads(content)
    if "access_token" not in data:  # GitHub answers errors with 200 and an `error`
        raise Expired(str(data.get("error", "no token")))
    return str(data["access_token"])


async def _login(services: Services, token: str) -> str:
    status, _, content = await services.http.request(
        "GET",
        f"{services.settings.github_api_url}/user",
        {"authorization": f"Bearer {token}", **API_VERSION},
        b"",
    )
    if status >= 400:
        raise Expired(f"HTTP {status}")
    return str(json.loads(content)["login"])


async def _readable(services: Services, access: Access, session: dict[str, Any], repo: str) -> bool:
    """Whether GitHub shows `repo` to the person (their token sees only what they can
    read where the App is installed), cached for ACCESS_TTL."""
    login, now = str(session["login"]), services.time()
    known = access.get(login, repo, now)
    if known is not None:
        return known
    status, _, content = await services.http.request(
        "GET",
        f"{services.settings.github_api_url}/repos/{repo}",
        {"authorization": f"Bearer {session['token']}", **API_VERSION},
        b"",
    )
    if status == 401:
        raise Expired("token refused")
    readable = status == 200 and bool(json.loads(content).get("permissions", {}).get("pull", True))
    access.put(login, repo, readable, now)
    return readable


def _repos(meeting: Meeting) -> list[str]:
    """Every repository the customer's page shows something of."""
    names = {*meeting.account.repositories, *(r.repo for r in meeting.requests)}
    return sorted(names, key=str.casefold)


async def _board(request: Request, customer: str | None) -> Response:
    services = _services(request)
    board = services.settings.board()
    if board is None:
        return Response(OFF, status_code=404, media_type="text/plain")
    _, secret, _ = board
    now = services.time()
    session = _open(secret, request.cookies.get(SESSION), SESSION_TTL, now)
    here = "/board" + (f"/{customer}" if customer else "")
    if session is None or "login" not in session:
        return RedirectResponse(
            f"/board/-/login?{urlencode({'next': here})}",
            status_code=302,
            headers={"cache-control": "no-store"},
        )
    policy = fallback_policy(services.settings)
    days = _days(request.query_params.get("since"))
    since = now - timedelta(days=days)
    try:
        meetings = await services.db.run(from_store, policy, since, now, customer)
    except UnknownCustomer:
        return _page(404, "No such customer", f"There is no customer {customer!r}.")
    try:
        shown = [m for m in meetings if await _all_readable(services, request, session, m)]
    except Expired:
        response = RedirectResponse(f"/board/-/login?{urlencode({'next': here})}", 302)
        response.delete_cookie(SESSION, path="/board")
        return response
    who = str(session["login"])
    if customer is not None and not shown:
        return _page(
            403,
            "Not yours to see",
            f"Signed in as {who}: GitHub does not show you "
            "every repository of this customer, so its page is not shown.",
        )
    if customer is not None:
        html = as_html(shown[0])
    else:
        html = as_html_all(shown, f"Status meetings, the last {days} days")
    banner = (
        f"<p class='note'>Signed in as {escape(who)} · <a href='/board/-/logout'>sign out</a>"
        " · read-only, as of this page's load</p>"
    )
    html = html.replace("<body>\n", f"<body>\n{banner}", 1)
    return HTMLResponse(html, headers=HEADERS)


async def _all_readable(
    services: Services, request: Request, session: dict[str, Any], meeting: Meeting
) -> bool:
    repos = _repos(meeting)
    if not repos:
        return False  # nothing to check it against: not shown
    for repo in repos:
        if not await _readable(services, _access(request), session, repo):
            return False
    return True


def _days(text: str | None) -> int:
    if text is None or not text.isdigit():
        return 14
    return min(max(int(text), 1), 366)
