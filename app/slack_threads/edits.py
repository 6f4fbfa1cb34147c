"""Edits and deletions in Slack, kept in step on GitHub: a reply edited in the thread edits
its issue comment, a reply deleted leaves the comment without its words; the request's own
message edited or deleted does the same to the issue's body. sla-bot's own posts never come
back (only messages people wrote, kept with their comment, are followed).

https://docs.slack.dev/reference/events/message/message_changed
https://docs.slack.dev/reference/events/message/message_deleted
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from app.engine.dispatch import Retry
from app.github import ops
from app.github.app import GitHubApp
from app.github.client import GitHubClient
from app.github.policies import PolicyLoader
from app.sla import keys
from app.sla.customers import customer_of
from app.sla.policy import Policy
from app.slack_threads import text
from app.slack_threads.api import SlackApi, display_name
from app.store import effects, outbox, slack
from app.store.database import Database
from app.store.effects import EffectKind
from app.store.outbox import Item
from app.store.tables import outbox as outbox_table

DELETED = "*(deleted in Slack by its author)*"


def organisation(repo: str, policy: Policy) -> str | None:
    """The customer's name for a requester from another workspace (the policy's customers)."""
    key = customer_of(repo, (), policy.customers)
    customer = policy.customers.get(key) if key else None
    return customer.name if customer is not None else None


def edited(
    conn: Connection, channel: str, ts: str, words: str | None, edit_ts: str, now: datetime
) -> None:
    """A message edited (its new `words`) or deleted (None) in a request's thread: its
    comment or the issue's body follows through the outbox; a reply still waiting for the
    issue is changed where it waits. Anything else (sla-bot's own posts) changes nothing."""
    row = slack.message(conn, channel, ts)
    if row is not None and row.origin == "slack":
        if slack.rewrite_waiting(conn, channel, ts, words):
            return
        thread = slack.thread(conn, row.thread_id)
        kind = EffectKind.SLACK_EDIT_COMMENT
    else:
        thread = slack.thread_of_message(conn, channel, ts)
        kind = EffectKind.SLACK_EDIT_ISSUE
    if thread is None or thread.status not in (slack.OPENING, slack.OPEN, slack.CLOSED):
        return
    outbox.enqueue(
        conn,
        kind,
        key=keys.key("slack", "edit", channel, ts, edit_ts),
        payload={"thread": thread.id, "channel": channel, "ts": ts, "text": words},
        now=now,
        installation_id=thread.installation_id,
        repo=thread.repo,
        issue_number=thread.issue_number,
    )


def _superseded(conn: Connection, item: Item) -> bool:
    """A later edit of the same message was decided after `item`: it says what is now."""
    prefix = f"slack:edit:{item.payload['channel']}:{item.payload['ts']}:"
    found = conn.execute(
        select(outbox_table.c.id)
        .where(outbox_table.c.key.startswith(prefix, autoescape=True), outbox_table.c.id > item.id)
        .limit(1)
    ).first()
    return found is not None


class Edits:
    """Sends the edits: the comment or the body rewritten as the message now stands."""

    def __init__(
        self,
        *,
        db: Database,
        github: GitHubApp | None,
        api: SlackApi | None,
        policies: PolicyLoader,
    ) -> None:
        self._db, self._github, self._api, self._policies = db, github, api, policies

    def kinds(self) -> dict[EffectKind, Any]:
        return {
            EffectKind.SLACK_EDIT_COMMENT: self.comment,
            EffectKind.SLACK_EDIT_ISSUE: self.issue,
        }

    async def _ready(self, item: Item) -> slack.Thread | None:
        """The thread, once its issue exists; None when a later edit makes this one moot."""
        if self._github is None:
            raise Retry("GitHub App credentials are not configured", timedelta(minutes=5))
        if await self._db.run(_superseded, item):
            return None
        thread = await self._db.run(slack.thread, int(item.payload["thread"]))
        if thread is None or thread.installation_id is None:
            raise ValueError(f"no slack thread {item.payload['thread']} with an installation")
        if thread.issue_number is None:
            raise Retry("the request's issue is not opened yet", timedelta(seconds=10))
        return thread

    async def comment(self, item: Item) -> dict[str, Any]:
        """The reply's comment, as the reply now reads (or without its words)."""
        thread = await self._ready(item)
        if thread is None:
            return {"skipped": "superseded"}
        channel, ts = item.payload["channel"], item.payload["ts"]
        posted = await self._db.run(outbox.by_key, f"slack:comment:{channel}:{ts}")
        row = await self._db.run(slack.message, channel, ts)
        if posted is not None and posted.status == outbox.PENDING:
            raise Retry("the reply's comment is not posted yet", timedelta(seconds=5))
        if posted is None or row is None or row.comment_id is None:
            return {"skipped": "the reply never became a comment"}
        who = posted.payload.get("name") or posted.payload["user"]
        if self._api is not None and not posted.payload.get("name"):
            who = display_name(await self._api.user(posted.payload["user"]), who)
        policy = await self._policies.get(thread.installation_id, thread.repo)
        org = None if posted.payload.get("responder") else organisation(thread.repo, policy)
        words = item.payload["text"]
        said = text.slack_comment(
            DELETED if words is None else words, who=who, org=org, permalink=thread.permalink
        )
        body = effects.marker(posted.key) + "\n" + said
        repo, comment_id = thread.repo, int(row.comment_id)

        async def act(gh: GitHubClient) -> dict[str, Any]:
            await ops.edit_comment(gh, repo, comment_id, body)
            return {"id": comment_id, "edited": True}

        assert thread.installation_id is not None
        return await self._github_call(thread.installation_id, act)

    async def issue(self, item: Item) -> dict[str, Any]:
        """The issue's body, as the request's message now reads (or without its words)."""
        thread = await self._ready(item)
        if thread is None:
            return {"skipped": "superseded"}
        words = item.payload["text"]
        org = await self._organisation(thread)
        names = await self._names(words or "")
        body = text.issue_body(
            DELETED if words is None else words,
            names=names,
            channel=thread.channel,
            thread_ts=thread.thread_ts,
            who=thread.requester_name,
            org=org,
            permalink=thread.permalink,
        )
        repo, number = thread.repo, thread.issue_number
        assert number is not None and thread.installation_id is not None

        async def act(gh: GitHubClient) -> dict[str, Any]:
            await ops.edit_issue_body(gh, repo, number, body)
            return {"number": number, "edited": True}

        return await self._github_call(thread.installation_id, act)

    async def _github_call(self, installation: int, act: Any) -> dict[str, Any]:
        assert self._github is not None
        result: dict[str, Any] = await self._github.call(installation, act, write=True)
        return result

    async def _organisation(self, thread: slack.Thread) -> str | None:
        """The requester's organisation, as when the issue was opened (another workspace)."""
        if self._api is None:
            return None
        user = await self._api.user(thread.requester)
        external = bool(user.get("is_stranger")) or user.get("team_id") not in (
            None,
            thread.team_id,
        )
        if not external:
            return None
        policy = await self._policies.get(thread.installation_id, thread.repo)
        return organisation(thread.repo, policy)

    async def _names(self, words: str) -> dict[str, str]:
        if self._api is None:
            return {}
        return {u: display_name(await self._api.user(u), u) for u in text.mentioned(words)[:20]}
