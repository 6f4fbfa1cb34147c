"""Missed deliveries: GitHub does not redeliver failures by itself, so sla-bot asks, once each."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.github.app import GitHubApp
from app.sla import keys
from app.store import deliveries, jobs
from app.store.database import Database
from app.store.jobs import Job, JobKind, Run

log = logging.getLogger(__name__)


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


async def failed_deliveries(github: GitHubApp, since: datetime) -> list[dict[str, Any]]:
    """The newest attempt of every delivery since `since` of which no attempt succeeded.

    GitHub's own guidance: group attempts by `guid` and redeliver only when none is "OK"
    (https://docs.github.com/en/webhooks/using-webhooks/automatically-redelivering-failed-deliveries-for-a-github-app-webhook).
    """
    client = await github.as_app()
    attempts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    async for item in client.getiter("/app/hook/deliveries{?per_page}", {"per_page": "100"}):
        if _time(item["delivered_at"]) < since:
            break  # newest first: everything after this is older
        attempts[str(item["guid"])].append(item)
    return [
        max(group, key=lambda i: _time(i["delivered_at"]))
        for group in attempts.values()
        if not any(i.get("status") == "OK" for i in group)
    ]


def _plan(conn: Connection, missed: list[dict[str, Any]], now: datetime) -> int:
    """Plan one redelivery per GUID we never stored; the job's key makes it once ever."""
    planned = 0
    for item in missed:
        guid = str(item["guid"])
        if deliveries.get(conn, guid) is not None:
            continue  # we have it: GitHub saw a failure, but the delivery is safe with us
        planned += jobs.enqueue(
            conn,
            JobKind.REDELIVER,
            key=keys.key(JobKind.REDELIVER, guid),
            payload={"id": item["id"], "guid": guid, "event": item.get("event")},
            now=now,
        )
    return planned


async def find_missed(github: GitHubApp, db: Database, since: datetime, now: datetime) -> int:
    """Find deliveries that never reached us since `since` and plan their redelivery."""
    missed = await failed_deliveries(github, since)
    planned = await db.run(_plan, missed, now)
    if planned:
        log.info("redeliveries planned", extra={"count": planned})
    return int(planned)


async def ask_redelivery(github: GitHubApp, delivery_id: int | str) -> None:
    client = await github.as_app()
    await client.post(
        "/app/hook/deliveries/{id}/attempts", url_vars={"id": str(delivery_id)}, data=b""
    )


def run(github: GitHubApp) -> Run:
    """The redelivery planned for a missed delivery, asked of GitHub once (its job's key)."""

    async def redeliver(job: Job) -> dict[str, Any]:
        await ask_redelivery(github, job.payload["id"])
        return {}

    return redeliver
