"""The app's long-lived parts, built once from Settings and an injected time function."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gidgethub.routing import Router

from app.config import ConfigError, Settings
from app.engine import wakeups
from app.engine.dispatch import Dispatcher
from app.engine.process import WorkerProcess
from app.engine.processor import Processor
from app.engine.runner import JobRunner
from app.engine.scheduler import Scheduler, Yielding
from app.engine.urgency import Urgency
from app.engine.worker import Worker
from app.github.app import GitHubApp
from app.github.http import Session
from app.github.policies import BrokenReport, PolicyLoader
from app.github.responders import Roles
from app.http.body import Gates
from app.jobs import reconcile, redeliver
from app.jobs.maintenance import Maintenance
from app.jobs.reconcile import Reconciler
from app.jobs.sweep import Sweeper
from app.metrics import Metrics, effect_observer, job_observer
from app.notify.messages import escape
from app.notify.pagerduty import PagerDuty
from app.notify.slack import Notifier, build_notifier
from app.notify.slack_directory import Directory
from app.sla import keys
from app.sla.policy import DEFAULT_POLICY, Policy, load_policy_file
from app.slack_threads import channels
from app.slack_threads import handlers as slack_handlers
from app.slack_threads.api import SlackApi
from app.slack_threads.send import Sender
from app.store import open_engine, outbox, repos
from app.store.database import Database
from app.store.effects import EffectKind
from app.store.ingest import DeliveryWriter
from app.store.issue_record import router as issue_record
from app.store.jobs import JobKind, Run
from app.time_source import system_time
from app.webhooks import router as webhooks

# The webhook handlers, and the record of each issue's latest look (status meetings).
router = Router(webhooks, issue_record, slack_handlers.router)
# GitHub writes in flight at once, to different issues, when unpaced (GitHub allows 100).
WRITE_WAVE = 48


@dataclass
class Services:
    settings: Settings
    time: Callable[[], datetime]
    db: Database
    http: Session  # sign-in to GitHub (board), Slack's response URLs
    pagerduty_http: Session
    github_http: Session
    github: GitHubApp | None
    notifier: Notifier
    policies: PolicyLoader
    dispatcher: Dispatcher
    # Reconciles and redeliveries (run by the worker); the reconciler is `sla-bot reconcile`'s
    # too (None without GitHub's credentials).
    jobs: JobRunner
    reconciler: Reconciler | None
    sweeper: Sweeper
    worker: Worker
    metrics: Metrics
    writer: DeliveryWriter
    # What `serve` runs and kicks: `worker` itself, or a process of its own running one.
    runner: Worker | WorkerProcess
    webhook_secret: str = field(repr=False)
    # What runs when (production down first, the receiver first), shared by the worker and
    # the dispatcher; `urgency` is the receiver's reading of which deliveries page.
    scheduler: Scheduler
    urgency: Urgency
    # The signed endpoints' bodies being read, bounded per endpoint (app/http/body.py).
    gates: Gates = field(default_factory=Gates)
    # Who is who in the Slack workspace (the page's buttons are checked against it), cached.
    directory: Directory = field(init=False)

    def __post_init__(self) -> None:
        self.directory = Directory(self.notifier, self.time)

    def maintenance(self) -> Maintenance | None:
        """Missed-delivery checks and periodic reconciles (when GitHub is configured), and the
        retention of old deliveries and effects (SLA_RETENTION_DAYS)."""
        s = self.settings
        github = self.github is not None and (s.sla_redeliver_interval or s.sla_reconcile_interval)
        if not github and not s.sla_retention_days:
            return None
        return Maintenance(
            db=self.db,
            github=self.github,
            time=self.time,
            redeliver_every=s.sla_redeliver_interval,
            reconcile_every=s.sla_reconcile_interval,
            retention_days=s.sla_retention_days,
        )

    async def aclose(self) -> None:
        await self.runner.stop()
        await self.worker.stop()
        await self.writer.aclose()
        await self.notifier.aclose()
        await self.http.aclose()
        await self.pagerduty_http.aclose()
        await self.github_http.aclose()
        await asyncio.to_thread(self.db.engine.dispose)
        self.db.close()


def fallback_policy(settings: Settings) -> Policy:
    """SLA_POLICY_FILE when set (a bad file stops start-up with its problems), else defaults;
    SLACK_CHANNEL replaces the default alert channel. Repository files merge over this."""
    policy = DEFAULT_POLICY
    if settings.sla_policy_file is not None:
        policy = load_policy_file(settings.sla_policy_file)
    if settings.slack_channel:
        slack = policy.slack.model_copy(update={"channel": settings.slack_channel})
        policy = policy.model_copy(update={"slack": slack})
    # The deployment's integrations switch the on-call loop's parts on for every repository.
    switches = {
        "pagerduty": settings.routing_key() is not None,
        "buttons": settings.signing_secret() is not None,
    }
    if any(switches.values()):
        oncall = policy.oncall.model_copy(
            update={k: v or getattr(policy.oncall, k) for k, v in switches.items()}
        )
        policy = policy.model_copy(update={"oncall": oncall})
    return policy


def describe(settings: Settings, url: str) -> list[tuple[int, str]]:
    """The start-up summary: what is configured, never a secret; warnings for what is off."""
    from sqlalchemy.engine import make_url

    lines = [(logging.INFO, f"sla-bot {url}: webhooks at {url}/webhooks/github")]
    if settings.github_configured():
        lines.append(
            (logging.INFO, f"GitHub: app {settings.github_app_id} at {settings.github_api_url}")
        )
    else:
        lines.append(
            (
                logging.WARNING,
                "GitHub: off (GITHUB_APP_ID and GITHUB_PRIVATE_KEY are "
                "not set): deliveries are stored and clocks kept, but nothing is written "
                "to GitHub",
            )
        )
    channel = fallback_policy(settings).slack.channel
    slack = f"channel {channel}" if settings.slack_token() else "off"
    if not settings.slack_token():
        lines.append(
            (
                logging.WARNING,
                "Slack: off (SLACK_BOT_TOKEN is not set): alerts are "
                "kept owed in the store, not sent, until a process with the token "
                "sends them",
            )
        )
    pager = "on" if settings.routing_key() else "off"
    buttons = "on" if settings.signing_secret() else "off"
    store = make_url(settings.database_url).render_as_string(hide_password=True)
    sweep = f"every {settings.sla_sweep_interval:g} s" if settings.sla_sweep_interval else "off"
    lines.append(
        (
            logging.INFO,
            f"Slack: {slack}; buttons {buttons}; PagerDuty: {pager}; "
            f"store: {store}; sweep: {sweep}",
        )
    )
    board = settings.board()
    shown = (
        f"{board[2]}/board (GitHub sign-in)"
        if board
        else "off (GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, SLA_PUBLIC_URL)"
    )
    lines.append((logging.INFO, f"status board: {shown}"))
    return lines


def broken_policy_alert(
    db: Database, time: Callable[[], datetime], channel: str | None
) -> BrokenReport:
    """Tell the admins in Slack, once per broken file content, through the outbox."""

    async def report(where: str, problems: str, text: str) -> None:
        if not channel:
            return
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        message = (
            f":warning: The SLA policy {escape(where)} is broken; sla-bot keeps using the last "
            f"good version (or the level below) until it is fixed.\n"
            f"```{escape(problems[:2500])}```"
        )
        payload = {"channel": channel, "text": message, "blocks": None, "thread_of": None}
        await db.run(
            outbox.enqueue,
            EffectKind.POLICY_BROKEN,
            key=keys.key("policy", "broken", where, digest),
            payload=payload,
            now=time(),
        )

    return report


def targets(settings: Settings) -> frozenset[str]:
    """Where this process can send effects: the targets whose credentials it has."""
    have = {
        outbox.GITHUB: settings.github_configured(),
        outbox.SLACK: settings.slack_token() is not None,
        outbox.PAGERDUTY: settings.routing_key() is not None,
    }
    return frozenset(target for target, ok in have.items() if ok)


def github_app(
    settings: Settings,
    *,
    http: Session,
    time: Callable[[], datetime],
    metrics: Metrics,
) -> GitHubApp | None:
    """The App's GitHub side, or None when no credentials are set (nothing acts on GitHub)."""
    if not settings.github_configured():
        key = settings.github_private_key or settings.github_private_key_path
        if settings.github_app_id or key:
            raise ConfigError(
                "GITHUB_APP_ID and GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH) go together"
            )
        return None
    github = GitHubApp(
        app_id=settings.app_id(),
        private_key=settings.private_key(),
        base_url=settings.github_api_url,
        http=http,
        time=time,
        observe=metrics.observe_github,
        # Paced (GitHub's limits): one write at a time per installation, as GitHub advises;
        # unpaced (SLA_GITHUB_WRITE_RATE=0, benchmarks): up to a wave's worth overlap.
        write_concurrency=1 if settings.sla_github_write_rate else WRITE_WAVE,
    )
    github.app_jwt()  # a key that cannot sign stops start-up, not the first delivery
    return github


