"""The outbox effects of requests from Slack: read the message (Slack), open the issue
(GitHub) and, in the transaction that records it, start the clock from the message's time,
promise the first response on the issue and in the thread, and mark the message ✅.

Each is sent at least once and done once: the issue carries a hidden marker a retry looks for
before opening another, replies carry their outbox key as message metadata (as alerts do).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection

from app.engine import failures
from app.engine.dispatch import Retry
from app.github import ops
from app.github.app import GitHubApp
from app.github.client import GitHubClient
from app.github.policies import PolicyLoader
from app.notify.slack import Notifier, NotifyError
from app.sla import keys, rules
from app.sla.domain import Priority, RequestType
from app.sla.policy import Policy
from app.sla.triage import as_text, local_time
from app.slack_threads import text
from app.slack_threads.api import SlackApi, display_name
from app.slack_threads.edits import Edits, organisation
from app.store import clocks, effects, outbox, slack, tracking
from app.store.database import Database
from app.store.effects import EffectKind, IssueRef, Send
from app.store.outbox import Item

log = logging.getLogger(__name__)
DONE_EMOJI = "white_check_mark"
LOOKBACK = timedelta(days=2)


class Sender:
    def __init__(
        self,
        *,
        db: Database,
        github: GitHubApp | None,
        notifier: Notifier,
        api: SlackApi | None,
        policies: PolicyLoader,
        time: Callable[[], datetime],
    ) -> None:
        self._db, self._github, self._notifier, self._api = db, github, notifier, api
        self._policies, self._time = policies, time

    def kinds(self) -> dict[EffectKind, Send]:
        return {
            EffectKind.SLACK_OPEN: self.open,
            EffectKind.SLACK_ISSUE: self.create,
            EffectKind.SLACK_REPLY: self.reply,
            EffectKind.SLACK_REACT: self.react,
            EffectKind.SLACK_COMMENT: self.comment,
            **Edits(
                db=self._db, github=self._github, api=self._api, policies=self._policies
            ).kinds(),
        }

    def _slack(self) -> SlackApi:
        if self._api is None:
            raise Retry("SLACK_BOT_TOKEN is not set", timedelta(minutes=5))
        return self._api

    async def _thread(self, item: Item) -> slack.Thread:
        found = await self._db.run(slack.thread, int(item.payload["thread"]))
        if found is None:
            raise ValueError(f"no slack thread {item.payload['thread']}")
        return found

    async def open(self, item: Item) -> dict[str, Any]:
        """Read the request's message, its author and its link; then the issue is owed."""
        thread, api = await self._thread(item), self._slack()
        if thread.status != slack.OPENING:
            return {"skipped": thread.status}
        message = await api.message(thread.channel, thread.message_ts)
        if message is None:
            log.info(
                "slack request dropped: its message is gone", extra={"slack_thread": thread.id}
            )
            await self._db.run(slack.update_thread, thread.id, status=slack.GONE)
            return {"gone": True}
        if (
            message.get("bot_id")
            or message.get("subtype") == "bot_message"
            or not message.get("user")
        ):
            await self._db.run(slack.update_thread, thread.id, status=slack.IGNORED)
            return {"ignored": "a bot's message"}
        user_id = str(message["user"])
        user = await api.user(user_id)
        permalink = await api.permalink(thread.channel, thread.message_ts)
        policy = await self._policies.get(thread.installation_id, thread.repo)
        who = display_name(user, user_id)
        external = bool(user.get("is_stranger")) or (
            user.get("team_id") not in (None, thread.team_id)
        )
        org = organisation(thread.repo, policy) if external else None
        words = str(message.get("text") or "")
        names = await self._names(api, words)
        body = text.issue_body(
            words,
            names=names,
            channel=thread.channel,
            thread_ts=thread.thread_ts,
            who=who,
            org=org,
            permalink=permalink,
        )
        priority, kind = classified(policy, item.payload.get("answers"))
        issue = {
            "title": text.title(words, names),
            "body": body,
            "labels": [policy.label_for(priority), policy.types[kind].label],
            "answers": item.payload.get("answers"),
        }
        await self._db.run(_fetched, thread, user_id, who, permalink, issue, self._time())
        return {"fetched": True}

    async def _names(self, api: SlackApi, words: str) -> dict[str, str]:
        """The names of the people a message mentions (a few; an unknown one stays an id)."""
        names = {}
        for user in text.mentioned(words)[:20]:
            try:
                names[user] = display_name(await api.user(user), user)
            except NotifyError as exc:
                if not failures.gives_up(exc):
                    raise
        return names

    async def create(self, item: Item) -> dict[str, Any]:
        """Open the issue (once: a retry looks for its marker first), then record it."""
        thread = await self._thread(item)
        if thread.issue_number is not None:
            return {"number": thread.issue_number, "url": thread.issue_url}
        if self._github is None or thread.installation_id is None:
            raise Retry("GitHub App credentials are not configured", timedelta(minutes=5))
        payload, repo = item.payload, thread.repo
        marker = text.MARKER.format(channel=thread.channel, thread_ts=thread.thread_ts)

        async def act(gh: GitHubClient) -> dict[str, Any]:
            if item.attempts > 1 and (found := await _find_issue(gh, repo, marker)) is not None:
                return found
            data: dict[str, Any] = await gh.post(
                f"/repos/{quote(repo, safe='/')}/issues",
                data={
                    "title": payload["title"],
                    "body": payload["body"],
                    "labels": payload["labels"],
                },
            )
            return data

        data = await self._github.call(thread.installation_id, act, write=True)
        number, url = int(data["number"]), str(data.get("html_url") or "")
        policy = await self._policies.get(thread.installation_id, repo)
        await self._db.run(
            opened,
            thread,
            number,
            url,
            payload["title"],
            policy,
            self._time(),
            payload.get("answers"),
        )
        return {"number": number, "url": url}

    async def reply(self, item: Item) -> dict[str, Any]:
        """A message in the thread; a retry looks for an earlier attempt Slack took."""
        channel, thread_ts = item.payload["channel"], item.payload["thread_ts"]
        if item.attempts > 1:
            found = await self._notifier.find(
                channel=channel, key=item.key, thread_ts=thread_ts, since=self._time() - LOOKBACK
            )
            if found is not None:
                return {"channel": found.channel, "ts": found.ts, "found": True}
        posted = await self._notifier.post(
            channel=channel, text=item.payload["text"], thread_ts=thread_ts, key=item.key
        )
        return {"channel": posted.channel, "ts": posted.ts}

    async def react(self, item: Item) -> dict[str, Any]:
        await self._slack().react(item.payload["channel"], item.payload["ts"], DONE_EMOJI)
        return {}

    async def comment(self, item: Item) -> dict[str, Any]:
        """A reply in the thread as an issue comment naming its author (once: a retry looks
        for its marker); the pair (Slack ts, comment id) is kept."""
        thread, payload = await self._thread(item), item.payload
        if self._github is None or thread.installation_id is None or thread.issue_number is None:
            raise Retry("GitHub App credentials are not configured", timedelta(minutes=5))
        who = payload.get("name") or payload["user"]
        if self._api is not None and not payload.get("name"):
            who = display_name(await self._api.user(payload["user"]), payload["user"])
        policy = await self._policies.get(thread.installation_id, thread.repo)
        org = None if payload["responder"] else organisation(thread.repo, policy)
        marker = effects.marker(item.key)
        body = (
            marker
            + "\n"
            + text.slack_comment(payload["text"], who=who, org=org, permalink=thread.permalink)
        )
        repo, number = thread.repo, thread.issue_number

        async def act(gh: GitHubClient) -> dict[str, Any]:
            if item.attempts > 1 and (found := await ops.find_comment(gh, repo, number, marker)):
                return {"id": found}
            return await ops.comment(gh, repo, number, body)

        data = await self._github.call(thread.installation_id, act, write=True)
        await self._db.run(slack.set_comment, thread.channel, payload["ts"], int(data["id"]))
        return {"id": data["id"]}


