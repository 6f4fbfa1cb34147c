"""The `sla-bot` command: serve, work, sweep, deadline, check-policy, report, reconcile, deliveries,
register, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import ConfigError, Settings
from app.domain import Priority

if TYPE_CHECKING:
    from app.store.database import Database

log = logging.getLogger(__name__)


def _aware(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no UTC offset; write e.g. 2026-11-27T16:30:00+01:00"
        )
    return value


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.runtime.process import WorkerProcess, separate

    # Made before prometheus_client is first imported (below): /metrics shows both processes.
    share = separate(settings.sla_worker, settings.database_url)
    runner = WorkerProcess(share_metrics=True) if share else None

    from app.logs import configure
    from app.main import create_app
    from app.services import build, describe

    configure(settings)
    try:
        settings.webhook_secret()  # refuse to start without one, before binding the port
        # Every setting is checked here, before the port is bound; a database that is
        # starting beside us (compose, Kubernetes) is waited for, SLA_STORE_WAIT s at most.
        services = build(
            settings, store_wait=settings.sla_store_wait, github_via_aiohttp=True, runner=runner
        )
    except BaseException:
        if runner is not None:
            runner.forget_dir()
        raise
    for level, line in describe(settings, f"http://{args.host}:{args.port}"):
        log.log(level, line)
    log.info("worker: %s (SLA_WORKER=%s)",
             "in this process" if runner is None else "a process of its own",
             settings.sla_worker)  # fmt: skip
    uvicorn.run(
        create_app(settings, services=services), host=args.host, port=args.port,
        access_log=False, log_config=None,
        # Deliberate limits (slow or greedy clients): idle keep-alive connections close after
        # 5 s, and past 1,000 connections new ones get 503 instead of exhausting descriptors.
        # A body that stalls is dropped by the receiver; put a reverse proxy in front for
        # clients that are slow before their headers end.
        timeout_keep_alive=5, limit_concurrency=1000, backlog=2048,
    )  # fmt: skip
    return 0


def cmd_work(args: argparse.Namespace, settings: Settings) -> int:
    """The worker alone: stored deliveries processed, effects sent, the sweep; no HTTP.
    `serve` runs it with --kick-fd (it stops when that pipe closes); run on its own, it
    looks for new work twice a second."""
    import signal

    from app.logs import configure
    from app.runtime.process import STANDALONE_POLL, listen, run_loop
    from app.services import build

    configure(settings)
    services = build(
        settings, store_wait=settings.sla_store_wait, github_via_aiohttp=True,
        require_secret=False,
    )  # fmt: skip

    async def run() -> int:
        loop, done = asyncio.get_running_loop(), asyncio.Event()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, done.set)
        worker = services.worker
        if args.kick_fd is not None:

            def kicked(urgent: bool, stored: int, look: bool) -> None:
                if stored:
                    worker.kick(urgent=urgent, stored=stored)
                if look:
                    worker.kick(urgent=urgent)

            listen(args.kick_fd, kicked, done.set)
        else:
            worker.poll = STANDALONE_POLL
        worker.start(settings.sla_sweep_interval, services.maintenance())
        worker.kick()  # what was stored before it started
        try:
            await done.wait()
        finally:
            await services.aclose()
        return 0

    return run_loop(run())


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    from app.logs import configure
    from app.services import build

    configure(settings)

    async def run() -> int:
        services = build(settings, require_secret=False)
        try:
            now = args.now or services.clock()
            if args.dry_run:
                for line in await services.sweeper.preview(now):
                    print(line)
                print(f"dry run at {now.isoformat()}: nothing was changed or sent")
                return 0
            await services.worker.drain()
            result = await services.sweeper.sweep(now)
        finally:
            await services.aclose()
        print(
            f"sweep at {now.isoformat()}: {result.breached} breached, "
            f"{result.warned} warned, {result.sent} effects sent"
        )
        return 0

    return asyncio.run(run())


def cmd_deadline(args: argparse.Namespace, settings: Settings) -> int:
    from app.domain import Priority
    from app.services import fallback_policy
    from app.sla.policy import load_policy_file

    policy = load_policy_file(args.policy) if args.policy else fallback_policy(settings)
    try:
        priority = Priority(args.priority)
    except ValueError:
        names = ", ".join(p.value for p in Priority)
        print(f"sla-bot: unknown priority {args.priority!r} (one of: {names})", file=sys.stderr)
        return 2
    due = policy.due_at(priority, args.start)
    print(due.astimezone(policy.tz).isoformat())
    return 0


def cmd_check_policy(args: argparse.Namespace, settings: Settings) -> int:
    from app.sla.policy import PolicyError, load_policy_file

    try:
        load_policy_file(args.file)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"{args.file}: ok")
    return 0


def existing_store(settings: Settings) -> None:
    """Commands that read the store refuse to make an empty one in the wrong folder."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    on_disk = url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:")
    if on_disk and not Path(str(url.database)).exists():
        raise ConfigError(
            f"DATABASE_URL: no store at {url.database} (run where `sla-bot serve` keeps it, "
            "or set DATABASE_URL)"
        )


