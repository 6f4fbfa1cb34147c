"""FakeGitHub: a stateful GitHub REST API on loopback, for tests and `sla-bot demo`."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import cache, partial
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sla_sandbox.standins.github_apps import APP_ROUTES
from sla_sandbox.standins.github_auth import Caller, Credentials, PublicKey, granted
from sla_sandbox.standins.github_deliveries import DeliveryLog
from sla_sandbox.standins.github_http import (
    Ctx,
    Fault,
    Gone,
    IncomingRequest,
    NotFound,
    RateLimits,
    RecordedCall,
    Reply,
    encode,
    error,
    etag,
    etag_matches,
    not_found,
    respond,
)
from sla_sandbox.standins.github_model import DOCS, JSONDict
from sla_sandbox.standins.github_oauth import OAuthFlow
from sla_sandbox.standins.github_payloads import build_payload
from sla_sandbox.standins.github_routes import REPO_ROUTES
from sla_sandbox.standins.github_state import GitHubWorld
from sla_sandbox.standins.server import LoopbackServer

Permission = tuple[str, str] | None
Intercept = Callable[[Request, Callable[[], Awaitable[Response]]], Awaitable[Response]]
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_NOT_APP = "A JSON web token could not be decoded"
_NO_ACCESS = "Resource not accessible by integration"


@cache
def _app_key() -> rsa.RSAPrivateKey:
    """The App's key pair for every stand-in made without one in this process: making a
    2048-bit key costs about 70 ms of CPU, and the tests make hundreds of stand-ins."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeGitHub(GitHubWorld):
    """GitHub as sla-bot sees it: App JWT and tokens verified, rate limits, ETags, faults.

    Without `public_key` it uses the key pair made once per process for stand-ins, and its
    private half is `private_key_pem`.
    Issue, comment and token times follow `time`; JWT checks and `x-ratelimit-reset` use
    real time, as sla-bot signs JWTs and computes waits with the real time.
    """

    def __init__(
        self,
        app_id: str = "123456",
        public_key: PublicKey | None = None,
        *,
        time: Callable[[], datetime] | None = None,
        slug: str = "sla-bot",
        name: str = "SLA Bot",
        rate_limit: int = 5000,
        permissions: dict[str, str] | None = None,
        api_path: str = "",
    ) -> None:
        super().__init__(app_id=app_id, slug=slug, name=name, time=time, permissions=permissions)
        if public_key is None:
            public_key = _app_key()
        self._granted_at_start = dict(self.permissions)
        self._credentials = creds = Credentials(app_id, public_key, self.now)
        self.private_key_pem = creds.private_pem  # None when given only the public key
        self._rates = RateLimits(rate_limit, self.now)
        self._faults: list[Fault] = []
        self._calls: list[RecordedCall] = []
        self._server: LoopbackServer | None = None
        # GitHub Enterprise Server serves the REST API under /api/v3 (GITHUB_API_URL's path).
        self._api_path = api_path.rstrip("/")
        self._intercept: Intercept | None = None
        self.oauth = OAuthFlow(self)  # the App's user sign-in (OAuth web flow)
        self.hook_deliveries = log = DeliveryLog(self.now)
        self.add_hook_delivery = log.add
        deliveries: list[tuple[str, str, Callable[[Ctx], Reply]]] = [
            ("GET", r"/app/hook/deliveries", log.page),
            ("GET", r"/app/hook/deliveries/(?P<id>\d+)", log.get),
            ("POST", r"/app/hook/deliveries/(?P<id>\d+)/attempts", log.redeliver),
        ]
        self._routes: list[tuple[str, re.Pattern[str], str, Permission, Callable[[Ctx], Reply]]] = [
            *((m, re.compile(p), a, None, partial(h, self, creds)) for m, p, a, h in APP_ROUTES),
            *((m, re.compile(p), "jwt", None, h) for m, p, h in deliveries),
            *((m, re.compile(p), "token", perm, partial(h, self)) for m, p, perm, h in REPO_ROUTES),
        ]
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=_METHODS)])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def serve(self) -> LoopbackServer:
        """Start serving on loopback; stop the returned server (or use it in `with`)."""
        self._server = LoopbackServer(self).start()  # with TCP_NODELAY on its socket
        with self._lock:
            self.api = self.api_url  # URLs in responses and payloads point here
        return self._server

    @property
    def api_url(self) -> str:
        """sla-bot's GITHUB_API_URL."""
        if self._server is None:
            raise RuntimeError("FakeGitHub is not serving; call serve() first")
        return self._server.url + self._api_path

    # -- faults, credentials and recording --

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int = 502,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        json: JSONDict | None = None,
    ) -> None:
        """Answer the next `times` matching requests (method or "*"; regex searched in the
        decoded path) with `status`, before authentication, as GitHub's edge would."""
        body = json if json is not None else {"message": HTTPStatus(status).phrase}
        reply = Reply(status, {"documentation_url": DOCS, **body}, dict(headers or {}))
        with self._lock:
            self._faults.append(Fault(method.upper(), re.compile(path_pattern), reply, times))

    def intercept(self, handler: Intercept | None) -> None:
        """Let `handler` answer every request first: it gets the request and a call that
        returns the stand-in's own answer, and returns what is sent (tests script GitHub's
        failures this way: a 500, a 401, a rate limit). None: the stand-in alone."""
        with self._lock:
            self._intercept = handler

    def grant_token(
        self, installation_id: int, token: str, expires: datetime | None = None
    ) -> None:
        """Accept `token` for the installation as if this stand-in had issued it (for a
        token exchange a test scripted), until `expires` (default: GitHub's hour)."""
        with self._lock:
            self._credentials.grant(installation_id, token, expires)

    def manifest_code(self, webhook_secret: str = "fake-webhook-secret") -> str:
        """A one-time code for `POST /app-manifests/{code}/conversions` (`sla-bot register`)."""
        with self._lock:
            return self._credentials.manifest_code(webhook_secret)

    def expire_tokens(self, installation_id: int | None = None) -> None:
        """Make installation tokens already issued answer 401 Bad credentials."""
        with self._lock:
            self._credentials.expire(installation_id)

    @property
    def redeliveries(self) -> list[int]:
        """Delivery ids the App asked to redeliver (`POST .../attempts`), in order."""
        return self.hook_deliveries.redeliveries

    @property
    def calls(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str, path_regex: str) -> list[RecordedCall]:
        """Recorded calls with this method whose decoded path matches (re.search)."""
        pattern = re.compile(path_regex)
        return [c for c in self.calls if c.method == method.upper() and pattern.search(c.path)]

    @property
    def counted_calls(self) -> int:
        """Recorded calls that used primary rate limit (not 304s, faults or refusals)."""
        return sum(c.counted for c in self.calls)

    def rate_remaining(self, installation_id: int | None = None) -> int:
        """`x-ratelimit-remaining` for an installation's token, or for the App's JWT."""
        bucket = Caller("token" if installation_id else "jwt", installation_id).bucket
        with self._lock:
            return self._rates.remaining(bucket)

    def reset(self, *, time: Callable[[], datetime] | None = None) -> None:
        """Forget repos, issues, tokens, deliveries, calls, faults, rate use and permission
        changes (between tests sharing one served fake); `time` replaces the time function."""
        with self._lock:
            self._clear()
            self._time = time or self._time
            self.permissions = dict(self._granted_at_start)
            self._credentials.expire()
            self._rates = RateLimits(self._rates.limit, self.now)
            self._faults.clear()
            self._calls.clear()
            self.hook_deliveries.clear()

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- HTTP --

    async def _handle(self, request: Request) -> Response:
        intercept = self._intercept
        if intercept is not None:
            return await intercept(request, partial(self._own_answer, request))
        return await self._own_answer(request)

    async def _own_answer(self, request: Request) -> Response:
        raw = await request.body()
        raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        raw_path = raw_path.removeprefix(self._api_path)
        try:
            body, bad_json = (json.loads(raw) if raw else None), False
        except ValueError:
            body, bad_json = None, True
        req = IncomingRequest(
            method=request.method,
            raw_path=raw_path.split("?", 1)[0],
            path=request.url.path.removeprefix(self._api_path),
            query=dict(request.query_params),
            body=body,
            bad_json=bad_json,
            authorization=request.headers.get("authorization"),
            accept=request.headers.get("accept", ""),
            if_none_match=request.headers.get("if-none-match"),
            base=f"{request.url.scheme}://{request.url.netloc}{self._api_path}",
            user_agent=request.headers.get("user-agent", ""),
        )
        with self._lock:
            user = self.oauth.answer(req, raw, request.headers.get("content-type", ""))
            reply, counted = (user, True) if user is not None else self._answer(req)
            self._calls.append(
                RecordedCall(
                    req.method, req.path, req.query, body, req.authorization, reply.status, counted
                )
            )
            request_id = f"FAKE:{len(self._calls):08X}"
        return respond(reply, request_id)

    def _answer(self, req: IncomingRequest) -> tuple[Reply, bool]:
        caller = self._credentials.identify(req.authorization)
        bucket = caller.bucket
        for fault in self._faults:
            if fault.method in ("*", req.method) and fault.pattern.search(req.path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                headers = {**self._rates.headers(bucket), **fault.reply.headers}
                return Reply(fault.reply.status, fault.reply.body, headers), False
        if self._rates.remaining(bucket) == 0:
            who = f"installation ID {caller.installation_id}" if caller.installation_id else bucket
            reply = error(403, f"API rate limit exceeded for {who}.")
            return Reply(403, reply.body, self._rates.headers(bucket)), False
        reply = self._dispatch(req, caller)
        if req.method == "GET" and reply.status == 200:
            tag = etag(encode(reply.body), reply.headers.get("link", ""))
            reply.headers["etag"] = tag
            if etag_matches(req.if_none_match, tag):
                # "does not count against your primary rate limit if a 304 is returned"
                reply = Reply(304, None, {"etag": tag})
        counted = reply.status != 304
        if counted:
            self._rates.count(bucket)
        reply.headers.update(self._rates.headers(bucket))
        return reply, counted

    def _dispatch(self, req: IncomingRequest, caller: Caller) -> Reply:
        if not req.user_agent.strip():
            # "All API requests must include a valid User-Agent header. Requests with no
            # User-Agent header will be rejected." (GitHub's REST API docs)
            return error(403, "Request forbidden by administrative rules.")
        if caller.kind == "invalid":
            return error(401, caller.problem)
        if req.bad_json:
            return error(400, "Problems parsing JSON")
        for method, pattern, auth, perm, handler in self._routes:
            match = pattern.fullmatch(req.raw_path)
            if match is None or method != req.method:
                continue
            refusal = self._refusal(auth, perm, caller)
            if refusal is not None:
                return refusal
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            ctx = Ctx(params, req.query, req.body, caller, req.base + req.raw_path, req.accept)
            try:
                return handler(ctx)
            except NotFound:
                return not_found()
            except Gone:
                return error(410, "This issue was deleted")
        return not_found()

    def _refusal(self, auth: str, perm: tuple[str, str] | None, caller: Caller) -> Reply | None:
        """GitHub's answer when the credential does not fit the endpoint."""
        if auth == "jwt" and caller.kind != "jwt":
            return error(401, _NOT_APP)
        if auth == "token" and caller.kind == "none":
            return error(401, "Requires authentication")
        if auth == "token" and (caller.kind != "token" or not granted(self.permissions, perm)):
            return error(403, _NO_ACCESS)
        return None

    def payload(
        self, event: str, action: str, repo: str, n: int | None = None, **extra: Any
    ) -> JSONDict:
        """A webhook body for `event`/`action` built from the current state, e.g.
        `payload("issues", "labeled", "acme/support", 7, label="priority: urgent")`;
        `sender=` takes a login, `comment=` an id; other keys override top-level fields."""
        with self._lock:
            return build_payload(self, event, action, repo, n, extra)
