"""The form intake, except for the issues sla-bot opened itself, for a Slack request or a call
to the escalation number: those are classified, promised and clocked from the message or the
call (app/slack_threads/send.py, app/phone/calls.py), not from the issue's creation, and the
customer is told there, not by an intake comment greeting sla-bot."""

from __future__ import annotations

from collections.abc import Callable

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.slack_threads.text import from_slack
from app.store import effects
from app.webhooks import intake
from app.webhooks.context import Context

router = Router()
CALL_MARKER = effects.marker("call:").removesuffix(
    " -->"
)  # app/phone/call_issue.py marks its issues


def _opened_by_sla_bot(data: dict[str, object], marked: Callable[[str], bool]) -> bool:
    """An issue a bot opened whose body carries sla-bot's mark of that channel."""
    issue = data.get("issue")
    if not isinstance(issue, dict):
        return False
    user = issue.get("user")
    return (
        isinstance(user, dict)
        and user.get("type") == "Bot"
        and marked(str(issue.get("body") or ""))
    )


def opened_for_slack(data: dict[str, object]) -> bool:
    return _opened_by_sla_bot(data, from_slack)


def opened_for_a_call(data: dict[str, object]) -> bool:
    return _opened_by_sla_bot(data, lambda body: CALL_MARKER in body)


@router.register("issues", action="opened")
async def on_opened(event: Event, ctx: Context) -> None:
    if opened_for_slack(event.data) or opened_for_a_call(event.data):
        return
    await intake.on_opened(event, ctx)