def build(
    settings: Settings,
    *,
    time: Callable[[], datetime] = system_time,
    require_secret: bool = True,
    store_wait: float = 0.0,
    runner: WorkerProcess | None = None,
    create_store: bool = True,
) -> Services:
    """Wire everything; raises ConfigError naming the variable when a setting is wrong.

    `runner`: the worker process `serve` runs instead of the worker in its own process.
    `create_store`: False for every command but `serve` (a missing store is StoreMissing).
    """
    secret = settings.webhook_secret() if require_secret else ""
    fallback = fallback_policy(settings)  # a broken deployment policy is named before the store
    engine = open_engine(settings.database_url, store_wait, create=create_store)
    db = Database(engine)
    metrics = Metrics(db)
    http = Session(timeout=15.0, connect=5.0)
    # PagerDuty on a session of its own: its timeout is its own, its connections too.
    pagerduty_http = Session(timeout=settings.pagerduty_timeout, connect=5.0)
    github_http = Session(timeout=15.0, connect=5.0)
    github = github_app(settings, http=github_http, time=time, metrics=metrics)
    notifier = build_notifier(settings.slack_token(), settings.slack_api_url)
    gates, writer = Gates(), DeliveryWriter(db)
    # Routine work steps aside while the receiver has deliveries in hand (read or committing).
    scheduler = Scheduler(
        Yielding(
            in_flight=settings.sla_yield_in_flight,
            lag=settings.sla_yield_lag,
            most=settings.sla_yield_most,
        ),
        in_flight=lambda: gates.github.reading + writer.pending,
        tell=None if runner is None else runner.receiver_busy,
    )
    channels_read = channels.recorder(db, time)

    async def read_policy(installation_id: int | None, repo: str) -> Policy:
        return (await policies.read(installation_id, repo)).policy

    async def tracked_by(repo: str) -> int | None:
        return await db.run(repos.installation_of, repo)

    # With the worker in this process its policy reads tell the receiver (`on_read`); with
    # the worker in a process of its own, the receiver asks for itself (the tenant check
    # first: Urgency reads nothing for a delivery naming another installation).
    urgency = (
        Urgency(fallback)
        if runner is None
        else Urgency(fallback, read_policy, tracked_by=tracked_by)
    )

    async def policy_read(installation_id: int | None, repo: str, policy: Policy) -> None:
        await urgency.policy_read(installation_id, repo, policy)
        await channels_read(installation_id, repo, policy)

    policies = PolicyLoader(
        github,
        fallback,
        time,
        on_broken=broken_policy_alert(db, time, fallback.slack.channel),
        versions=lambda repo: db.run(repos.policy_version, repo),
        fallback_name="the deployment's policy (SLA_POLICY_FILE)"
        if settings.sla_policy_file
        else "the built-in policy",
        on_read=policy_read,
    )
    owner = f"worker-{uuid.uuid4().hex[:12]}"
    lease = timedelta(seconds=settings.sla_lease_seconds)
    dispatcher = Dispatcher(
        db=db,
        github=github,
        notifier=notifier,
        owner=owner,
        time=time,
        on_result=effect_observer(metrics),
        lease=lease,
        write_rate=settings.sla_github_write_rate,
        concurrency=WRITE_WAVE,
        scheduler=scheduler,
        pagerduty=(
            PagerDuty(pagerduty_http, key, settings.pagerduty_events_url)
            if (key := settings.routing_key())
            else None
        ),
        pagerduty_timeout=settings.pagerduty_timeout,
        targets=targets(settings),
    )
    token = settings.slack_token()
    api = SlackApi(token, settings.slack_api_url) if token else None
    dispatcher.senders.add(
        Sender(
            db=db, github=github, notifier=notifier, api=api, policies=policies, time=time
        ).kinds()
    )
    reconciler, runs = None, dict[JobKind, Run]()
    if github is not None:  # no job runs without GitHub
        reconciler = Reconciler(db=db, github=github, policies=policies)
        runs = {
            JobKind.RECONCILE: reconcile.run(reconciler, time),
            JobKind.REDELIVER: redeliver.run(github),
        }
    job_runner = JobRunner(
        db=db,
        scheduler=scheduler,
        time=time,
        owner=owner,
        lease=lease,
        runs=runs,
        on_result=job_observer(metrics),
    )
    sweeper = Sweeper(db=db, policies=policies, dispatcher=dispatcher, metrics=metrics, time=time)
    processor = Processor(
        db=db,
        router=router,
        policies=policies,
        owner=owner,
        metrics=metrics,
        lease=lease,
        roles=None if github is None else Roles(github, time),
    )
    worker = Worker(
        db=db,
        processor=processor,
        dispatcher=dispatcher,
        jobs=job_runner,
        sweeper=sweeper,
        scheduler=scheduler,
        time=time,
        listen=wakeups.listener(settings.database_url),
    )
    return Services(
        settings=settings,
        time=time,
        db=db,
        http=http,
        pagerduty_http=pagerduty_http,
        github_http=github_http,
        github=github,
        notifier=notifier,
        policies=policies,
        dispatcher=dispatcher,
        jobs=job_runner,
        reconciler=reconciler,
        sweeper=sweeper,
        worker=worker,
        metrics=metrics,
        writer=writer,
        webhook_secret=secret,
        runner=worker if runner is None else runner,
        scheduler=scheduler,
        urgency=urgency,
        gates=gates,
    )
