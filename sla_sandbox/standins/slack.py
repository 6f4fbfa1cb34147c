"""A local Slack Web API stand-in: records chat calls and answers like Slack, faults on demand."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.time_source import system_time
from sla_sandbox.standins import slack_views as views
from sla_sandbox.standins.server import LoopbackServer

FAKE_TOKEN = "xoxb-fake-slack-token"
FAKE_TEAM = "T0"
_JSON_FIELDS = ("blocks", "attachments", "metadata", "view")  # JSON-encoded strings in form posts


@dataclass(frozen=True)
class RecordedCall:
    """One request as received, faulted or not."""

    method: str
    token: str | None
    body: dict[str, Any]


@dataclass(frozen=True)
class RecordedMessage:
    """A message as it stands in the fake workspace (after any chat.update).

    `channel` is as the sender named it ("#support"); `channel_id` is Slack's id for it.
    """

    channel: str
    text: str | None
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None
    ts: str
    channel_id: str = ""
    metadata: dict[str, Any] | None = None
    user: str | None = None  # a person's message (None: the bot's)
    reactions: tuple[str, ...] = ()


def channel_id(channel: str) -> str:
    """A stable Slack-shaped id for a channel name (ids are passed through)."""
    if channel.startswith(("C", "G", "D")) and channel[1:].isalnum() and channel.isupper():
        return channel
    digest = hashlib.sha256(channel.lstrip("#").encode()).hexdigest()[:8].upper()
    return f"C0{digest}"


class _BadRequest(Exception):
    pass


class FakeSlack:
    """Slack's `chat.postMessage`, `chat.update`, `conversations.history`, `.replies` and
    `.list`, `auth.test`, `usergroups.users.list` and `users.info` for tests and `sla-bot
    demo`; thread-safe. The workspace is `team_id`; its users and user groups are the ones
    added (`add_user`, `add_group`); an interaction's `response_url` is `response_url`.

    Faults queue up and each answers one request, whatever its method; `accept_then_stall`
    posts the message and then keeps the sender waiting (an answer lost on the way).
    """

    def __init__(
        self,
        token: str | None = FAKE_TOKEN,
        *,
        time: Callable[[], datetime] | None = None,
        team_id: str = FAKE_TEAM,
    ) -> None:
        self.token = token  # None accepts any token
        self.team_id = team_id
        self._users: dict[str, dict[str, Any]] = {}
        self._groups: dict[str, list[str]] = {}
        self._responses: list[dict[str, Any]] = []
        # A message's ts is its time, as in Slack (`oldest` filters on it): this time function's.
        self._time = time or system_time
        self._lock = threading.Lock()
        self._calls: list[RecordedCall] = []
        self._messages: list[RecordedMessage] = []
        self._faults: deque[Response | float] = deque()
        self._next_ts = 100
        self._triggers: dict[str, tuple[datetime, bool]] = {}  # trigger_id -> (issued, used)
        self.views: list[dict[str, Any]] = []  # the modals opened, in order
        self._server: LoopbackServer | None = None
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._handle, methods=["GET", "POST"]),
                Route("/actions/{rest:path}", self._respond, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def serve(self) -> LoopbackServer:
        """Start serving on loopback; stop the returned server (or use it in `with`)."""
        self._server = LoopbackServer(self).start()
        return self._server

    @property
    def api_url(self) -> str:
        """What to pass as the Slack client's `base_url`."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not serving; call serve() first")
        return self._server.url + "/api/"

    @property
    def response_url(self) -> str:
        """Where an interaction's answer goes (Slack's is on hooks.slack.com)."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not serving; call serve() first")
        return f"{self._server.url}/actions/{self.team_id}/1/fake"

    @property
    def responses(self) -> list[dict[str, Any]]:
        """What was posted to `response_url` (ephemeral answers to a click)."""
        with self._lock:
            return list(self._responses)

    def add_user(
        self,
        user_id: str,
        name: str | None = None,
        team_id: str | None = None,
        *,
        guest: bool = False,
        stranger: bool = False,
    ) -> None:
        """A user `users.info` knows: a full member of `team_id` (default: the installing
        workspace) unless `guest` (a multi-channel guest, `is_restricted`), or of another team
        sharing a channel (Slack Connect: `is_stranger` when `stranger`)."""
        team = team_id or self.team_id
        shown = name or user_id.lower()
        with self._lock:
            self._users[user_id] = {
                "id": user_id,
                "team_id": team,
                "name": shown.lower(),
                "real_name": shown,
                "deleted": False,
                "is_bot": False,
                "is_restricted": guest,
                "is_ultra_restricted": False,
                "is_stranger": stranger,
                "profile": {"display_name": shown, "real_name": shown, "team": team},
            }

    def add_group(self, group_id: str, members: list[str]) -> None:
        with self._lock:
            self._groups[group_id] = list(members)

    @property
    def calls(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._calls)

    @property
    def messages(self) -> list[RecordedMessage]:
        with self._lock:
            return list(self._messages)

    def reset(self, *, time: Callable[[], datetime] | None = None) -> None:
        """Forget calls, messages and pending faults (between tests); `time` replaces the
        time function that stamps messages."""
        with self._lock:
            self._time = time or self._time
            self._calls.clear()
            self._messages.clear()
            self._faults.clear()
            self._users.clear()
            self._groups.clear()
            self._responses.clear()
            self._triggers.clear()
            self.views.clear()
            self._next_ts = 100
            self._users.clear()

    def fail_next(self, status: int = 500, times: int = 1) -> None:
        """Answer the next requests with a non-JSON server error, as a load balancer would."""
        self._queue(times, lambda: PlainTextResponse("fake slack: injected failure", status))

    def rate_limit_next(self, retry_after: int = 0, times: int = 1) -> None:
        body = {"ok": False, "error": "ratelimited"}
        headers = {"Retry-After": str(retry_after)}
        self._queue(times, lambda: JSONResponse(body, 429, headers=headers))

    def accept_then_stall(self, seconds: float, times: int = 1) -> None:
        """Post the next messages, then answer only after `seconds` (after the client gave up:
        Slack took the message but the sender never learns it)."""
        with self._lock:
            self._faults.extend(seconds for _ in range(times))

    def error_next(self, error: str, times: int = 1) -> None:
        """Answer `ok: false` with this error code on HTTP 200, as Slack does."""
        self._queue(times, lambda: JSONResponse({"ok": False, "error": error}))

    def _queue(self, times: int, make: Callable[[], Response]) -> None:
        with self._lock:
            self._faults.extend(make() for _ in range(times))

    async def _handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        try:
            body = await _read_body(request)
        except _BadRequest as exc:
            return JSONResponse({"ok": False, "error": str(exc)})
        token = _token(request, body)
        stall = 0.0
        with self._lock:
            self._calls.append(RecordedCall(method, token, body))
            fault = self._faults.popleft() if self._faults else None
            if isinstance(fault, Response):
                return fault
            stall = fault or 0.0
            answer = self._answer(method, token, body)
        if stall:
            await asyncio.sleep(stall)
        return JSONResponse(answer)

    def _answer(self, method: str, token: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if token is None:
            return {"ok": False, "error": "not_authed"}
        if self.token is not None and token != self.token:
            return {"ok": False, "error": "invalid_auth"}
        handlers = {
            "chat.postMessage": self._post,
            "chat.update": self._update,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "conversations.list": self._list,
            "auth.test": self._auth_test,
            "usergroups.users.list": self._group_members,
            "users.info": self._user_info,
            "chat.getPermalink": self._permalink,
            "reactions.add": self._react,
            "views.open": self._open_view,
        }
        handler = handlers.get(method)
        return handler(body) if handler else {"ok": False, "error": "unknown_method"}

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        error = _check_message(body)
        if error:
            return {"ok": False, "error": error}
        ts = self._ts()
        message = RecordedMessage(
            channel=body["channel"],
            text=body.get("text"),
            blocks=body.get("blocks"),
            thread_ts=body.get("thread_ts"),
            ts=ts,
            channel_id=channel_id(body["channel"]),
            metadata=body.get("metadata") or None,
        )
        self._messages.append(message)
        return {"ok": True, "channel": message.channel_id, "ts": ts, "message": _shape(message)}

    # -- people in the workspace and in a shared channel (Slack Connect) --

    def say(self, channel: str, user: str, text: str, *, thread_ts: str | None = None) -> str:
        """A person posts in `channel` (a reply when `thread_ts`); returns the message's ts."""
        with self._lock:
            ts = self._ts()
            self._messages.append(
                RecordedMessage(
                    channel=channel,
                    text=text,
                    blocks=None,
                    thread_ts=thread_ts,
                    ts=ts,
                    channel_id=channel_id(channel),
                    user=user,
                )
            )
            return ts

    def delete(self, channel: str, ts: str) -> None:
        with self._lock:
            gone = self._find(channel, ts)
            self._messages = [m for m in self._messages if m is not gone]

    def edit(self, channel: str, ts: str, text: str) -> dict[str, Any]:
        """Its author edits a message; returns the `message` event with subtype
        `message_changed` Slack sends for it: the message as it is now under `message`
        (with `edited`), as it was under `previous_message`, and the edit's own `ts`.
        https://docs.slack.dev/reference/events/message/message_changed"""
        with self._lock:
            before = self._find(channel, ts)
            if before is None:
                raise KeyError(f"no message {ts} in {channel}")
            after = replace(before, text=text)
            self._messages = [after if m is before else m for m in self._messages]
            at = self._ts()
        changed = {**_shape(after, metadata=False), "edited": {"user": after.user, "ts": at}}
        return {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": after.channel_id,
            "ts": at,
            "event_ts": at,
            "message": changed,
            "previous_message": _shape(before, metadata=False),
        }

    def remove(self, channel: str, ts: str) -> dict[str, Any]:
        """Its author deletes a message; returns the `message_deleted` event Slack sends.
        https://docs.slack.dev/reference/events/message/message_deleted"""
        with self._lock:
            gone = self._find(channel, ts)
            if gone is None:
                raise KeyError(f"no message {ts} in {channel}")
            self._messages = [m for m in self._messages if m is not gone]
            at = self._ts()
        return {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "channel": gone.channel_id,
            "ts": at,
            "event_ts": at,
            "deleted_ts": gone.ts,
            "previous_message": _shape(gone, metadata=False),
        }

    def shortcut(
        self, channel: str, ts: str, user: str, callback_id: str = "sla_open_request"
    ) -> dict[str, Any]:
        """`user` runs a message shortcut on a message: the `message_action` payload Slack
        posts, whose trigger_id opens one modal within 3 seconds."""
        with self._lock:
            found = self._find(channel, ts)
            if found is None:
                raise KeyError(f"no message {ts} in {channel}")
            trigger = views.trigger_id()
            self._triggers[trigger] = (self._time(), False)
        return views.message_action(
            team=self.team_id,
            channel=found.channel_id,
            message=_shape(found, metadata=False),
            user=user,
            callback_id=callback_id,
            trigger=trigger,
            response_url=self.response_url,
        )

    def submit(self, view: dict[str, Any], user: str, chosen: dict[str, str]) -> dict[str, Any]:
        """`user` submits an opened modal with these options chosen: `view_submission`."""
        return views.view_submission(view, team=self.team_id, user=user, chosen=chosen)

    def _open_view(self, body: dict[str, Any]) -> dict[str, Any]:
        trigger = str(body.get("trigger_id") or "")
        issued, used = self._triggers.get(trigger, (None, False))
        problem = views.trigger_problem(issued, used, self._time()) or views.check_view(
            body.get("view")
        )
        if problem is not None:
            return {"ok": False, "error": problem}
        self._triggers[trigger] = (issued or self._time(), True)
        view = {**body["view"], "id": f"V{len(self.views) + 1:08d}", "team_id": self.team_id}
        self.views.append(view)
        return {"ok": True, "view": view}

    def message(self, channel: str, ts: str) -> RecordedMessage | None:
        with self._lock:
            return self._find(channel, ts)

    def _find(self, channel: str, ts: str) -> RecordedMessage | None:
        return next(
            (m for m in self._messages if m.channel_id == channel_id(channel) and m.ts == ts), None
        )

    def _ts(self) -> str:
        ts = f"{int(self._time().timestamp())}.{self._next_ts:06d}"
        self._next_ts += 1
        return ts

    def _permalink(self, body: dict[str, Any]) -> dict[str, Any]:
        found = self._find(str(body.get("channel") or ""), str(body.get("message_ts") or ""))
        if found is None:
            return {"ok": False, "error": "message_not_found"}
        link = f"https://fake.slack.test/archives/{found.channel_id}/p{found.ts.replace('.', '')}"
        if found.thread_ts:
            link += f"?thread_ts={found.thread_ts}&cid={found.channel_id}"
        return {"ok": True, "channel": found.channel_id, "permalink": link}

    def _react(self, body: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(body.get("channel") or ""), str(body.get("timestamp") or "")
        name = str(body.get("name") or "")
        for i, old in enumerate(self._messages):
            if old.channel_id == channel_id(channel) and old.ts == ts:
                if name in old.reactions:
                    return {"ok": False, "error": "already_reacted"}
                self._messages[i] = replace(old, reactions=(*old.reactions, name))
                return {"ok": True}
        return {"ok": False, "error": "message_not_found"}

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        error = _check_message(body)
        if error:
            return {"ok": False, "error": error}
        for i, old in enumerate(self._messages):
            if old.channel_id == channel_id(body["channel"]) and old.ts == body.get("ts"):
                new = replace(old, text=body.get("text"), blocks=body.get("blocks"))
                self._messages[i] = new
                reply = {"ok": True, "channel": new.channel_id, "ts": new.ts, "text": new.text}
                return {**reply, "message": _shape(new)}
        return {"ok": False, "error": "message_not_found"}

    def _in_channel(self, body: dict[str, Any]) -> list[RecordedMessage] | None:
        wanted = str(body.get("channel") or "")
        if not wanted.startswith("C"):
            return None  # history takes an id, never a name
        oldest = float(body.get("oldest") or 0)
        return [m for m in self._messages if m.channel_id == wanted and float(m.ts) > oldest]

    def _history(self, body: dict[str, Any]) -> dict[str, Any]:
        found = self._in_channel(body)
        if found is None:
            return {"ok": False, "error": "channel_not_found"}
        top = [m for m in found if not m.thread_ts]  # replies live in their thread only
        return self._page(body, sorted(top, key=lambda m: m.ts, reverse=True))

    def _replies(self, body: dict[str, Any]) -> dict[str, Any]:
        found = self._in_channel(body)
        if found is None:
            return {"ok": False, "error": "channel_not_found"}
        thread = [m for m in found if body.get("ts") in (m.ts, m.thread_ts)]
        return self._page(body, sorted(thread, key=lambda m: m.ts))

    def _page(self, body: dict[str, Any], found: list[RecordedMessage]) -> dict[str, Any]:
        """One page of messages; metadata only with `include_all_metadata`, as Slack does."""
        start, limit = int(body.get("cursor") or 0), int(body.get("limit") or 100)
        metadata = str(body.get("include_all_metadata")).lower() in ("true", "1")
        page = [_shape(m, metadata) for m in found[start : start + limit]]
        more = start + limit < len(found)
        meta = {"next_cursor": str(start + limit) if more else ""}
        return {"ok": True, "messages": page, "has_more": more, "response_metadata": meta}

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake workspace",
            "user": "sla-bot",
            "team_id": self.team_id,
            "user_id": "U0SLABOT",
            "bot_id": "B0FAKESLACK",
            "is_enterprise_install": False,
        }

    def _group_members(self, body: dict[str, Any]) -> dict[str, Any]:
        group = str(body.get("usergroup") or "")
        if not group:
            return {"ok": False, "error": "invalid_arguments"}
        if group not in self._groups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self._groups[group])}

    def _user_info(self, body: dict[str, Any]) -> dict[str, Any]:
        found = self._users.get(str(body.get("user") or ""))
        return (
            {"ok": True, "user": dict(found)} if found else {"ok": False, "error": "user_not_found"}
        )

    async def _respond(self, request: Request) -> Response:
        try:
            answer = json.loads(await request.body())
        except ValueError:
            return PlainTextResponse("invalid_payload", 400)
        with self._lock:
            self._responses.append(answer)
        return PlainTextResponse("ok")

    def _list(self, body: dict[str, Any]) -> dict[str, Any]:
        names = sorted({m.channel.lstrip("#") for m in self._messages if m.channel[0] == "#"})
        channels = [{"id": channel_id(n), "name": n, "is_archived": False} for n in names]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}


