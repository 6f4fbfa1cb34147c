"""Prometheus metrics: one registry per app, counters fed by the edges, gauges read at scrape."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select

from app.engine.process import METRICS_DIR
from app.store.database import Database
from app.store.tables import clocks, deliveries, jobs, outbox

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The events a label may name; any other (signed) event counts as "other". Label values come
# from this fixed set only, so no request can grow /metrics.
EVENTS = frozenset(
    {"issues", "issue_comment", "installation", "installation_repositories", "repository", "ping"}
)

# GitHub's rate-limit buckets (x-ratelimit-resource) a label may name; any other is "other".
RATE_RESOURCES = frozenset({"core", "search", "graphql"})


def event_label(event: str) -> str:
    return event if event in EVENTS else "other"


class StoreCollector(Collector):
    """Running clocks by priority and queue depths, counted by the store at most every
    `max_age` seconds: a flood of scrapes costs the store one query, not one per scrape."""

    def __init__(self, db: Database, max_age: float = 5.0) -> None:
        self._db = db
        self._max_age = max_age
        self._counted: tuple[float, Any] | None = None
        self._lock = threading.Lock()

    def _counts(self) -> Any:
        with self._lock:
            now = time.monotonic()
            if self._counted is None or now - self._counted[0] > self._max_age:
                self._counted = (now, self._db.tx(_counts))
            return self._counted[1]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        running, pending = self._counts()
        clocks_gauge = GaugeMetricFamily(
            "sla_bot_running_clocks", "Running first-response clocks", labels=["priority"]
        )
        for priority, count in running:
            clocks_gauge.add_metric([priority], count)
        yield clocks_gauge
        queue = GaugeMetricFamily(
            "sla_bot_pending", "Deliveries, effects and jobs waiting", labels=["queue"]
        )
        for name, count in pending:
            queue.add_metric([name], count)
        yield queue


def _counts(conn: Connection) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    running = conn.execute(
        select(clocks.c.priority, func.count())
        .where(clocks.c.state == "running", clocks.c.kind == "response")  # open requests
        .group_by(clocks.c.priority)
    ).all()
    waiting = [
        (
            "deliveries",
            conn.execute(select(func.count()).where(deliveries.c.status == "pending")).scalar_one(),
        ),
        (
            "effects",
            conn.execute(select(func.count()).where(outbox.c.status == "pending")).scalar_one(),
        ),
        (
            "jobs",
            conn.execute(select(func.count()).where(jobs.c.status == "pending")).scalar_one(),
        ),
    ]
    return [(str(p), int(c)) for p, c in running], [(n, int(c)) for n, c in waiting]


class Metrics:
    """Everything /metrics shows."""

    def __init__(self, db: Database | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.deliveries = Counter(
            "sla_bot_deliveries",
            "Webhook deliveries by event and outcome",
            ["event", "outcome"],
            registry=r,
        )
        self.processing = Histogram(
            "sla_bot_processing_seconds",
            "Time to process one stored delivery",
            ["event"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.breaches = Counter("sla_bot_breaches", "Clocks that breached their target", registry=r)
        self.effects = Counter(
            "sla_bot_effects",
            "Outbox effects by target, kind and outcome",
            ["target", "kind", "outcome"],
            registry=r,
        )
        self.jobs = Counter(
            "sla_bot_jobs",
            "Jobs (reconcile, redeliver) run, by kind and outcome",
            ["kind", "outcome"],
            registry=r,
        )
        self.github_calls = Counter(
            "sla_bot_github_requests",
            "GitHub API requests by method and status",
            ["method", "status"],
            registry=r,
        )
        # Labeled, so that it has no value at all until GitHub answered: a 0 before the first
        # answer made the "rate limit nearly used up" alert fire when GitHub was unreachable.
        self.github_rate_remaining = Gauge(
            "sla_bot_github_rate_limit_remaining",
            "x-ratelimit-remaining of the last answer",
            ["resource"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self._store = None if db is None else StoreCollector(db)
        if self._store is not None:
            r.register(self._store)

    def observe_github(self, method: str, status: int | None, headers: Mapping[str, str]) -> None:
        self.github_calls.labels(method, str(status) if status else "error").inc()
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            resource = headers.get("x-ratelimit-resource", "core")
            resource = resource if resource in RATE_RESOURCES else "other"
            self.github_rate_remaining.labels(resource).set(int(remaining))

    def render(self) -> bytes:
        if not os.environ.get(METRICS_DIR):
            return generate_latest(self.registry)
        # The counts of every process of this server (its worker's too), from their files.
        shared = CollectorRegistry()
        MultiProcessCollector(shared)  # type: ignore[no-untyped-call]
        if self._store is not None:
            shared.register(self._store)
        return generate_latest(shared)


def effect_observer(metrics: Metrics) -> Callable[[Any, str], None]:
    def observe(item: Any, outcome: str) -> None:
        metrics.effects.labels(item.target, item.kind, outcome).inc()

    return observe


def job_observer(metrics: Metrics) -> Callable[[Any, str], None]:
    def observe(job: Any, outcome: str) -> None:
        metrics.jobs.labels(job.kind, outcome).inc()

    return observe
