"""FakeSlack's shortcuts and modals, as Slack's docs describe them: a message shortcut's
`message_action` payload with a trigger_id good once and for 3 seconds, `views.open` checking
the modal against Block Kit's limits, and the `view_submission` payload of the answers chosen
(only among the options the modal offered).

https://docs.slack.dev/reference/interaction-payloads/shortcuts-interaction-payload
https://docs.slack.dev/reference/methods/views.open
https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

TRIGGER_LIFE = timedelta(seconds=3)


def trigger_id() -> str:
    return f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"


def message_action(
    *,
    team: str,
    channel: str,
    message: dict[str, Any],
    user: str,
    callback_id: str,
    trigger: str,
    response_url: str,
) -> dict[str, Any]:
    """The payload Slack posts to the Request URL when `user` runs a message shortcut."""
    return {
        "type": "message_action",
        "token": "unused",
        "action_ts": message["ts"],
        "team": {"id": team, "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
        "channel": {"id": channel, "name": channel.lower()},
        "callback_id": callback_id,
        "trigger_id": trigger,
        "message_ts": message["ts"],
        "message": message,
        "response_url": response_url,
    }


def check_view(view: Any) -> str | None:
    """Slack's error for a modal it would refuse, or None."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        return "invalid_arguments"
    title = view.get("title") or {}
    if title.get("type") != "plain_text" or not 0 < len(title.get("text") or "") <= 24:
        return "invalid_arguments"
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > 100:
        return "invalid_arguments"
    inputs = [b for b in blocks if isinstance(b, dict) and b.get("type") == "input"]
    if inputs and not view.get("submit"):
        return "invalid_arguments"  # a modal with inputs needs a submit button
    if len(str(view.get("private_metadata") or "")) > 3000:
        return "invalid_arguments"
    if len(str(view.get("callback_id") or "")) > 255:
        return "invalid_arguments"
    for block in inputs:
        element = block.get("element") or {}
        if len((block.get("label") or {}).get("text") or "") > 2000 or not element:
            return "invalid_arguments"
        options = element.get("options")
        if element.get("type") == "static_select" and not _options_ok(options):
            return "invalid_arguments"
    return None


def _options_ok(options: Any) -> bool:
    return (
        isinstance(options, list)
        and 0 < len(options) <= 100
        and all(0 < len((o.get("text") or {}).get("text") or "") <= 75 for o in options)
    )


def trigger_problem(issued: datetime | None, used: bool, now: datetime) -> str | None:
    """Why Slack refuses a trigger_id: unknown, used already, or older than 3 seconds."""
    if issued is None:
        return "invalid_trigger_id"
    if used:
        return "exchanged_trigger_id"
    if now - issued > TRIGGER_LIFE:
        return "expired_trigger_id"
    return None


def view_submission(
    view: dict[str, Any], *, team: str, user: str, chosen: dict[str, str]
) -> dict[str, Any]:
    """The payload Slack posts when `user` submits `view` with these options chosen (block
    id -> option value); ValueError for a value the modal did not offer."""
    values: dict[str, Any] = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input" or block["block_id"] not in chosen:
            continue
        element = block["element"]
        offered = {o["value"]: o for o in element.get("options") or []}
        picked = offered.get(chosen[block["block_id"]])
        if picked is None:
            raise ValueError(f"{block['block_id']}: {chosen[block['block_id']]!r} is not offered")
        values[block["block_id"]] = {
            element["action_id"]: {"type": element["type"], "selected_option": picked}
        }
    state_view = {**view, "state": {"values": values}}
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
        "api_app_id": "A0SLABOT",
        "token": "unused",
        "trigger_id": trigger_id(),
        "view": state_view,
    }
