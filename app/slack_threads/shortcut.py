"""A team member's message shortcut: a modal asks the form's questions (views.open with the
click's trigger_id, within its 3 s), and its submission opens the request for the message's
thread, classified by the same rules as a form. Production down is offered only when the
policy says so (`intake.slack.production_down`). Slack Connect shares no shortcuts with
external members: they react or mention instead.

https://docs.slack.dev/interactivity/implementing-shortcuts
https://docs.slack.dev/surfaces/modals (view_submission, response_action errors)
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse

from app.notify.slack import NotifyError
from app.sla.classifier.classify import Scope, classify
from app.sla.domain import Priority, RequestType
from app.sla.policy import Policy
from app.sla.triage import vocabulary
from app.slack_threads import channels, handlers
from app.slack_threads.api import SlackApi
from app.store import slack

log = logging.getLogger(__name__)
CALLBACK = "sla_open_request"  # the message shortcut's callback_id (slack-app-manifest.yml)
VIEW = "sla_request_form"
# The Problem form's answers to "End users affected" (.github/ISSUE_TEMPLATE/problem.yml).
AUDIENCES = ("Only me or my team", "A few (up to 10)", "Many (more than 10)", "All end users")
NOT_TEAM = (
    "Only members of the support team can open a request this way: react to the message "
    "with :{emoji}: instead."
)


def _text(words: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": words[:75]}


def _select(block: str, label: str, options: list[tuple[str, str]], optional: bool) -> Any:
    element = {
        "type": "static_select",
        "action_id": block,
        "options": [{"text": _text(text), "value": value} for value, text in options],
    }
    return {
        "type": "input",
        "block_id": block,
        "optional": optional,
        "label": _text(label),
        "element": element,
    }


def form(policy: Policy, repo: str, where: dict[str, str], author: str) -> dict[str, Any]:
    """The modal: the request type, the priority (Production down only where the policy
    allows it) and, for the scope rule, how many end users are affected."""
    priorities = [
        (str(p), policy.name_of(p))
        for p in policy.priorities
        if not policy.pages(p) or policy.intake.slack.production_down
    ]
    kinds = [(str(t), policy.type_name(t)) for t in policy.types]
    intro = f"Opens a GitHub issue in *{repo}* for this message by <@{author}>."
    return {
        "type": "modal",
        "callback_id": VIEW,
        "title": _text("Open a request"),
        "submit": _text("Open"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps(where),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": intro}},
            _select("type", "Request type", kinds, optional=False),
            _select("priority", "Priority", priorities, optional=False),
            _select(
                "audience",
                policy.production_down_scope.field,
                list(zip(AUDIENCES, AUDIENCES, strict=True)),
                optional=True,
            ),
        ],
    }


def notice(words: str) -> dict[str, Any]:
    """A modal that only tells (no submit button)."""
    return {
        "type": "modal",
        "title": _text("Open a request"),
        "close": _text("Close"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": words}}],
    }


async def handle(services: Any, payload: dict[str, Any]) -> Response:
    """The shortcut's click and the modal's submission; any other interaction: nothing."""
    kind = payload.get("type")
    if kind == "message_action" and payload.get("callback_id") == CALLBACK:
        return await _clicked(services, payload)
    view = payload.get("view")
    if kind == "view_submission" and isinstance(view, dict) and view.get("callback_id") == VIEW:
        return await _submitted(services, payload, view)
    return Response(status_code=200)


async def _team_member(services: Any, user: str) -> bool:
    """A full member of the workspace sla-bot is installed in (not a guest, not external)."""
    team = await services.directory.team_id()
    member = await services.directory.member(user)
    return member.team_id == team and not member.guest and not member.stranger


async def _clicked(services: Any, payload: dict[str, Any]) -> Response:
    token = services.settings.slack_token()
    channel = str((payload.get("channel") or {}).get("id") or "")
    message = payload.get("message") or {}
    ts = str(message.get("ts") or "")
    trigger = str(payload.get("trigger_id") or "")
    if token is None or not (channel and ts and trigger):
        return Response(status_code=200)
    where = {"channel": channel, "ts": ts, "thread_ts": str(message.get("thread_ts") or ts)}
    try:
        view = await _view(services, payload, where, str(message.get("user") or ""))
        await SlackApi(token, services.settings.slack_api_url).open_view(trigger, view)
    except NotifyError as exc:
        log.warning("shortcut's form not shown", extra={"error": exc.error or str(exc)})
    return Response(status_code=200)


async def _view(
    services: Any, payload: dict[str, Any], where: dict[str, str], author: str
) -> dict[str, Any]:
    owner = await services.db.run(channels.resolve, where["channel"], services.policies.fallback)
    if owner is None:
        return notice("No repository takes this channel's requests (`intake.slack.channels`).")
    policy = await services.policies.get(owner.installation_id, owner.repo)
    user = str((payload.get("user") or {}).get("id") or "")
    if not user or not await _team_member(services, user):
        return notice(NOT_TEAM.format(emoji=policy.intake.slack.emoji))
    known = await services.db.run(slack.thread_at, where["channel"], where["thread_ts"])
    if known is not None and known.status not in (slack.GONE, slack.IGNORED):
        shown = (
            f"<{known.issue_url}|{owner.repo}#{known.issue_number}>"
            if known.issue_url
            else "being opened"
        )
        return notice(f"This thread is a request already: {shown}.")
    return form(policy, owner.repo, where, author)


def _chosen(view: dict[str, Any], block: str) -> str | None:
    values = ((view.get("state") or {}).get("values") or {}).get(block) or {}
    option = (values.get(block) or {}).get("selected_option") or {}
    value = option.get("value")
    return str(value) if value else None


def answers(policy: Policy, view: dict[str, Any]) -> dict[str, str] | str:
    """The request type and the priority the form's rules give the answers (the scope
    rule as for an issue form); a message for the modal when an answer is not allowed."""
    kind, asked = _chosen(view, "type"), _chosen(view, "priority")
    if kind not in {str(t) for t in policy.types} or asked not in {
        str(p) for p in policy.priorities
    }:
        return "Choose a request type and a priority."
    if policy.pages(Priority(asked)) and not policy.intake.slack.production_down:
        name = policy.name_of(Priority(asked))
        return f"{name} is opened from the issue form or the escalation number."
    rule = policy.production_down_scope
    audience = _chosen(view, "audience") or "_No response_"
    # The answers as an issue form renders them: the form's own classifier decides.
    body = f"### Priority\n\n{policy.name_of(Priority(asked))}\n\n### {rule.field}\n\n{audience}"
    found = classify(
        body,
        type_from_labels=RequestType(kind),
        default_priority=policy.default_priority,
        scope=Scope(field=rule.field, answers=rule.answers),
        vocabulary=vocabulary(policy),
    )
    return {"type": str(found.request_type), "priority": str(found.priority), "asked": asked}


async def _submitted(services: Any, payload: dict[str, Any], view: dict[str, Any]) -> Response:
    try:
        where = json.loads(str(view.get("private_metadata") or "{}"))
        channel, ts, thread_ts = where["channel"], where["ts"], where["thread_ts"]
    except (ValueError, KeyError, TypeError):
        return Response(status_code=200)
    owner = await services.db.run(channels.resolve, channel, services.policies.fallback)
    user = str((payload.get("user") or {}).get("id") or "")
    if owner is None or not user or not await _team_member(services, user):
        return Response(status_code=200)  # the click was checked; this is a forgery or a change
    policy = await services.policies.get(owner.installation_id, owner.repo)
    found = answers(policy, view)
    if isinstance(found, str):
        return JSONResponse({"response_action": "errors", "errors": {"priority": found}})
    team = str((payload.get("team") or {}).get("id") or "") or None
    now = services.time()
    await services.db.run(handlers.request, owner, channel, thread_ts, ts, team, now, found)
    services.runner.kick()
    return Response(status_code=200)
