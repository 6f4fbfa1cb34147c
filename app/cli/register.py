"""`sla-bot register`: create the GitHub App from its manifest and write its secrets to .env."""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import re
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html import escape
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from app.config import Settings
from app.github.http import Session

log = logging.getLogger(__name__)

GITHUB_WEB_URL, GITHUB_API_URL = "https://github.com", "https://api.github.com"
HOST, NAME = "127.0.0.1", "sla-bot"
DESCRIPTION = "Business-hour response-time SLAs for customer requests on GitHub issues."
# installation* events reach every App unasked; `repository` follows renames and transfers;
# `push` tells when a policy file changed (it needs the contents permission, read already).
EVENTS = ("issues", "issue_comment", "repository", "push")
PERMISSIONS = {"issues": "write", "metadata": "read", "contents": "read"}
# The callback URL carries the one-time code: keep it out of caches and Referer headers.
_API = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": NAME,
}
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_FIELDS = ("slug", "pem", "webhook_secret", "html_url")  # and "id"; client_secret stays unused
_START_OVER = '<p><a href="/">Start over</a>.</p>'
_UNQUOTABLE = re.compile(r'["\\$`]')  # would change meaning inside a double-quoted .env value


@dataclass(frozen=True)
class Registered:
    """The App GitHub created, without its secrets."""

    app_id: int
    slug: str
    html_url: str
    env_file: Path


class ConversionError(Exception):
    """GitHub did not turn the manifest code into the App's credentials."""


def build_manifest(*, webhook_url: str, redirect_url: str, name: str = NAME) -> dict[str, Any]:
    """The App's manifest; app.yml at the repository root is the same document."""
    parts = urlsplit(webhook_url)
    return {
        "name": name,
        "url": f"{parts.scheme}://{parts.netloc}",
        "description": DESCRIPTION,
        "hook_attributes": {"url": webhook_url, "active": True},
        "redirect_url": redirect_url,
        "public": False,
        "default_events": list(EVENTS),
        "default_permissions": dict(PERMISSIONS),
    }


def new_app_url(github_web_url: str, state: str, org: str | None = None) -> str:
    """Where the browser posts the manifest: the user's or an organisation's new-App page."""
    owner = f"/organizations/{quote(org, safe='')}" if org else ""
    return f"{github_web_url.rstrip('/')}{owner}/settings/apps/new?state={quote(state, safe='')}"


def env_text(credentials: Mapping[str, Any], api_url: str) -> str:
    """The .env lines for the converted credentials (PEM on one line, `\\n` escaped)."""
    values = {
        "GITHUB_APP_ID": str(credentials["id"]),
        "GITHUB_PRIVATE_KEY": str(credentials["pem"]).strip().replace("\r\n", "\n"),
        "GITHUB_WEBHOOK_SECRET": str(credentials["webhook_secret"]),
    }
    if api_url.rstrip("/") != GITHUB_API_URL:
        values["GITHUB_API_URL"] = api_url.rstrip("/")
    lines = ["# GitHub App credentials written by `sla-bot register`; keep this file private."]
    for key, value in values.items():
        if _UNQUOTABLE.search(value):
            raise ValueError(f"{key} contains a character that a .env file cannot quote")
        lines.append(f'{key}="{value}"'.replace("\n", "\\n"))
    return "\n".join(lines) + "\n"


def write_env_file(path: Path, text: str, *, force: bool = False) -> None:
    """Write `path` readable by its owner only from the first byte; replace it only if forced."""
    target = path if not force else path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never follows a symlink, never truncates a file that appeared meanwhile.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # exactly 0600 whatever the umask
        with os.fdopen(fd, "wb") as file:
            file.write(text.encode())
            file.flush()
            os.fsync(file.fileno())
        if force:
            os.replace(target, path)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


