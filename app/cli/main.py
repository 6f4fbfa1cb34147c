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
from typing import IO, TYPE_CHECKING

from app.config import ConfigError, Settings
from app.sla.domain import Priority

if TYPE_CHECKING:
    from app.sla.policy import Policy
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

    from app.engine.process import WorkerProcess, collect_rarely, separate

    # Made before prometheus_client is first imported (below): /metrics shows both processes.
    share = separate(settings.sla_worker, settings.database_url)
    runner = WorkerProcess(share_metrics=True) if share else None

    from app.http.main import create_app
    from app.jobs.targets import startup
    from app.logs import configure
    from app.services import build, describe, targets

    configure(settings)
    lock = None
    try:
        settings.webhook_secret()  # refuse to start without one, before binding the port
        lock = one_server(settings.database_url)  # held until the process ends
        # Every setting is checked here, before the port is bound; a database that is
        # starting beside us (compose, Kubernetes) is waited for, SLA_STORE_WAIT s at most.
        services = build(settings, store_wait=settings.sla_store_wait, runner=runner)
    except BaseException:
        if runner is not None:
            runner.forget_dir()
        if lock is not None:
            lock.close()
        raise
    for level, line in describe(settings, f"http://{args.host}:{args.port}"):
        log.log(level, line)
    # The deployment's targets are those its `serve` has credentials for (app/jobs/targets.py).
    for level, line in startup(services.db, targets(settings), services.time()):
        log.log(level, line)
    log.info(
        "worker: %s (SLA_WORKER=%s)",
        "in this process" if runner is None else "a process of its own",
        settings.sla_worker,
    )
    app = create_app(settings, services=services, check_key=True)
    collect_rarely()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,
        log_config=None,
        # Deliberate limits (slow or greedy clients): idle keep-alive connections close after
        # 5 s, and past 1,000 connections new ones get 503 instead of exhausting descriptors.
        # A body that stalls is dropped by the receiver; put a reverse proxy in front for
        # clients that are slow before their headers end.
        timeout_keep_alive=5,
        limit_concurrency=1000,
        backlog=2048,
    )
    return 0


def one_server(database_url: str) -> IO[str] | None:
    """SQLite is one process's store: a second `serve` on the same file is refused (an
    exclusive lock on `<file>.lock`, released by the kernel when the holder exits, however it
    exits). The open lock file is returned, to be held for the process's life."""
    import fcntl

    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    path = Path(f"{url.database}.lock")
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ConfigError(
            f"DATABASE_URL: another `sla-bot serve` ({holder}) is using {url.database}; a SQLite "
            "store is for one server: stop that one, or use PostgreSQL for several replicas"
        ) from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


def cmd_work(args: argparse.Namespace, settings: Settings) -> int:
    """The worker alone: stored deliveries processed, effects sent, jobs run, the sweep; no
    HTTP. `serve` runs it with --kick-fd (it stops when that pipe closes); run on its own, it
    looks for new work twice a second."""
    import signal

    from app.engine.process import STANDALONE_POLL, collect_rarely, listen, run_loop
    from app.logs import configure
    from app.services import build

    configure(settings)
    services = build(
        settings,
        store_wait=settings.sla_store_wait,
        require_secret=False,
        create_store=False,
    )
    collect_rarely()

    async def run() -> int:
        loop, done = asyncio.get_running_loop(), asyncio.Event()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, done.set)
        worker = services.worker
        if args.kick_fd is not None:
            listen(args.kick_fd, worker.kick, done.set, worker.scheduler.receiver_busy)
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
    from app.jobs.targets import owed_line
    from app.logs import configure
    from app.services import build
    from app.store import meta

    configure(settings)

    async def run() -> int:
        services = build(settings, require_secret=False, create_store=False)
        try:
            now = args.now or services.time()
            if args.dry_run:
                for line in await services.sweeper.preview(now):
                    print(line)
                print(f"dry run at {now.isoformat()}: nothing was changed or sent")
                return 0
            await services.worker.drain()
            result = await services.sweeper.sweep(now)
            owed = await services.dispatcher.owed()
            used = await services.db.run(meta.targets)
        finally:
            await services.aclose()
        unused = f", {result.not_sent} not sent (target not used)" if result.not_sent else ""
        print(
            f"sweep at {now.isoformat()}: {result.breached} breached, "
            f"{result.warned} warned, {result.sent} effects sent{unused}"
        )
        owes = owed_line(owed, used)
        if owes is None:
            return 0
        print(f"sla-bot: {owes}", file=sys.stderr)  # never marked sent: cron must not look fine
        return 1

    return asyncio.run(run())


