"""Webhooks: the signed receiver and one router per concern, composed here."""

from __future__ import annotations

from gidgethub.routing import Router

from app.webhooks import install, intake, lifecycle, push, relabel, responses

router = Router(
    intake.router, relabel.router, responses.router, lifecycle.router, install.router, push.router
)
