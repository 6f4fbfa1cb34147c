"""FakeGitHub's App webhook delivery log: `GET /app/hook/deliveries` and redelivery attempts."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

from sla_sandbox.standins.github_http import Ctx, NotFound, Reply
from sla_sandbox.standins.github_model import JSONDict, iso


class DeliveryLog:
    """Deliveries as GitHub lists them for an App (newest first, cursor-paged); thread-safe."""

    def __init__(self, time: Callable[[], datetime]) -> None:
        self._time = time
        self._lock = threading.Lock()
        self._items: list[JSONDict] = []
        self._ids = itertools.count(12000000001)
        self._redeliveries: list[int] = []
        self.redelivery_status = 200  # what a redelivery attempt records

    def add(
        self,
        event: str,
        action: str | None = None,
        *,
        status_code: int = 200,
        guid: str | None = None,
        installation_id: int | None = None,
        repository_id: int | None = None,
        delivered_at: datetime | None = None,
        redelivery: bool = False,
        duration: float = 0.05,
    ) -> JSONDict:
        """Record a delivery; `status` is "OK" below 400 as GitHub words it."""
        with self._lock:
            delivery_id = next(self._ids)
            item = {
                "id": delivery_id,
                "guid": guid or f"0b9a0c3e-0000-4000-8000-{delivery_id:012d}",
                "delivered_at": iso(delivered_at or self._time()),
                "redelivery": redelivery,
                "duration": duration,
                "status": "OK" if status_code < 400 else f"Invalid HTTP Response: {status_code}",
                "status_code": status_code,
                "event": event,
                "action": action,
                "installation_id": installation_id,
                "repository_id": repository_id,
                "throttled_at": None,
            }
            self._items.append(item)
            return dict(item)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._redeliveries.clear()
            self._ids = itertools.count(12000000001)

    @property
    def redeliveries(self) -> list[int]:
        """Delivery ids the App asked GitHub to redeliver, in order."""
        with self._lock:
            return list(self._redeliveries)

    def page(self, ctx: Ctx) -> Reply:
        """`cursor` names the first delivery of a page; the Link header carries the next one."""
        with self._lock:
            items = sorted(self._items, key=lambda d: (d["delivered_at"], d["id"]), reverse=True)
        wanted = ctx.query.get("status")
        if wanted in ("success", "failure"):  # success: 200-399, failure: 400-599
            items = [d for d in items if (d["status_code"] < 400) == (wanted == "success")]
        ids = [f"v1_{d['id']}" for d in items]
        cursor = ctx.query.get("cursor")
        start = ids.index(cursor) if cursor in ids else (len(ids) if cursor else 0)
        try:
            per_page = min(max(int(ctx.query.get("per_page", "30")), 1), 100)
        except ValueError:
            per_page = 30
        headers = {}
        if start + per_page < len(items):
            query = {**ctx.query, "per_page": str(per_page), "cursor": ids[start + per_page]}
            headers["link"] = f'<{ctx.url}?{urlencode(query)}>; rel="next"'
        return Reply(200, [dict(d) for d in items[start : start + per_page]], headers)

    def _find(self, ctx: Ctx) -> JSONDict:
        with self._lock:
            for item in self._items:
                if item["id"] == int(ctx.params["id"]):
                    return dict(item)
        raise NotFound

    def get(self, ctx: Ctx) -> Reply:
        exchange = {"request": {"headers": {}, "payload": None}, "response": {"headers": {}}}
        return Reply(200, {**self._find(ctx), "url": "", **exchange})

    def redeliver(self, ctx: Ctx) -> Reply:
        item = self._find(ctx)
        with self._lock:
            self._redeliveries.append(item["id"])
        self.add(
            item["event"],
            item["action"],
            status_code=self.redelivery_status,
            guid=item["guid"],  # a redelivery keeps the X-GitHub-Delivery GUID
            installation_id=item["installation_id"],
            repository_id=item["repository_id"],
            redelivery=True,
        )
        return Reply(202, {})
