"""The schema: deliveries, clocks, the outbox of effects, jobs, and tracked repositories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


metadata = MetaData()


def queued() -> list[Column[Any]]:
    """The columns app/store/queue.py claims, leases, retries and finishes by, for a table of
    work done once by one worker (the outbox's effects, the jobs); "next_attempt_at" is the
    queue's name for "not before"."""
    return [
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("next_attempt_at", UTCDateTime, nullable=False),
        Column("lease_until", UTCDateTime),
        Column("lease_owner", String(64)),
        Column("last_error", Text),
        Column("result", Text),
    ]


LIVE_WHERE = "state IN ('running', 'paused', 'breached')"

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("event", String(64), nullable=False),
    Column("action", String(64)),
    Column("installation_id", BigInteger),
    Column("repo", String(255)),
    Column("issue_number", Integer),
    Column("body", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    # pending -> done | pending (retry later) -> dead; rejected: malformed, kept for the record
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_until", UTCDateTime),
    Column("lease_owner", String(64)),
    Column("last_error", Text),
    Column("processed_at", UTCDateTime),
    # A captured signed body replayed under a new delivery id is the same delivery.
    Column("body_sha256", String(64)),
    # 0: production down, claimed before routine work (1); see app/store/queue.py.
    Column("lane", SmallInteger, nullable=False, server_default="1"),
    # Claims in turns by installation (queue.ready_ids): the installations with ready work,
    # then each one's oldest, read off the index, no sort of the backlog.
    Index("ix_deliveries_fair", "status", "lane", "installation_id", "received_at", "id"),
    Index("ux_deliveries_digest", "body_sha256", unique=True),
)

clocks = Table(
    "clocks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("installation_id", BigInteger),
    Column("repo", String(255), nullable=False),
    Column("issue_number", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("priority", String(32), nullable=False),
    Column("request_type", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("warn_at", UTCDateTime),
    Column("warned_at", UTCDateTime),
    Column("breached_at", UTCDateTime),
    Column("met_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("responder", String(255)),
    Column("response_seconds", Integer),  # time to first response on the clock's calendar
    Column("issue_title", Text, nullable=False, server_default=""),
    Column("issue_url", Text, nullable=False, server_default=""),
    Column("issue_author", String(255), nullable=False, server_default=""),
    # Waiting on the customer: paused since, and the paused time already closed (seconds on
    # the clock's calendar, never counted against its target).
    Column("paused_at", UTCDateTime),
    Column("paused_seconds", Integer, nullable=False, server_default="0"),
    Column("resumed_at", UTCDateTime),  # the end of the last pause
    # A page nobody has acknowledged is escalated then: set for paging clocks, cleared once
    # escalated, acknowledged or ended, so the sweep's range scan only sees pages still owed.
    Column("escalate_at", UTCDateTime),
    # An incident episode (a first-response clock that paged): paged, acknowledged, over.
    Column("paged_at", UTCDateTime),
    Column("acked_at", UTCDateTime),
    Column("page_ended_at", UTCDateTime),
    # What started and ended the clock, for people: "opened", "comment by kim", "closed".
    Column("started_by", String(255)),
    Column("ended_by", String(255)),
    # "Which running clocks are due by now" is one range scan of this index.
    Index("ix_clocks_due", "state", "due_at"),
    Index("ix_clocks_warn", "state", "warn_at"),
    Index("ix_clocks_escalate", "escalate_at"),
    Index("ix_clocks_issue", "repo", "issue_number", "kind"),
    # At most one live (running or breached) clock per issue and kind, whatever the replicas do.
    Index(
        "ux_clocks_live",
        "repo",
        "issue_number",
        "kind",
        unique=True,
        sqlite_where=text(LIVE_WHERE),
        postgresql_where=text(LIVE_WHERE),
    ),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The idempotency key: an effect is enqueued once, whoever decides it how often.
    Column("key", String(255), nullable=False, unique=True),
    Column("target", String(16), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("clock_id", Integer),
    Column("installation_id", BigInteger),
    Column("repo", String(255)),
    Column("issue_number", Integer),
    Column("payload", Text, nullable=False),
    *queued(),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("lane", SmallInteger, nullable=False, server_default="1"),  # 0: production down
    Index("ix_outbox_ready", "status", "next_attempt_at"),
    # The pace of an installation's writes: what it sent in the last hour, by index.
    Index("ix_outbox_sent", "installation_id", "sent_at"),
)

# The app's own work on a repository or a delivery (a reconcile, a redelivery asked of
# GitHub), planned once per key however many replicas plan it, run by one worker under a
# lease (app/store/jobs.py). Not the outbox: a job decides, it is not a decided effect.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("installation_id", BigInteger),
    Column("repo", String(255)),
    Column("payload", Text, nullable=False),
    # pending -> done | pending (retry later) -> dead
    *queued(),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    # Claims in turns by installation read the ready jobs off this index.
    Index("ix_jobs_ready", "status", "next_attempt_at", "installation_id", "id"),
)

repositories = Table(
    "repositories",
    metadata,
    Column("full_name", String(255), primary_key=True),
    Column("installation_id", BigInteger, nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    Column("active", Integer, nullable=False, server_default="1"),
    # Bumped by a push that changes the repository's (or its owner's) policy file.
    Column("policy_version", Integer, nullable=False, server_default="0"),
)

# gidgethub's conditional-request cache, kept across processes: url -> (etag, last-modified,
# data, next page). A 304 answer costs no rate limit.
http_cache = Table(
    "http_cache",
    metadata,
    Column("url", String(760), primary_key=True),
    Column("etag", String(255)),
    Column("last_modified", String(64)),
    Column("data", Text, nullable=False),
    Column("more", Text),
)

# The latest each issue looked like in a delivery (labels, assignees, open or closed), for the
# status meetings: which customer a request is, who is on it, what was resolved.
issues = Table(
    "issues",
    metadata,
    Column("repo", String(255), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("title", Text, nullable=False, server_default=""),
    Column("url", Text, nullable=False, server_default=""),
    Column("state", String(16), nullable=False),  # open, closed, deleted, transferred
    Column("labels", Text, nullable=False, server_default="[]"),  # JSON list of names
    Column("assignees", Text, nullable=False, server_default="[]"),  # JSON list of logins
    Column("closed_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Facts about this store: `deployment`, made once, tells its PagerDuty incidents from those
# of another store or deployment on the same routing key.
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Calls to the escalation number (Twilio), one row per CallSid: Twilio's retries find it. The
# call pages at once through its clock (`clock_id`), whose issue number is `-id` until the
# GitHub issue is opened (`issue_number`); the issue's body shows the row as it is now.
calls = Table(
    "calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sid", String(64), nullable=False, unique=True),
    Column("installation_id", BigInteger),
    Column("repo", String(255), nullable=False),
    Column("to_number", String(20), nullable=False),
    Column("from_number", String(32), nullable=False),
    Column("called_at", UTCDateTime, nullable=False),
    Column("clock_id", Integer),
    Column("issue_number", Integer),
    Column("issue_url", Text),
    # What the caller left: a recording (with its transcript, once Twilio sends it), nothing
    # ("silent"), or they hung up before the tone ("hung-up").
    Column("outcome", String(16)),
    Column("recording_url", Text),
    Column("recording_seconds", Integer),
    Column("transcript", Text),
    Column("transcript_status", String(16)),
    Column("version", Integer, nullable=False, server_default="0"),  # bumped on each change
    # The issue is being opened (GitHub asked, its answer not recorded yet): the issue's own
    # `opened` and `labeled` deliveries wait until its number is known (app/phone/calls.py).
    Column("opening_at", UTCDateTime),
)

# Requests from Slack (app/slack_threads): which repository takes each channel's requests
# (from the policies read), and each Slack thread with its issue and its messages.
slack_channels = Table(
    "slack_channels",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("repo", String(255), nullable=False),
    Column("installation_id", BigInteger),
    # A second repository whose policy claims the channel too: its events are ignored.
    Column("rival", String(255)),
    Column("updated_at", UTCDateTime, nullable=False),
)

slack_threads = Table(
    "slack_threads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("thread_ts", String(32), nullable=False),  # the thread's first message
    Column("message_ts", String(32), nullable=False),  # the request's message (clock start)
    Column("repo", String(255), nullable=False),
    Column("installation_id", BigInteger),
    Column("requester", String(32), nullable=False),  # Slack user id
    Column("requester_name", Text, nullable=False, server_default=""),
    Column("team_id", String(32)),  # the workspace sla-bot is installed in
    Column("permalink", Text),
    Column("issue_number", Integer),  # once GitHub made the issue
    Column("issue_url", Text),
    # opening -> open -> closed; gone (message_not_found), ignored (a bot's message)
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ux_slack_threads_thread", "channel", "thread_ts", unique=True),
    Index("ix_slack_threads_issue", "repo", "issue_number"),
)

# Each message of a thread and the issue comment it became (or came from): a reply is
# posted once, and sla-bot's own posts are known when Slack echoes them.
slack_messages = Table(
    "slack_messages",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("ts", String(32), primary_key=True),
    Column("thread_id", Integer, nullable=False),
    Column("user", String(32)),
    Column("origin", String(8), nullable=False),  # slack: a reply; github: a comment posted
    Column("comment_id", BigInteger),
    Column("body", Text),  # a Slack reply waiting for its issue (the event as received)
    Column("status", String(16), nullable=False),  # waiting (no issue yet) | done
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_slack_messages_comment", "comment_id"),
)
