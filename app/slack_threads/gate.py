"""The form intake, except for the issues sla-bot opened for a Slack request: those are
classified, promised and clocked from the Slack message (app/slack_threads/send.py), not from
the issue's creation."""

from __future__ import annotations

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.slack_threads.text import from_slack
from app.webhooks import intake
from app.webhooks.context import Context

router = Router()


def opened_for_slack(data: dict[str, object]) -> bool:
    issue = data.get("issue")
    if not isinstance(issue, dict):
        return False
    user = issue.get("user") if isinstance(issue.get("user"), dict) else {}
    assert isinstance(user, dict)
    return user.get("type") == "Bot" and from_slack(str(issue.get("body") or ""))


@router.register("issues", action="opened")
async def on_opened(event: Event, ctx: Context) -> None:
    if opened_for_slack(event.data):
        return
    await intake.on_opened(event, ctx)