async def convert(http: Session, api_url: str, code: str) -> dict[str, Any]:
    """POST /app-manifests/{code}/conversions (no auth): the new App's id, key and secrets."""
    url = f"{api_url.rstrip('/')}/app-manifests/{quote(code, safe='')}/conversions"
    try:
        status, _, content = await http.request("POST", url, _API, b"")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ConversionError(f"could not reach {api_url} ({type(exc).__name__})") from None
    try:
        body = json.loads(content)
        if status == 201:
            return {**{key: str(body[key]) for key in _FIELDS}, "id": int(body["id"])}
        message = str(body["message"])[:200]
    except (ValueError, KeyError, TypeError):
        message = f"{_phrase(status)} without the App's credentials"
    raise ConversionError(
        f"GitHub answered {status} {message}. A code works once and expires an "
        "hour after the App was created."
    )


async def reach(api_url: str, http: Session | None = None) -> str | None:
    """Why `register` cannot count on GitHub's REST API at `api_url` (it converts the
    manifest's code there at the end of the flow, once the App exists), or None. `GET /meta`
    needs no credentials."""
    url = f"{api_url.rstrip('/')}/meta"
    own = Session(timeout=10.0, connect=5.0)
    try:
        status, _, content = await (http or own).request("GET", url, _API, b"")
        body = json.loads(content) if status == 200 else None
    except (aiohttp.ClientError, TimeoutError) as exc:
        return (
            f"cannot reach GitHub at {api_url} ({type(exc).__name__}): check GITHUB_API_URL "
            "(or --github-url), the network and any proxy; nothing was created"
        )
    except ValueError:
        body = None
    finally:
        await own.aclose()
    if not isinstance(body, dict):
        return (
            f"{api_url} does not answer as GitHub's REST API (GET /meta: "
            f"{status}): check GITHUB_API_URL (GitHub Enterprise Server: "
            "https://HOST/api/v3); nothing was created"
        )
    return None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    head = f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{escape(title)}</title>'
    html = f"{head}<body><h1>{escape(title)}</h1>{body}</body></html>"
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _link(url: str) -> str:
    shown = escape(url)
    return f'<a href="{shown}">{shown}</a>' if url.startswith(("https://", "http://")) else shown


def _done_page(done: Registered, error: Exception | None = None) -> HTMLResponse:
    app, env, install = _link(done.html_url), escape(str(done.env_file)), done.html_url
    if error is not None:
        return _page(
            "Could not write the .env file",
            (
                f"<p>The App exists ({app}) but {env} could not be written ({escape(str(error))}). "
                "In the App's settings generate a private key and a webhook secret, and write the "
                ".env file by hand.</p>"
            ),
            500,
        )
    return _page(
        "sla-bot is registered",
        (
            f"<p>The App: {app}</p><p>Its id, private key and webhook secret are in {env}.</p>"
            "<p>Install it on your support repositories: "
            f"{_link(install + '/installations/new')}</p>"
        ),
    )


def build_register_app(
    manifest: Mapping[str, Any],
    *,
    github_web_url: str,
    api_url: str,
    env_file: Path,
    state: str,
    http: Session | None = None,
    on_done: Callable[[Registered], None] | None = None,
    org: str | None = None,
    force: bool = False,
) -> Starlette:
    """The local pages of the manifest flow: `/` posts the manifest, `/callback` converts."""
    target = new_app_url(github_web_url, state, org)
    form = (
        f"<p>Sending sla-bot's manifest to {escape(github_web_url)}; confirm there.</p>"
        f'<form method="post" action="{escape(target)}">'
        f'<input type="hidden" name="manifest" value="{escape(json.dumps(manifest))}">'
        '<button type="submit">Create the GitHub App</button></form>'
        "<script>document.forms[0].submit();</script>"
    )

    async def index(request: Request) -> HTMLResponse:
        return _page("Create the sla-bot GitHub App", form)

    async def callback(request: Request) -> HTMLResponse:
        given, code = request.query_params.get("state", ""), request.query_params.get("code", "")
        if not hmac.compare_digest(given.encode(), state.encode()) or not code:
            log.warning("register callback refused: wrong state or no code")
            return _page("Wrong state or no code", _START_OVER, 400)
        if not force and await anyio.to_thread.run_sync(env_file.exists):
            text = f"<p>{escape(str(env_file))} exists. Move it away, then reload this page.</p>"
            return _page("Not overwriting the .env file", text, 409)
        try:
            credentials = await convert(http or request.app.state.http, api_url, code)
            done = Registered(
                credentials["id"], credentials["slug"], credentials["html_url"], env_file
            )
        except ConversionError as exc:
            log.warning("register conversion failed", extra={"error": str(exc)})
            text = f"<p>{escape(str(exc))}</p>{_START_OVER}"
            return _page("GitHub did not hand over the credentials", text, 502)
        try:
            text = env_text(credentials, api_url)
            await anyio.to_thread.run_sync(lambda: write_env_file(env_file, text, force=force))
        except (OSError, ValueError) as exc:
            log.error("register could not write the env file", extra={"error": str(exc)})
            return _done_page(done, exc)
        log.info("github app registered", extra={"app_id": done.app_id, "slug": done.slug})
        response = _done_page(done)
        response.background = BackgroundTask(on_done, done) if on_done else None
        return response

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The code in the conversion's URL is a live credential for an hour: aiohttp logs
        # no request URLs, so it stays out of the log.
        app.state.http = Session(timeout=30.0, connect=10.0)
        try:
            yield
        finally:
            await app.state.http.aclose()

    return Starlette(
        routes=[Route("/", index), Route("/callback", callback)],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=[HOST, "localhost"])],
        lifespan=lifespan,
    )