async def _find_issue(gh: GitHubClient, repo: str, marker: str) -> dict[str, Any] | None:
    """The issue a lost answer hid: the newest issues carrying the request's marker."""
    looked = 0
    async for issue in gh.getiter(
        "/repos/{owner}/{name}/issues{?state,sort,direction,per_page}",
        url_vars={
            "owner": repo.partition("/")[0],
            "name": repo.partition("/")[2],
            "state": "all",
            "sort": "created",
            "direction": "desc",
            "per_page": "50",
        },
    ):
        if marker in str(issue.get("body") or ""):
            return dict(issue)
        looked += 1
        if looked >= 50:  # the answer was lost minutes ago: it is among the newest
            break
    return None


def _fetched(
    conn: Connection,
    thread: slack.Thread,
    user: str,
    who: str,
    permalink: str | None,
    issue: dict[str, Any],
    now: datetime,
) -> None:
    if not slack.update_thread(
        conn,
        thread.id,
        only_if=slack.OPENING,
        requester=user,
        requester_name=who,
        permalink=permalink,
    ):
        return
    outbox.enqueue(
        conn,
        EffectKind.SLACK_ISSUE,
        key=keys.key("slack", "issue", thread.channel, thread.thread_ts),
        payload={"thread": thread.id, **issue},
        now=now,
        installation_id=thread.installation_id,
        repo=thread.repo,
    )


