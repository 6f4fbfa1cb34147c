"""The form intake, except for the issues sla-bot opened itself, for a Slack request or a call
to the escalation number: those are classified, promised and clocked from the message or the
call (app/slack_threads/send.py, app/calls.py), not from the issue's creation, and the
customer is told there, not by an intake comment greeting sla-bot."""

from __future__ import annotations

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app import effects
from app.slack_threads.text import from_slack
from app.webhooks import intake
from app.webhooks.context import Context

router = Router()
CALL_MARKER = effects.marker("call:").removesuffix(" -->")  # app/call_issue.py marks its issues


def opened_for_slack(data: dict[str, object]) -> bool:
    issue = data.get("issue")
    if not isinstance(issue, dict):
        return False
    user = issue.get("user") if isinstance(issue.get("user"), dict) else {}
    assert isinstance(user, dict)
    return user.get("type") == "Bot" and from_slack(str(issue.get("body") or ""))


def opened_for_a_call(data: dict[str, object]) -> bool:
    issue = data.get("issue")
    if not isinstance(issue, dict):
        return False
    user = issue.get("user") if isinstance(issue.get("user"), dict) else {}
    assert isinstance(user, dict)
    return user.get("type") == "Bot" and CALL_MARKER in str(issue.get("body") or "")


@router.register("issues", action="opened")
async def on_opened(event: Event, ctx: Context) -> None:
    if opened_for_slack(event.data) or opened_for_a_call(event.data):
        return
    await intake.on_opened(event, ctx)
