"""FakeGitHub's OAuth web flow for the App's user sign-in, as GitHub documents it
(docs.github.com: "Generating a user access token for a GitHub App"):

- `GET /login/oauth/authorize?client_id&redirect_uri&state`: the person signed in on GitHub
  (`signed_in`) is sent back to `redirect_uri?code=…&state=…`; nobody signed in: 401 here.
- `POST /login/oauth/access_token` (client_id, client_secret, code, redirect_uri; JSON or
  form): `{"access_token": "ghu_…", "token_type": "bearer", "expires_in": 28800, …}`;
  a bad or used code is still HTTP 200, `{"error": "bad_verification_code", …}`.
- With `Authorization: Bearer ghu_…`: `GET /user`, and `GET /repos/{owner}/{repo}`, which a
  user-to-server token sees only where the person can read the repository and the App is
  installed (otherwise 404), with `permissions` for the person.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sla_sandbox.standins.github_http import IncomingRequest, Reply, error
from sla_sandbox.standins.github_state import GitHubWorld

CODE_TTL = timedelta(minutes=10)
TOKEN_TTL = timedelta(hours=8)
_REPO = re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)")
_READ = {"admin", "maintain", "write", "triage", "read"}


@dataclass
class _Code:
    login: str
    redirect_uri: str
    expires: datetime


class OAuthFlow:
    """The App's OAuth client and the people who sign in with it."""

    def __init__(self, world: GitHubWorld) -> None:
        self.world = world
        self.client_id = "Iv1." + secrets.token_hex(8)
        self.client_secret = secrets.token_hex(20)
        self.signed_in: str | None = None  # who the browser is signed in to GitHub as
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, tuple[str, datetime]] = {}

    def answer(self, req: IncomingRequest, raw: bytes, content_type: str) -> Reply | None:
        """GitHub's answer when `req` is part of the OAuth flow or made with a user token;
        None for everything else (the App's own calls)."""
        if req.raw_path == "/login/oauth/authorize" and req.method == "GET":
            return self._authorize(req.query)
        if req.raw_path == "/login/oauth/access_token" and req.method == "POST":
            return self._exchange({**req.query, **_form(raw, content_type)})
        _, _, token = (req.authorization or "").partition(" ")
        if not token.startswith("ghu_"):
            return None
        found = self._tokens.get(token.strip())
        if found is None or self.world.now() >= found[1]:
            return error(401, "Bad credentials")
        return self._as_user(req, found[0])

    def _authorize(self, query: dict[str, str]) -> Reply:
        if query.get("client_id") != self.client_id:
            return Reply(404, {"message": "Not Found"})
        if self.signed_in is None:
            return error(401, "Sign in to GitHub to continue")
        code = secrets.token_hex(10)
        redirect = query.get("redirect_uri", "")
        self._codes[code] = _Code(self.signed_in, redirect, self.world.now() + CODE_TTL)
        back = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        sep = "&" if "?" in redirect else "?"
        return Reply(302, None, {"location": f"{redirect}{sep}{urlencode(back)}"})

    def _exchange(self, data: dict[str, Any]) -> Reply:
        if (
            data.get("client_id") != self.client_id
            or data.get("client_secret") != self.client_secret
        ):
            return _error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            )
        code = self._codes.pop(str(data.get("code")), None)
        redirect = data.get("redirect_uri")
        if (
            code is None
            or self.world.now() >= code.expires
            or (redirect is not None and redirect != code.redirect_uri)
        ):
            return _error("bad_verification_code", "The code passed is incorrect or expired.")
        token = "ghu_" + secrets.token_hex(18)
        self._tokens[token] = (code.login, self.world.now() + TOKEN_TTL)
        return Reply(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "scope": "",
                "expires_in": int(TOKEN_TTL.total_seconds()),
                "refresh_token": "ghr_" + secrets.token_hex(30),
                "refresh_token_expires_in": 15811200,
            },
        )

    def _as_user(self, req: IncomingRequest, login: str) -> Reply:
        if req.method == "GET" and req.raw_path == "/user":
            return Reply(200, self.world._user(login))
        match = _REPO.fullmatch(req.raw_path)
        if req.method == "GET" and match is not None:
            repo = self.world._repos.get(f"{match['owner']}/{match['repo']}".lower())
            if repo is None:
                return Reply(404, {"message": "Not Found"})
            role = repo.roles.get(login.lower(), "none")
            if repo.private and role not in _READ:
                return Reply(404, {"message": "Not Found"})  # GitHub hides what you cannot see
            body = repo.json(self.world.api)
            body["permissions"] = {
                "admin": role == "admin",
                "maintain": role in ("admin", "maintain"),
                "push": role in ("admin", "maintain", "write"),
                "triage": role in ("admin", "maintain", "write", "triage"),
                "pull": role in _READ or not repo.private,
            }
            return Reply(200, body)
        return Reply(404, {"message": "Not Found"})


def _error(code: str, description: str) -> Reply:
    """GitHub answers a failed exchange with 200 and the error in the body."""
    return Reply(200, {"error": code, "error_description": description})


def _form(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return dict(parse_qsl(raw.decode("utf-8", "replace")))