def _web_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text!r}")
    return text.rstrip("/")


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Add `register`'s options to its subparser."""
    p.add_argument(
        "--webhook-url",
        required=True,
        type=_web_url,
        help="sla-bot's public webhook URL: https://HOST/webhooks/github",
    )
    p.add_argument("--org", help="create the App in this organisation instead of your account")
    p.add_argument(
        "--github-url",
        type=_web_url,
        default=GITHUB_WEB_URL,
        help="GitHub's web URL (GitHub Enterprise Server: https://HOST)",
    )
    p.add_argument("--name", default=NAME, help="the App's name (unique on GitHub)")
    p.add_argument("--port", type=int, default=3000, help="local port for the browser pages")
    p.add_argument("--env-file", type=Path, default=Path(".env"), help="written with mode 0600")
    p.add_argument("--force", action="store_true", help="replace an existing --env-file")


def cmd_register(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the manifest flow on 127.0.0.1 until GitHub's code is converted; 0 once written."""
    env_file: Path = args.env_file
    if env_file.exists() and not args.force:
        print(f"sla-bot: {env_file} exists; move it away or pass --force", file=sys.stderr)
        return 1
    api_url = settings.github_api_url
    if args.github_url != GITHUB_WEB_URL and api_url == GITHUB_API_URL:
        api_url = f"{args.github_url}/api/v3"  # GitHub Enterprise Server's REST API
    # Before the browser creates an App whose credentials this command could not fetch.
    problem = anyio.run(reach, api_url)
    if problem is not None:
        print(f"sla-bot: {problem}", file=sys.stderr)
        return 1
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, args.port))  # bound before the manifest names its port
    except OSError as exc:
        sock.close()
        print(f"sla-bot: cannot listen on {HOST}:{args.port} ({exc.strerror})", file=sys.stderr)
        return 1
    local = f"http://{HOST}:{sock.getsockname()[1]}"
    done: list[Registered] = []

    def finish(registered: Registered) -> None:
        done.append(registered)
        server.should_exit = True

    manifest = build_manifest(
        webhook_url=args.webhook_url, redirect_url=f"{local}/callback", name=args.name
    )
    app = build_register_app(
        manifest,
        github_web_url=args.github_url,
        state=secrets.token_urlsafe(32),
        api_url=api_url,
        env_file=env_file,
        on_done=finish,
        org=args.org,
        force=args.force,
    )
    # No access log: the callback's query string holds the one-time code.
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, ws="none")
    server = uvicorn.Server(config)
    print(f"Open {local}/ in a browser on this machine to create the App (Ctrl-C to stop).")
    server.run(sockets=[sock])
    sock.close()
    if not done:
        print("sla-bot: stopped before GitHub created the App; nothing written", file=sys.stderr)
        return 1
    print(
        f"Created the GitHub App {done[0].slug} (id {done[0].app_id}): {done[0].html_url}\n"
        f"Wrote its id, private key and webhook secret to {env_file} (mode 0600).\n"
        f"Install it on your repositories: {done[0].html_url}/installations/new"
    )
    return 0
