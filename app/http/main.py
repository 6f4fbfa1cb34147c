"""The FastAPI app factory: settings in, routes and lifespan-managed services out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import aiohttp
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from gidgethub import BadRequest, HTTPException
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.config import Settings
from app.github.app import GitHubApp
from app.http.board import http as board_routes
from app.http.interactions import http as slack_routes
from app.logs import failure
from app.metrics import CONTENT_TYPE
from app.phone.endpoint import http as phone_routes
from app.services import Services, build
from app.slack_threads.endpoint import http as slack_events
from app.store import schema_ready
from app.time_source import system_time
from app.webhooks import receiver

log = logging.getLogger(__name__)


class SlaBot(FastAPI):
    """FastAPI, with each delivery (POST /webhooks/github) handed straight to the receiver:
    it needs none of the middleware stack and routing every other request goes through."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == receiver.PATH and scope["method"] == "POST":
            scope["app"] = self
            await receiver.asgi(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    time: Callable[[], datetime] = system_time,
    services: Services | None = None,
    check_key: bool = False,
) -> FastAPI:
    """Build the app; services (store, clients, worker) live exactly as long as the app.
    `check_key`: ask GitHub at start whether it takes the App's key (`serve`)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = (
            services
            if services is not None
            else await asyncio.to_thread(build, settings, time=time)
        )
        app.state.services = built
        built.runner.start(settings.sla_sweep_interval, built.maintenance())
        built.runner.kick()  # deliveries stored before a crash are picked up at once
        # The receiver's load (event-loop lag), for the worker here or in its own process.
        watching = asyncio.create_task(built.scheduler.watch(), name="receiver-watch")
        checking = None
        if check_key and built.github is not None:  # beside the start, never delaying it
            checking = asyncio.create_task(check_app_key(built.github, settings.github_app_id))
        try:
            yield
        finally:
            watching.cancel()
            if checking is not None:
                checking.cancel()
            await built.aclose()

    # No OpenTelemetry here (Prometheus at /metrics): FastAPI's own would look for a tracer
    # provider on every request, a cost each delivery would pay (bench/RESULTS.md).
    off = TelemetryConfig(tracing=False, metrics=False, logs=False, operation_spans=False)
    app = SlaBot(title="sla-bot", lifespan=lifespan, docs_url=None, redoc_url=None, telemetry=off)
    # SlaBot takes POSTs ahead of the table; the route answers the other methods 405.
    app.router.routes.insert(0, Route(receiver.PATH, receiver.handle, methods=["POST"]))
    app.include_router(slack_routes)
    app.include_router(slack_events)
    app.include_router(board_routes)
    app.include_router(phone_routes)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> Response:
        built: Services = app.state.services
        try:
            body = await asyncio.to_thread(built.metrics.render)
        except Exception as exc:  # the store's counts: the database went away
            failure(log, "metrics not rendered", exc)
            return Response("the store is unavailable\n", status_code=503)
        return Response(body, media_type=CONTENT_TYPE)

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        built: Services = app.state.services
        try:
            ready = await asyncio.to_thread(schema_ready, built.db.engine)
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "error": type(exc).__name__}, status_code=503
            )
        return JSONResponse(
            {"status": "ok" if ready else "no schema"}, status_code=200 if ready else 503
        )

    return app


async def check_app_key(github: GitHubApp, app_id: str | None) -> bool:
    """One line saying whether GitHub takes the App's key (`GET /app`); serving goes on
    either way: deliveries are stored and pages go out, GitHub writes wait in the outbox."""
    try:
        data = await github.identity()
    except BadRequest as exc:
        if exc.status_code != 401:
            failure(log, "GitHub: the App's key not checked", exc)
            return False
        log.error(
            "GitHub refused the App's key (401 %s): GITHUB_APP_ID (%s) and GITHUB_PRIVATE_KEY "
            "(or GITHUB_PRIVATE_KEY_PATH) must be the App's id and one of its keys (App "
            "settings, Private keys), and this machine's clock right; serving on: deliveries "
            "are stored and pages go out, labels and comments wait until it is fixed",
            exc,
            app_id,
        )
        return False
    except (HTTPException, aiohttp.ClientError, TimeoutError) as exc:
        failure(log, "GitHub: the App's key not checked", exc)
        return False
    log.info("GitHub: the App's key is accepted (app %s, %s)", data.get("id"), data.get("slug"))
    return True
