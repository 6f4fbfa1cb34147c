"""Webhooks: the signed receiver and one router per concern, composed here."""

from __future__ import annotations

from gidgethub.routing import Router

from app.slack_threads import gate
from app.webhooks import install, lifecycle, push, relabel, responses

# gate.router is the form intake (app.webhooks.intake) for every issue but those sla-bot
# opened for a Slack request.
router = Router(
    gate.router, relabel.router, responses.router, lifecycle.router, install.router, push.router
)