SLACK_INTAKE = (
    "Thanks for your request, {who}. It came from Slack: we have it as **{type}** with "
    "priority **{priority}**.\n\n{promise}\n\nReplies in the Slack thread are added here, and "
    "the team's answers here are posted in the thread."
)
PROMISE = "You can expect a first response by **{due}**."
LATE = (
    "We are sorry: your request reached us after the first response we promise for it "
    "was due (**{due}**). The team has been alerted and will answer as soon as possible."
)
THREAD_REPLY = (
    "Thanks, <@{user}>: this is now <{url}|{repo}#{number}>, priority *{priority}*. {promise}"
)


def opened(
    conn: Connection,
    thread: slack.Thread,
    number: int,
    url: str,
    title: str,
    policy: Policy,
    now: datetime,
    answers: dict[str, str] | None = None,
) -> None:
    """The issue exists: the clock starts at the message's time; the customer is promised
    the first response on the issue and in the thread; the message gets ✅; replies that came
    meanwhile follow. `answers`: the shortcut's classification (else the defaults)."""
    if not slack.update_thread(
        conn,
        thread.id,
        only_if=slack.OPENING,
        issue_number=number,
        issue_url=url,
        status=slack.OPEN,
    ):
        return
    at = text.ts_time(thread.message_ts)
    priority, kind = classified(policy, answers)
    subject = tracking.Subject(
        thread.installation_id, thread.repo, number, title, url, thread.requester_name
    )
    opened_event = rules.Opened(at, priority, str(kind), thread.requester_name)
    if tracking.enforced(policy, at):
        tracking.handle(conn, subject, opened_event, policy, now, case=rules.Case())
    live = clocks.live(conn, thread.repo, number)
    due = live.due_at if live is not None else policy.due_at(priority, at)
    late = now >= due
    promise = (LATE if late else PROMISE).format(due=local_time(due, policy))
    ref = IssueRef(thread.installation_id, thread.repo, number)
    effects.comment(
        conn,
        ref,
        key=effects.intake_comment_key(thread.repo, number),
        now=now,
        body=SLACK_INTAKE.format(
            who=as_text(thread.requester_name),
            type=policy.type_name(kind),
            priority=policy.name_of(priority),
            promise=promise,
        )
        + _downgraded(answers, priority),
    )
    in_slack = promise.replace("**", "*")
    _post(
        conn,
        thread,
        keys.key("slack", "opened", thread.id),
        THREAD_REPLY.format(
            user=thread.requester,
            url=url,
            repo=thread.repo,
            number=number,
            priority=policy.name_of(priority),
            promise=in_slack,
        ),
        now,
    )
    now_open = replace(thread, issue_number=number, issue_url=url, status=slack.OPEN)
    for reply in slack.waiting(conn, thread.id):  # replies while the issue was being opened
        _to_issue(conn, now_open, reply, policy, now)
    outbox.enqueue(
        conn,
        EffectKind.SLACK_REACT,
        key=keys.key("slack", "react", thread.id),
        payload={"channel": thread.channel, "ts": thread.message_ts},
        now=now,
        installation_id=thread.installation_id,
        repo=thread.repo,
        issue_number=number,
    )


def classified(policy: Policy, answers: dict[str, str] | None) -> tuple[Priority, RequestType]:
    """The priority and type a shortcut's answers gave; the policy's defaults without."""
    if not answers:
        return policy.default_priority, policy.default_type
    return Priority(answers["priority"]), RequestType(answers["type"])