def cmd_deadline(args: argparse.Namespace, settings: Settings) -> int:
    from app.services import fallback_policy
    from app.sla.policy import load_policy_file

    policy = load_policy_file(args.policy) if args.policy else fallback_policy(settings)
    priority = next((p for p in policy.priorities if p == args.priority), None)
    if priority is None:
        names = ", ".join(str(p) for p in policy.priorities)
        print(f"sla-bot: unknown priority {args.priority!r} (one of: {names})", file=sys.stderr)
        return 2
    due = policy.due_at(priority, args.start)
    print(due.astimezone(policy.tz).isoformat())
    return 0


def cmd_check_policy(args: argparse.Namespace, settings: Settings) -> int:
    from app.sla.changes import changes
    from app.sla.policy import PolicyError, load_policy_file

    try:
        policy = load_policy_file(args.file)
        was = load_policy_file(args.was) if args.was else None
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"{args.file}: ok")
    for line in changes(was, policy) if was is not None else ():
        print(f"  {line}")
    return 0


@contextlib.contextmanager
def existing_store(settings: Settings) -> Iterator[Database]:
    """The store `serve` keeps, for the commands that read it (never an empty new one)."""
    from app.store import open_engine
    from app.store.database import Database

    engine = open_engine(settings.database_url, create=False)
    try:
        yield Database(engine)
    finally:
        engine.dispose()


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    from app.reports import report
    from app.reports.names import names_of
    from app.services import fallback_policy
    from app.store import clocks
    from app.time_source import system_time

    meeting = args.customer is not None or args.format in ("html", "md")
    if args.customer is not None and args.format == "table":
        args.format = "md"
    days = args.since or (14 if meeting else 30)
    now = system_time()
    since = now - timedelta(days=days)
    if meeting:
        from app.sla.policy import load_policy_file

        policy = load_policy_file(args.policy) if args.policy else fallback_policy(settings)
        return report_meetings(args, settings, policy, since, now)
    with existing_store(settings) as db:
        found = db.tx(clocks.started_since, since, args.repo)
    if args.repo and not found:
        print(f"sla-bot: no requests for {args.repo} since {since:%Y-%m-%d}", file=sys.stderr)
        return 1
    rows = report.summarize(found, now, names_of(fallback_policy(settings)))
    scope = f" for {args.repo}" if args.repo else ""
    title = f"SLA report{scope}, requests since {since:%Y-%m-%d} ({days} days)"
    formats = {
        "table": lambda: report.as_table(rows, title),
        "json": lambda: report.as_json(rows),
        "csv": lambda: report.as_csv(rows),
    }
    print(formats[args.format]())
    return 0