@contextlib.contextmanager
def open_store(settings: Settings) -> Iterator[Database]:
    """The store `serve` keeps, for the commands that read it (never an empty new one)."""
    from app.store import make_engine, migrate
    from app.store.database import Database

    existing_store(settings)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        yield Database(engine)
    finally:
        engine.dispose()


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    from app import report
    from app.clock import system_clock
    from app.services import fallback_policy
    from app.store import clocks

    now = system_clock()
    since = now - timedelta(days=args.since)
    with open_store(settings) as db:
        found = db.tx(clocks.started_since, since, args.repo)
    if args.repo and not found:
        print(f"sla-bot: no requests for {args.repo} since {since:%Y-%m-%d}", file=sys.stderr)
        return 1
    rows = report.summarize(found, now)
    scope = f" for {args.repo}" if args.repo else ""
    title = f"SLA report{scope}, requests since {since:%Y-%m-%d} ({args.since} days)"
    tz = fallback_policy(settings).tz

    def html() -> str:
        from app.report_html import as_html

        return as_html(rows, found, now, title, tz)

    formats = {"table": lambda: report.as_table(rows, title), "json": lambda: report.as_json(rows),
               "csv": lambda: report.as_csv(rows), "html": html}  # fmt: skip
    print(formats[args.format]())
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Where every clock stands, in the policy's time zone: what is due when, what breached,
    how long it waited on the customer, and what started and ended it."""
    from app.clock import system_clock
    from app.notify.markdown import printable
    from app.report import status_line
    from app.services import fallback_policy
    from app.store import clocks

    if args.issue and not args.issue.partition("#")[2].isdigit():
        print("sla-bot: --issue takes OWNER/NAME#NUMBER", file=sys.stderr)
        return 2
    with open_store(settings) as db:
        if args.issue:
            repo, _, number = args.issue.partition("#")
            found = db.tx(clocks.of_issue, repo, int(number))
        else:
            found = db.tx(clocks.open_clocks, args.repo)
    tz, now = fallback_policy(settings).tz, system_clock()
    if not found:
        print("no running clocks" if not args.issue else f"no clocks for {args.issue}")
    for clock in found:  # titles and names are GitHub's text: no escape sequence reaches the tty
        print(printable(status_line(clock, tz, now)))
    return 0


def cmd_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    from app.notify.markdown import printable
    from app.store import deliveries, outbox

    with open_store(settings) as db:
        if args.replay:
            if not (db.tx(deliveries.replay, args.replay) or db.tx(outbox.replay, args.replay)):
                print(f"sla-bot: no dead or done delivery and no dead effect {args.replay!r}",
                      file=sys.stderr)  # fmt: skip
                return 1
            print(f"{args.replay}: queued again; a running `sla-bot serve` sends it shortly")
            return 0
        failed = db.tx(deliveries.failed)
        effects = db.tx(outbox.failed)
    if not failed:
        print("no failed deliveries")
    for d in failed:
        where = f"{d.repo}#{d.issue_number}" if d.issue_number else (d.repo or "-")
        state = "retrying" if d.status == deliveries.PENDING else d.status
        print(printable(f"{d.id}  {d.received_at:%Y-%m-%d %H:%M:%S}Z  {d.event}."
                        f"{d.action or '-'}  {where}  {state} after {d.attempts} attempt(s): "
                        f"{d.last_error}"))  # fmt: skip
    for item, error in effects:
        where = f"{item.repo}#{item.issue_number}" if item.issue_number else (item.repo or "-")
        state = "retrying" if item.status == outbox.PENDING else item.status
        print(printable(f"effect {item.key}  {item.target} {item.kind}  {where}  {state} "
                        f"after {item.attempts} attempt(s): {error}"))  # fmt: skip
    return 0


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from app.logs import configure
    from app.services import build
    from app.store import repos

    configure(settings)

    async def run() -> int:
        services = build(settings, require_secret=False)
        try:
            reconciler = services.dispatcher.reconciler
            if services.github is None or reconciler is None:
                raise ConfigError("GITHUB_APP_ID and GITHUB_PRIVATE_KEY are required to reconcile")
            targets = await services.db.run(repos.active)
            if args.repo:
                targets = [t for t in targets if t[0] == args.repo] or [
                    (args.repo, await services.github.installation_of(args.repo))
                ]
            now = services.clock()
            for repo, installation_id in targets:
                changes = await reconciler.repo(installation_id, repo, now)
                summary = ", ".join(f"{n} {what}" for what, n in sorted(changes.items()))
                print(f"{repo}: {summary or 'no open issues'}")
            await services.dispatcher.drain()
        finally:
            await services.aclose()
        return 0

    return asyncio.run(run())


def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.logs import configure
    from app.main import create_app
    from app.sandbox import Sandbox, mount
    from app.services import build

    configure(settings)
    sandbox = Sandbox(settings)
    sandbox.url = f"http://{args.host}:{args.port}"
    try:
        services = build(sandbox.settings, github_via_aiohttp=True)
        print(f"sla-bot sandbox: the real server on {sandbox.url}, GitHub and Slack played by "
              "local stand-ins (no credentials).")  # fmt: skip
        print(f"  webhook URL:    {sandbox.url}/webhooks/github")
        print(f"  webhook secret: {sandbox.secret}")
        print(f"  what GitHub and Slack received: {sandbox.url}/sandbox")
        print(f"  open a sample issue:\n    {sandbox.curl()}")
        uvicorn.run(mount(create_app(sandbox.settings, services=services), sandbox),
                    host=args.host, port=args.port, access_log=False, log_config=None)  # fmt: skip
    finally:
        sandbox.close()
    return 0


def cmd_forms(args: argparse.Namespace, settings: Settings) -> int:
    from app.forms import render
    from app.services import fallback_policy
    from app.sla.policy import load_policy_file

    policy = load_policy_file(args.policy) if args.policy else fallback_policy(settings)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in render(policy).items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(args.out / name)
    from app.forms import web

    if not (web(policy.contacts.slack_help_url) and web(policy.contacts.escalation_url)):
        print("sla-bot: config.yml links to EXAMPLE URLs: set contacts.slack_help_url and "
              "contacts.escalation_url in the policy to http(s) pages (GitHub takes no tel: "
              "links)", file=sys.stderr)  # fmt: skip
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from app.demo import run_demo

    # With DATABASE_URL set, the demo week stays there: try `report` on it afterwards.
    keep = settings.database_url if "database_url" in settings.model_fields_set else None
    return run_demo(database_url=keep)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="sla-bot", description=__doc__, epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    top.add_argument("--version", action="version", version=f"sla-bot {_version()}")
    top.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = top.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="webhook server plus the periodic sweep")
    serve.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    serve.set_defaults(run=cmd_serve)
    work = sub.add_parser(
        "work", help="the worker alone (deliveries, effects, sweep), no HTTP; serve starts it",
        description="Process stored deliveries, send effects, sweep (SLA_SWEEP_INTERVAL) and "
        "check for missed deliveries, with no HTTP server; stops on SIGTERM. `serve` starts "
        "one itself when SLA_WORKER says so; run on its own, it looks for new work twice a "
        "second. On PostgreSQL several share the work, as replicas do.",
    )  # fmt: skip
    work.add_argument("--kick-fd", type=int, default=None, help=argparse.SUPPRESS)
    work.set_defaults(run=cmd_work)
    sweep = sub.add_parser("sweep", help="one sweep pass")
    sweep.add_argument(
        "--now", type=_aware, metavar="ISO-8601",
        help="decide as if it were this time (e.g. 2026-11-30T09:31:00+01:00): clocks due by "
        "then breach and their alerts ARE SENT for real; default: now",
    )  # fmt: skip
    sweep.add_argument(
        "--dry-run", action="store_true",
        help="print what would breach, warn or escalate, and change or send nothing",
    )  # fmt: skip
    sweep.set_defaults(run=cmd_sweep)
    deadline = sub.add_parser("deadline", help="print the due time of a clock started then")
    deadline.add_argument("--priority", required=True,
                          help=f"one of: {', '.join(str(p) for p in Priority)}")  # fmt: skip
    deadline.add_argument(
        "--start", required=True, type=_aware, metavar="ISO-8601",
        help="when the clock started, with its UTC offset (2026-11-27T16:30:00+01:00)",
    )  # fmt: skip
    deadline.add_argument("--policy", type=Path, help="a policy file (default: SLA_POLICY_FILE)")
    deadline.set_defaults(run=cmd_deadline)
    rep = sub.add_parser("report", help="SLA compliance per priority and request type")
    rep.add_argument(
        "--since",
        type=_days,
        default=30,
        metavar="DAYS",
        help="requests opened in the last DAYS days (default: %(default)s)",
    )
    rep.add_argument("--repo", metavar="OWNER/NAME", help="one repository (default: all)")
    rep.add_argument("--format", choices=("table", "json", "csv", "html"), default="table",
                     help="(default: %(default)s)")  # fmt: skip
    rep.set_defaults(run=cmd_report)
    rec = sub.add_parser("reconcile", help="rebuild clocks from GitHub's record")
    rec.add_argument("--repo", metavar="OWNER/NAME", help="one repository (default: all)")
    rec.set_defaults(run=cmd_reconcile)
    from app import register

    reg = sub.add_parser("register", help="create the GitHub App from its manifest; write .env")
    register.configure_parser(reg)
    reg.set_defaults(run=register.cmd_register)
    forms = sub.add_parser("forms", help="write the issue forms and config.yml from a policy")
    forms.add_argument("--policy", type=Path, help="a policy file (default: SLA_POLICY_FILE)")
    forms.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="where to write them, e.g. .github/ISSUE_TEMPLATE")  # fmt: skip
    forms.set_defaults(run=cmd_forms)
    box = sub.add_parser(
        "sandbox", help="serve on local GitHub and Slack stand-ins, no credentials"
    )
    box.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    box.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    box.set_defaults(run=cmd_sandbox)
    demo = sub.add_parser("demo", help="replay a scripted support week, no credentials needed")
    demo.set_defaults(run=cmd_demo)
    stat = sub.add_parser("status", help="where every clock stands: due when, breached, met")
    which = stat.add_mutually_exclusive_group()
    which.add_argument("--repo", metavar="OWNER/NAME", help="running clocks of one repository")
    which.add_argument("--issue", metavar="OWNER/NAME#N", help="every clock an issue had")
    stat.set_defaults(run=cmd_status)
    dels = sub.add_parser("deliveries", help="failed deliveries: list them, replay one")
    mode = dels.add_mutually_exclusive_group(required=True)
    mode.add_argument("--failed", action="store_true", help="list dead and retrying deliveries")
    mode.add_argument(
        "--replay", metavar="ID", help="queue a dead delivery (its id) or effect (its key) again"
    )
    dels.set_defaults(run=cmd_deliveries)
    check = sub.add_parser("check-policy", help="validate a policy file")
    check.add_argument("file", type=Path)
    check.set_defaults(run=cmd_check_policy)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    from app.errors import explain

    args = parser().parse_args(argv)
    run: Callable[[argparse.Namespace, Settings], int] = args.run
    debug = args.debug or os.environ.get("LOG_LEVEL", "").upper() == "DEBUG"
    settings = None
    try:
        settings = Settings()
        return run(args, settings)
    except KeyboardInterrupt:
        print("sla-bot: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = explain(exc, settings)
        if message is None or debug:
            raise
        print(f"sla-bot: {message}", file=sys.stderr)
        return 2


def _days(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days (1 or more)")
    return int(text)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sla-bot")
    except PackageNotFoundError:
        return "unknown"


ENVIRONMENT = """environment (see README.md, "Configuration"):
  GITHUB_APP_ID, GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, GITHUB_WEBHOOK_SECRET,
  GITHUB_API_URL, SLACK_BOT_TOKEN, SLACK_CHANNEL, SLACK_API_URL, SLACK_SIGNING_SECRET,
  PAGERDUTY_ROUTING_KEY, PAGERDUTY_EVENTS_URL, PAGERDUTY_WEBHOOK_SECRET,
  DATABASE_URL (default sqlite:///sla-bot.db),
  SLA_POLICY_FILE, SLA_SWEEP_INTERVAL (60), SLA_LEASE_SECONDS (15), SLA_REDELIVER_INTERVAL
  (600), SLA_RECONCILE_INTERVAL (21600), SLA_STORE_WAIT (60), SLA_GITHUB_WRITE_RATE (80),
  SLA_WORKER (auto|process|inline),
  LOG_FORMAT (text|json),
  LOG_LEVEL (INFO)"""


if __name__ == "__main__":
    sys.exit(main())