def _downgraded(answers: dict[str, str] | None, priority: Priority) -> str:
    if not answers or answers.get("asked") == priority:
        return ""
    return (
        "\n\nProduction down is for Problem/Troubleshooting requests that affect many or all "
        "end users: this one is **Urgent**."
    )


def _post(conn: Connection, thread: slack.Thread, key: str, message: str, now: datetime) -> None:
    outbox.enqueue(
        conn,
        EffectKind.SLACK_REPLY,
        key=key,
        payload={"channel": thread.channel, "thread_ts": thread.thread_ts, "text": message},
        now=now,
        installation_id=thread.installation_id,
        repo=thread.repo,
        issue_number=thread.issue_number,
    )


def replied(
    conn: Connection, thread: slack.Thread, reply: dict[str, Any], policy: Policy, now: datetime
) -> None:
    """A person's reply in a request's thread: an issue comment, and for the clocks a
    customer's comment (next response owed) or a team member's (a response). Before the
    issue exists it waits, and follows once the issue is opened."""
    current = slack.thread(conn, thread.id) or thread
    waiting = current.issue_number is None
    if not slack.add_message(
        conn,
        channel=thread.channel,
        ts=reply["ts"],
        thread_id=thread.id,
        user=reply["user"],
        origin="slack",
        now=now,
        body=reply if waiting else None,
    ):
        return  # known already
    if not waiting:
        _to_issue(conn, current, reply, policy, now)


def _to_issue(
    conn: Connection, thread: slack.Thread, reply: dict[str, Any], policy: Policy, now: datetime
) -> None:
    assert thread.issue_number is not None
    # The team: members of the workspace sla-bot is installed in, not the requester. A reply
    # whose workspace Slack did not say counts as the customer's (a response is never
    # assumed).
    responder = (
        reply["user"] != thread.requester
        and bool(reply["team"])
        and reply["team"] == reply["installed"]
    )
    who = reply["name"] or reply["user"]
    outbox.enqueue(
        conn,
        EffectKind.SLACK_COMMENT,
        key=keys.key("slack", "comment", thread.channel, reply["ts"]),
        now=now,
        installation_id=thread.installation_id,
        repo=thread.repo,
        issue_number=thread.issue_number,
        payload={
            "thread": thread.id,
            "ts": reply["ts"],
            "user": reply["user"],
            "name": reply["name"],
            "text": reply["text"],
            "responder": responder,
        },
    )
    said = rules.Commented(text.ts_time(reply["ts"]), who, responder)
    subject = tracking.Subject(
        thread.installation_id,
        thread.repo,
        thread.issue_number,
        "",
        thread.issue_url or "",
        thread.requester_name,
    )
    case = tracking.case_of(conn, thread.repo, thread.issue_number)
    paused = any(c.state == "paused" for c in case.clocks)
    tracking.handle(
        conn,
        subject,
        said,
        policy,
        now,
        case=replace(case, is_open=thread.status == slack.OPEN, pause_label_on=paused),
    )


def echo(
    conn: Connection,
    repo: str,
    number: int,
    comment: dict[str, Any],
    author: str,
    policy: Policy,
    now: datetime,
) -> None:
    """A responder's comment on the issue, posted in the request's thread (never one marked
    internal; sla-bot's own comments never get here: bots are not responders)."""
    thread = slack.thread_of_issue(conn, repo, number)
    body = str(comment.get("body") or "")
    prefix = policy.intake.slack.internal_prefix.casefold()
    if thread is None or body.strip().casefold().startswith(prefix):
        return
    url = str(comment.get("html_url") or thread.issue_url or "")
    _post(
        conn,
        thread,
        keys.key("slack", "echo", comment.get("id")),
        text.github_reply(body, who=author, url=url),
        now,
    )


def closed(
    conn: Connection, repo: str, number: int, closer: str | None, reason: str, now: datetime
) -> None:
    """Closing the issue tells the thread."""
    thread = slack.thread_of_issue(conn, repo, number)
    if thread is None or not slack.update_thread(
        conn, thread.id, only_if=slack.OPEN, status=slack.CLOSED
    ):
        return
    how = "resolved" if reason == "completed" else "closed"
    by = f" by {closer}" if closer else ""
    message = f"This request was {how}{by} on <{thread.issue_url}|GitHub>."
    _post(
        conn,
        thread,
        keys.key("slack", "closed", keys.issue(repo, number), now.isoformat()),
        message,
        now,
    )
