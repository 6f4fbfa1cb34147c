"""The ceiling on this stack: a bare FastAPI route that verifies the signature, answers 202.

Served by uvicorn in a subprocess exactly as `sla-bot serve` is (uvloop, httptools, no
access log): `python -m uvicorn bench.ceiling:app`. The secret comes from
GITHUB_WEBHOOK_SECRET, read once when the app is built.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from gidgethub import ValidationFailure
from gidgethub.sansio import validate_event


def create_app(secret: str) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/webhooks/github", status_code=202)
    async def receive(request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get("x-hub-signature-256")
        if not signature:
            return JSONResponse({"detail": "missing X-Hub-Signature-256"}, status_code=401)
        try:
            validate_event(body, signature=signature, secret=secret)
        except ValidationFailure:
            return JSONResponse({"detail": "signature does not match"}, status_code=401)
        delivery = request.headers.get("x-github-delivery")
        return JSONResponse({"detail": "accepted", "delivery": delivery}, status_code=202)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn bench.ceiling:app` builds the app on first access, not at import.
    if name == "app":
        return create_app(os.environ["GITHUB_WEBHOOK_SECRET"])
    raise AttributeError(name)
