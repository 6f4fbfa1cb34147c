"""GitHub ETags in the store: a reconcile run from cron is as cheap as one inside `serve`."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from app.store.tables import http_cache

Entry = tuple[str | None, str | None, Any, str | None]


def load(conn: Connection, prefix: str) -> dict[str, Entry]:
    """The cached answers of every URL under `prefix` (one repository's API)."""
    rows = conn.execute(select(http_cache).where(http_cache.c.url.startswith(prefix)))
    return {r.url: (r.etag, r.last_modified, json.loads(r.data), r.more) for r in rows}


def save(conn: Connection, entries: dict[str, Entry]) -> None:
    """Store new or changed answers (a delete and insert: the same on every backend)."""
    if not entries:
        return
    conn.execute(delete(http_cache).where(http_cache.c.url.in_(list(entries))))
    conn.execute(
        insert(http_cache),
        [
            {
                "url": url,
                "etag": etag,
                "last_modified": modified,
                "data": json.dumps(data),
                "more": more,
            }
            for url, (etag, modified, data, more) in entries.items()
        ],
    )