def report_meetings(
    args: argparse.Namespace, settings: Settings, policy: Policy, since: datetime, now: datetime
) -> int:
    """`report --customer KEY` (any format) and `report --format html|md` (every customer)."""
    from app.reports import meeting_export, report_html
    from app.reports.meeting import UnknownCustomer, from_store

    with existing_store(settings) as db:
        try:
            meetings = db.tx(from_store, policy, since, now, args.customer)
        except UnknownCustomer as exc:
            known = ", ".join(exc.known) or "none with requests in this period"
            print(f"sla-bot: no customer {exc.key!r} (customers: {known})", file=sys.stderr)
            return 1
    if args.format == "html":
        title = f"Status meetings, since {since.astimezone(policy.tz):%Y-%m-%d}"
        one = args.customer is not None
        text = report_html.as_html(meetings[0]) if one else report_html.as_html_all(meetings, title)
    elif args.format == "md":
        text = "\n".join(meeting_export.as_markdown(m) for m in meetings)
    elif args.format == "json":
        text = meeting_export.as_json(meetings, policy)
    else:
        text = meeting_export.as_csv(meetings, policy)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Where every clock stands, in the policy's time zone: what is due when, what breached,
    how long it waited on the customer, and what started and ended it."""
    from app.notify.markdown import printable
    from app.reports.names import names_of
    from app.reports.report import status_line
    from app.services import fallback_policy
    from app.store import clocks
    from app.time_source import system_time

    if args.issue and not args.issue.partition("#")[2].isdigit():
        print("sla-bot: --issue takes OWNER/NAME#NUMBER", file=sys.stderr)
        return 2
    with existing_store(settings) as db:
        if args.issue:
            repo, _, number = args.issue.partition("#")
            found = db.tx(clocks.of_issue, repo, int(number))
        else:
            found = db.tx(clocks.open_clocks, args.repo)
    policy, now = fallback_policy(settings), system_time()
    names = names_of(policy)
    if not found:
        print("no running clocks" if not args.issue else f"no clocks for {args.issue}")
    for clock in found:  # titles and names are GitHub's text: no escape sequence reaches the tty
        print(printable(status_line(clock, policy.tz, now, names)))
    return 0


def reach(days: int, now: datetime) -> str:
    """How far back `--replay` reaches: processed deliveries are deleted after the retention."""
    from datetime import timedelta

    if not days:
        return "processed deliveries are kept for ever (SLA_RETENTION_DAYS=0): --replay reaches all"
    since = now - timedelta(days=days)
    return (
        f"processed deliveries, finished effects and jobs are kept {days} days "
        "(SLA_RETENTION_DAYS): "
        f"--replay reaches back to {since:%Y-%m-%d}"
    )


def cmd_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    from app.notify.markdown import printable
    from app.store import deliveries, jobs, outbox
    from app.time_source import system_time

    with existing_store(settings) as db:
        if args.replay:
            replays = (deliveries.replay, outbox.replay, jobs.replay)
            if not any(db.tx(replay, args.replay) for replay in replays):
                print(
                    f"sla-bot: no dead or done delivery and no dead effect or job {args.replay!r}",
                    file=sys.stderr,
                )
                return 1
            print(f"{args.replay}: queued again; a running `sla-bot serve` takes it up shortly")
            return 0
        failed = db.tx(deliveries.failed)
        effects = db.tx(outbox.failed)
        dead_jobs = db.tx(jobs.failed)
    print(reach(settings.sla_retention_days, system_time()))
    if not failed:
        print("no failed deliveries")
    for d in failed:
        where = f"{d.repo}#{d.issue_number}" if d.issue_number else (d.repo or "-")
        state = "retrying" if d.status == deliveries.PENDING else d.status
        print(
            printable(
                f"{d.id}  {d.received_at:%Y-%m-%d %H:%M:%S}Z  {d.event}."
                f"{d.action or '-'}  {where}  {state} after {d.attempts} attempt(s): "
                f"{d.last_error}"
            )
        )
    for item, error in effects:
        where = f"{item.repo}#{item.issue_number}" if item.issue_number else (item.repo or "-")
        state = "retrying" if item.status == outbox.PENDING else item.status
        print(
            printable(
                f"effect {item.key}  {item.target} {item.kind}  {where}  {state} "
                f"after {item.attempts} attempt(s): {error}"
            )
        )
    for job in dead_jobs:
        state = "retrying" if job.status == jobs.PENDING else job.status
        print(
            printable(
                f"job {job.key}  {job.kind}  {job.repo or '-'}  {state} "
                f"after {job.attempts} attempt(s): {job.last_error}"
            )
        )
    return 0


def cmd_targets(args: argparse.Namespace, settings: Settings) -> int:
    """The targets the deployment uses (as `serve` recorded them); --remove one."""
    from app.jobs import targets
    from app.store import meta, outbox
    from app.time_source import system_time

    with existing_store(settings) as db:
        if args.remove:
            settled = targets.remove(db, args.remove, system_time())
            if settled is None:
                print(f"sla-bot: this deployment does not use {args.remove}", file=sys.stderr)
                return 1
            print(
                f"{args.remove}: no longer used by this deployment; {settled} pending effects "
                "recorded not sent (a `serve` started with its credentials uses it again)"
            )
            return 0
        used = db.tx(meta.targets)
        pending = db.tx(outbox.owed, outbox.TARGETS)
    if used is None:
        print("not recorded yet: `sla-bot serve` records the targets it has credentials for")
        return 0
    for target in outbox.TARGETS:
        if target in used:
            since = f"{used[target]:%Y-%m-%d %H:%M} UTC"
            print(f"{target}: used since {since}; {pending.get(target, 0)} effects pending")
        else:
            print(f"{target}: not used ({targets.CREDENTIALS[target]}): effects recorded not sent")
    return 0


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from app.logs import configure
    from app.services import build
    from app.store import repos

    configure(settings)

    async def run() -> int:
        services = build(settings, require_secret=False, create_store=False)
        try:
            reconciler = services.reconciler
            if services.github is None or reconciler is None:
                raise ConfigError("GITHUB_APP_ID and GITHUB_PRIVATE_KEY are required to reconcile")
            targets = await services.db.run(repos.active)
            if not targets and not args.repo:
                print(
                    "sla-bot: no repositories known to this store yet: `sla-bot serve` records "
                    "them when the App is installed; or name one with --repo OWNER/NAME",
                    file=sys.stderr,
                )
                return 1
            if args.repo:
                targets = [t for t in targets if t[0] == args.repo] or [
                    (args.repo, await services.github.installation_of(args.repo))
                ]
            now = services.time()
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

    from app.http.main import create_app
    from app.logs import configure
    from app.services import build
    from sla_sandbox.demo import store_banner, store_url
    from sla_sandbox.sandbox import Sandbox, mount

    configure(settings)
    keep = store_url(args.store) if args.store else None
    sandbox = Sandbox(settings, keep)
    sandbox.url = f"http://{args.host}:{args.port}"
    try:
        services = build(sandbox.settings)
        print(
            f"sla-bot sandbox: the real server on {sandbox.url}, GitHub and Slack played by "
            "local stand-ins (no credentials)."
        )
        print(f"  webhook URL:    {sandbox.url}/webhooks/github")
        print(f"  webhook secret: {sandbox.secret}")
        print(f"  what GitHub and Slack received: {sandbox.url}/sandbox")
        print(f"  store: {store_banner(keep)}")
        print(f"  open a sample issue:\n    {sandbox.curl()}")
        print(f"  call the escalation number:\n    {sandbox.call_curl()}")
        uvicorn.run(
            mount(create_app(sandbox.settings, services=services), sandbox),
            host=args.host,
            port=args.port,
            access_log=False,
            log_config=None,
        )
    finally:
        sandbox.close()
    return 0


def cmd_forms(args: argparse.Namespace, settings: Settings) -> int:
    from app.forms import placeholders, render
    from app.services import fallback_policy
    from app.sla.policy import load_policy_file

    policy = load_policy_file(args.policy) if args.policy else fallback_policy(settings)
    source = args.policy or settings.sla_policy_file
    refused = placeholders(policy)
    for key, url in refused:  # published, an example link sends customers nowhere
        where = f"{source}:{_line_of(source, key)}" if source else "the policy"
        print(
            f"{where}: {key}: {url!r} is a placeholder: set the team's real link",
            file=sys.stderr,
        )
    if refused:
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    files = render(policy)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(args.out / name)
    for stale in sorted(set(p.name for p in args.out.glob("*.yml")) - set(files)):
        print(f"sla-bot: {args.out / stale}: not a type of this policy: delete it", file=sys.stderr)
    _tell_links(policy)
    return 0


def _line_of(source: Path | str, key: str) -> int | None:
    """The line of a dotted key in a policy file (the file was just read: it parses)."""
    from app.sla.policy_file import line_of, read_yaml

    _, lines, _ = read_yaml(Path(source).read_text(encoding="utf-8"))
    return line_of(lines, tuple(key.split(".")))


def _tell_links(policy: Policy) -> None:
    """What config.yml links to, and why a link the policy has is not in it."""
    from app.forms import web

    contacts = policy.contacts
    if contacts.escalation_url and not web(contacts.escalation_url):
        print(
            f"sla-bot: {contacts.escalation_url} is written in the forms' text, not linked in "
            "config.yml: GitHub's contact links take http(s) URLs only",
            file=sys.stderr,
        )
    missing = [key for key in ("slack_help_url", "escalation_url") if not getattr(contacts, key)]
    if missing:
        names = " and ".join(f"contacts.{key}" for key in missing)
        print(
            f"sla-bot: config.yml has no link for {names} (not set in the policy)", file=sys.stderr
        )


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from sla_sandbox.demo import run_demo, store_url

    # Never the operator's store (DATABASE_URL, ./sla-bot.db): a temporary one unless --store.
    return run_demo(database_url=store_url(args.store) if args.store else None, page=args.page)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="sla-bot",
        description=__doc__,
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"sla-bot {_version()}")
    top.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = top.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="webhook server plus the periodic sweep")
    serve.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default: %(default)s)")
    serve.set_defaults(run=cmd_serve)
    work = sub.add_parser(
        "work",
        help="the worker alone (deliveries, effects, jobs, sweep), no HTTP; serve starts it",
        description="Process stored deliveries, send effects, run jobs (reconciles, "
        "redeliveries), sweep (SLA_SWEEP_INTERVAL) and check for missed deliveries, with no "
        "HTTP server; stops on SIGTERM. `serve` starts one itself when SLA_WORKER says so; run "
        "on its own, it looks for new work twice a second. On PostgreSQL several share the "
        "work, as replicas do.",
    )
    work.add_argument("--kick-fd", type=int, default=None, help=argparse.SUPPRESS)
    work.set_defaults(run=cmd_work)
    sweep = sub.add_parser("sweep", help="one sweep pass")
    sweep.add_argument(
        "--now",
        type=_aware,
        metavar="ISO-8601",
        help="decide as if it were this time (e.g. 2026-11-30T09:31:00+01:00): clocks due by "
        "then breach and their alerts ARE SENT for real; default: now",
    )
    sweep.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would breach, warn or escalate, and change or send nothing",
    )
    sweep.set_defaults(run=cmd_sweep)
    deadline = sub.add_parser("deadline", help="print the due time of a clock started then")
    deadline.add_argument(
        "--priority",
        required=True,
        help=f"a key of the policy's priorities (built in: {', '.join(Priority)})",
    )
    deadline.add_argument(
        "--start",
        required=True,
        type=_aware,
        metavar="ISO-8601",
        help="when the clock started, with its UTC offset (2026-11-27T16:30:00+01:00)",
    )
    deadline.add_argument("--policy", type=Path, help="a policy file (default: SLA_POLICY_FILE)")
    deadline.set_defaults(run=cmd_deadline)
    rep = sub.add_parser(
        "report",
        help="SLA compliance; --customer KEY: a customer's status-meeting page",
        description="Without --customer: SLA compliance per priority, type, target and "
        "repository (table, json, csv), or with --format html|md the status-meeting page of "
        "every customer, one section each with an index. With --customer KEY: that "
        "customer's status-meeting page: open requests now, what happened since the last "
        "meeting (--since), incidents, SLA per target and priority, trend, every breach; "
        "json and csv carry per-request rows and the period.",
    )
    rep.add_argument(
        "--since",
        type=_days,
        default=None,
        metavar="DAYS",
        help="the last DAYS days (default: 14 for a meeting page, 30 for the compliance table)",
    )
    rep.add_argument("--repo", metavar="OWNER/NAME", help="one repository (default: all)")
    rep.add_argument(
        "--customer",
        metavar="KEY",
        help="one customer of the policy's `customers:` (without it: OWNER/NAME)",
    )
    rep.add_argument(
        "--format",
        choices=("table", "json", "csv", "html", "md"),
        default="table",
        help="(default: %(default)s; md with --customer)",
    )
    rep.add_argument("--policy", type=Path, help="a policy file (default: SLA_POLICY_FILE)")
    rep.add_argument("--out", type=Path, metavar="FILE", help="write the page to FILE")
    rep.set_defaults(run=cmd_report)
    rec = sub.add_parser("reconcile", help="rebuild clocks from GitHub's record")
    rec.add_argument("--repo", metavar="OWNER/NAME", help="one repository (default: all)")
    rec.set_defaults(run=cmd_reconcile)
    from app.cli import register

    reg = sub.add_parser("register", help="create the GitHub App from its manifest; write .env")
    register.configure_parser(reg)
    reg.set_defaults(run=register.cmd_register)
    forms = sub.add_parser("forms", help="write the issue forms and config.yml from a policy")
    forms.add_argument("--policy", type=Path, help="a policy file (default: SLA_POLICY_FILE)")
    forms.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="where to write them, e.g. .github/ISSUE_TEMPLATE",
    )
    forms.set_defaults(run=cmd_forms)
    box = sub.add_parser(
        "sandbox", help="serve on local GitHub and Slack stand-ins, no credentials"
    )
    box.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    box.add_argument("--port", type=_port, default=8000, help="port (default: %(default)s)")
    box.add_argument("--store", metavar="PATH", help=STORE_HELP)
    box.set_defaults(run=cmd_sandbox)
    demo = sub.add_parser("demo", help="replay a scripted support week, no credentials needed")
    demo.add_argument("--store", metavar="PATH", help=STORE_HELP)
    demo.add_argument(
        "--page",
        type=Path,
        metavar="FILE",
        help="where to write the week's status-meeting page (default: in the "
        "system's temporary directory)",
    )
    demo.set_defaults(run=cmd_demo)
    stat = sub.add_parser("status", help="where every clock stands: due when, breached, met")
    which = stat.add_mutually_exclusive_group()
    which.add_argument("--repo", metavar="OWNER/NAME", help="running clocks of one repository")
    which.add_argument("--issue", metavar="OWNER/NAME#N", help="every clock an issue had")
    stat.set_defaults(run=cmd_status)
    dels = sub.add_parser("deliveries", help="failed deliveries: list them, replay one")
    mode = dels.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--failed",
        action="store_true",
        help="list dead and retrying deliveries, effects and jobs (reconcile, redeliver)",
    )
    mode.add_argument(
        "--replay",
        metavar="ID",
        help="queue a dead delivery (its id), effect or job (its key) again",
    )
    dels.set_defaults(run=cmd_deliveries)
    tgt = sub.add_parser(
        "targets",
        help="where this deployment sends effects (GitHub, Slack, PagerDuty); --remove one",
        description="The targets this deployment uses, as `serve` recorded them at start-up "
        "(those it had credentials for). Effects for a target it does not use are recorded "
        "not sent; those for a used target stay owed until a process with its credentials "
        "sends them. `serve` never removes a target by itself: a replica started without a "
        "token must not turn alerts off.",
    )
    tgt.add_argument(
        "--remove", choices=("github", "slack", "pagerduty"), help="stop using this target"
    )
    tgt.set_defaults(run=cmd_targets)
    check = sub.add_parser("check-policy", help="validate a policy file")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--was",
        type=Path,
        metavar="FILE",
        help="the policy in use now: say what the change does to running clocks and reports",
    )
    check.set_defaults(run=cmd_check_policy)
    for command in sub.choices.values():  # `sla-bot report --debug` as well as before it
        command.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show tracebacks of errors",
        )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run: Callable[[argparse.Namespace, Settings], int] = args.run
    debug = args.debug or os.environ.get("LOG_LEVEL", "").upper() == "DEBUG"
    settings = None
    try:
        settings = Settings()
        if args.debug:  # the log's one-line failures show their tracebacks too
            settings = settings.model_copy(update={"log_level": "DEBUG"})
        status = run(args, settings)
        sys.stdout.flush()  # a reader that went away is told here, not at exit
        return status
    except KeyboardInterrupt:
        print("sla-bot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `sla-bot report | head -2`: the reader has what it wanted. Quiet, as cat is; the
        # interpreter's own flush at exit must not find the pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool the pipe ended
    except Exception as exc:
        # Imported here: Ctrl-C during a slow start (this import) is the quiet exit above.
        from app.errors import explain

        message = explain(exc, settings)
        if message is None or debug:
            raise
        print(f"sla-bot: {message}", file=sys.stderr)
        return 2


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1 to 65535)")
    return int(text)


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


STORE_HELP = (
    "keep its store in this SQLite file (or database URL); default: a temporary store of its "
    "own, deleted at exit. DATABASE_URL is never used: the demo never touches a real store"
)
ENVIRONMENT = """environment (see README.md, "Configuration"):
  GITHUB_APP_ID, GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, GITHUB_WEBHOOK_SECRET,
  GITHUB_API_URL, SLACK_BOT_TOKEN, SLACK_CHANNEL, SLACK_API_URL, SLACK_SIGNING_SECRET,
  PAGERDUTY_ROUTING_KEY, PAGERDUTY_EVENTS_URL, PAGERDUTY_WEBHOOK_SECRET, PAGERDUTY_TIMEOUT
  (10), GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, SLA_PUBLIC_URL (the status board, /board),
  TWILIO_AUTH_TOKEN (the escalation number, /twilio/voice),
  DATABASE_URL (default sqlite:///sla-bot.db),
  SLA_POLICY_FILE, SLA_SWEEP_INTERVAL (60), SLA_LEASE_SECONDS (15), SLA_REDELIVER_INTERVAL
  (600), SLA_RECONCILE_INTERVAL (21600), SLA_STORE_WAIT (60), SLA_GITHUB_WRITE_RATE (80),
  SLA_WORKER (auto|process|inline), SLA_RETENTION_DAYS (30), SLA_YIELD_IN_FLIGHT (8),
  SLA_YIELD_LAG (0.05), SLA_YIELD_MOST (5),
  LOG_FORMAT (text|json),
  LOG_LEVEL (INFO)"""


if __name__ == "__main__":
    sys.exit(main())