async def _read_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise _BadRequest("invalid_json") from None
        if not isinstance(data, dict):
            raise _BadRequest("invalid_json")
        return data
    form: dict[str, Any] = dict(request.query_params)
    form.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    for key in _JSON_FIELDS:
        if isinstance(form.get(key), str):
            try:
                form[key] = json.loads(form[key])
            except ValueError:
                raise _BadRequest(f"invalid_{key}") from None
    return form


def _token(request: Request, body: dict[str, Any]) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    token = body.get("token")
    return token if isinstance(token, str) and token else None


def _check_message(body: dict[str, Any]) -> str | None:
    """The checks real Slack makes that a buggy sender could trip (docs.slack.dev)."""
    if not body.get("channel"):
        return "channel_not_found"
    if not body.get("text") and not body.get("blocks"):
        return "no_text"
    if len(body.get("text") or "") > 40_000:
        return "msg_too_long"
    blocks = body.get("blocks") or []
    if not isinstance(blocks, list) or len(blocks) > 50 or not all(map(_block_ok, blocks)):
        return "invalid_blocks"
    return None


def _block_ok(block: Any) -> bool:
    if not isinstance(block, dict) or "type" not in block:
        return False
    text = (block.get("text") or {}).get("text", "")
    fields = block.get("fields") or []
    limit = 150 if block["type"] == "header" else 3000
    return (
        len(text) <= limit
        and len(fields) <= 10
        and all(len(f.get("text", "")) <= 2000 for f in fields)
    )


