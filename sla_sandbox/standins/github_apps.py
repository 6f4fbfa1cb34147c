"""FakeGitHub's App-level endpoints: /app, installations, tokens and manifest conversions."""

from __future__ import annotations

from collections.abc import Callable

from sla_sandbox.standins.github_auth import Credentials
from sla_sandbox.standins.github_http import Ctx, NotFound, Reply, page_of
from sla_sandbox.standins.github_model import iso
from sla_sandbox.standins.github_payloads import installation_json
from sla_sandbox.standins.github_state import GitHubWorld

AppHandler = Callable[[GitHubWorld, Credentials, Ctx], Reply]


def get_meta(world: GitHubWorld, creds: Credentials, ctx: Ctx) -> Reply:
    """`GET /meta`: answered without credentials (`sla-bot register` asks it first)."""
    return Reply(200, {"verifiable_password_authentication": False, "hooks": ["127.0.0.1/32"]})


def get_app(world: GitHubWorld, creds: Credentials, ctx: Ctx) -> Reply:
    return Reply(200, world.app_json())


def list_installations(world: GitHubWorld, creds: Credentials, ctx: Ctx) -> Reply:
    found = [installation_json(world, i) for i in world._installations]
    chunk, headers = page_of(found, ctx.query, ctx.url)
    return Reply(200, chunk, headers)


def repo_installation(world: GitHubWorld, creds: Credentials, ctx: Ctx) -> Reply:
    """`GET /repos/{owner}/{repo}/installation`: which installation covers a repo."""
    repo = world._repos.get(f"{ctx.params['owner']}/{ctx.params['repo']}".lower())
    if repo is None:
        raise NotFound
    return Reply(200, installation_json(world, repo.installation_id))


def create_token(world: GitHubWorld, creds: Credentials, ctx: Ctx) -> Reply:
    installation_id = int(ctx.params["id"])
    if installation_id not in world._installations:
        raise NotFound
    token, expires = creds.issue(installation_id)
    asked = ctx.body.get("permissions") if isinstance(ctx.body, dict) else None
    permissions = asked if isinstance(asked, dict) else dict(world.permissions)
    data = {"token": token, "expires_at": iso(expires), "permissions": permissions}
    return Reply(201, {**data, "repository_selection": "selected"})


def installation_repos(world: GitHubWorld, creds: Credentials, ctx: Ctx) -> Reply:
    mine = [r for r in world._repos.values() if r.installation_id == ctx.caller.installation_id]
    chunk, headers = page_of([r.json(world.api) for r in mine], ctx.query, ctx.url)
    data = {"total_count": len(mine), "repository_selection": "selected"}
    return Reply(200, {**data, "repositories": chunk}, headers)


def convert_manifest(world: GitHubWorld, creds: Credentials, ctx: Ctx) -> Reply:
    """`POST /app-manifests/{code}/conversions` (no auth): a code works once."""
    found = creds.redeem(ctx.params["code"])
    if found is None:
        raise NotFound
    secret, pem = found
    client = {"client_id": f"Iv1.{world.app_number:016x}", "client_secret": "fake-client-secret"}
    return Reply(201, {**world.app_json(), **client, "webhook_secret": secret, "pem": pem})


# (method, path regex, credential required: "jwt", "token" or "none", handler)
APP_ROUTES: list[tuple[str, str, str, AppHandler]] = [
    ("GET", r"/meta", "none", get_meta),
    ("GET", r"/app", "jwt", get_app),
    ("GET", r"/app/installations", "jwt", list_installations),
    ("POST", r"/app/installations/(?P<id>\d+)/access_tokens", "jwt", create_token),
    ("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/installation", "jwt", repo_installation),
    ("GET", r"/installation/repositories", "token", installation_repos),
    ("POST", r"/app-manifests/(?P<code>[^/]+)/conversions", "none", convert_manifest),
]
