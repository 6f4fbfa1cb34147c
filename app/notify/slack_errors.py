"""What a failed Slack call reports: Slack's error code, the HTTP status and Retry-After. Whether
a retry can help is decided by Slack's table in app/engine/failures.py, from these facts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Error codes that retrying cannot change: configuration, permissions, a malformed message, or
# a thing that is gone. Anything else (internal_error, fatal_error, request_timeout, unknown
# codes) is retried.
# https://docs.slack.dev/reference/methods/chat.postMessage#errors
PERMANENT_ERRORS = frozenset(
    {
        "access_denied",
        "account_inactive",
        "already_reacted",
        "channel_not_found",
        "ekm_access_denied",
        "invalid_arguments",
        "invalid_auth",
        "invalid_blocks",
        "invalid_blocks_format",
        "is_archived",
        "message_not_found",
        "missing_scope",
        "msg_blocks_too_long",
        "msg_too_long",
        "no_permission",
        "no_text",
        "not_allowed_token_type",
        "not_authed",
        "not_in_channel",
        "org_login_required",
        "restricted_action",
        "team_access_not_granted",
        "thread_not_found",
        "token_expired",
        "token_revoked",
        "too_many_attachments",
        "user_not_found",
        "users_not_found",
    }
)


class NotifyError(Exception):
    """A Slack call that failed: Slack's `error` code, the HTTP `status` and its Retry-After
    (all None when Slack could not be reached)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        error: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.error = error
        self.status = status


def retry_after(headers: Mapping[str, Any]) -> float | None:
    """Slack's Retry-After in seconds, if it named one."""
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None  # an HTTP-date; Slack sends seconds
    return None