def _shape(message: RecordedMessage, metadata: bool = True) -> dict[str, Any]:
    shaped: dict[str, Any] = {"type": "message", "ts": message.ts}
    if message.user:
        shaped["user"] = message.user
    else:
        shaped["bot_id"] = "B0FAKESLACK"
    shaped.update(text=message.text or "", blocks=message.blocks or [])
    if message.thread_ts:
        shaped["thread_ts"] = message.thread_ts
    if metadata and message.metadata:
        shaped["metadata"] = message.metadata
    return shaped


def sign(secret: str, body: bytes, at: datetime) -> dict[str, str]:
    """The headers Slack signs a request with: v0 HMAC-SHA256 over `v0:{timestamp}:{body}`."""
    import hmac

    stamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": f"v0={digest.hexdigest()}",
        "content-type": "application/json",
    }


def event_callback(event: dict[str, Any], *, team: str, event_id: str, at: datetime) -> bytes:
    """An Events API request body as Slack sends it to the app installed in `team`."""
    return json.dumps(
        {
            "token": "unused",
            "team_id": team,
            "api_app_id": "A0SLABOT",
            "type": "event_callback",
            "event": event,
            "event_id": event_id,
            "event_time": int(at.timestamp()),
            "authorizations": [{"team_id": team, "user_id": "U0SLABOT", "is_bot": True}],
        }
    ).encode()
