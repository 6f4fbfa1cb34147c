"""The deployment's targets: `serve` records those it has credentials for, effects for a target
the deployment does not use are recorded not sent, and those it uses stay owed until sent."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection

from app.store import meta, outbox
from app.store.database import Database

log = logging.getLogger(__name__)

NAMES = {outbox.GITHUB: "GitHub", outbox.SLACK: "Slack", outbox.PAGERDUTY: "PagerDuty"}
CREDENTIALS = {
    outbox.GITHUB: "GITHUB_APP_ID and GITHUB_PRIVATE_KEY",
    outbox.SLACK: "SLACK_BOT_TOKEN",
    outbox.PAGERDUTY: "PAGERDUTY_ROUTING_KEY",
}
WHAT = {
    outbox.GITHUB: "GitHub writes",
    outbox.SLACK: "Slack alerts",
    outbox.PAGERDUTY: "PagerDuty events",
}


def reason(target: str) -> str:
    """Why an effect for `target` was not sent (kept on the effect: `sla-bot deliveries`)."""
    return (
        f"not sent: this deployment does not use {NAMES[target]} (not configured: "
        f"{CREDENTIALS[target]})"
    )


def startup(db: Database, have: Collection[str], now: datetime) -> list[tuple[int, str]]:
    """Record the targets a starting `serve` has credentials for; the lines that say what
    changed, and which used target this process cannot send to."""
    recorded, settled = db.tx(_record, have, now)
    lines = []
    for target in recorded.added if not recorded.first else ():
        lines.append(
            (
                logging.INFO,
                f"{NAMES[target]}: used by this deployment from now on ({CREDENTIALS[target]} "
                f"is set); {settled.get(target, 0)} {WHAT[target]} decided before were "
                "recorded not sent",
            )
        )
    for target, since in recorded.lacking.items():
        lines.append((logging.WARNING, lacking_line(target, since)))
    return lines


def lacking_line(target: str, since: datetime) -> str:
    name = NAMES[target]
    return (
        f"{name}: this deployment has used {name} since {since:%Y-%m-%d %H:%M} UTC but "
        f"{CREDENTIALS[target]} is not set here: its {WHAT[target]} stay owed (and `sla-bot "
        f"sweep` fails) until it is set again; if the deployment no longer uses {name}, run "
        f"`sla-bot targets --remove {target}`"
    )


def _record(
    conn: Connection, have: Collection[str], now: datetime
) -> tuple[meta.Recorded, dict[str, int]]:
    recorded = meta.record_targets(conn, have, now)
    if recorded.first or not recorded.added:
        return recorded, {}
    # Decided while the deployment did not use the target: not owed, never sent late (an
    # operator who adds Slack gets the alerts from now on, not a flood of old ones).
    settled = outbox.settle_unused(conn, {t: reason(t) for t in recorded.added}, now)
    return recorded, settled


async def settle(db: Database, sending: Collection[str], now: datetime) -> dict[str, int]:
    """Record the pending effects for targets the deployment does not use (and this process
    cannot send to) as not sent, each with its reason; how many per target."""
    used = await db.run(meta.targets)
    if used is None:  # never recorded: every target counts as used, its effects owed
        return {}
    unused = [t for t in outbox.TARGETS if t not in used and t not in sending]
    if not unused:
        return {}
    settled = await db.run(outbox.settle_unused, {t: reason(t) for t in unused}, now)
    for target, count in settled.items():
        log.info(
            "effects not sent: target not used by this deployment",
            extra={"target": target, "count": count},
        )
    return settled


def remove(db: Database, target: str, now: datetime) -> int | None:
    """The operator's word that the deployment no longer uses `target`: its pending effects
    are recorded not sent at once; how many (None: it did not use it)."""
    return db.tx(_remove, target, now)


def _remove(conn: Connection, target: str, now: datetime) -> int | None:
    if not meta.remove_target(conn, target):
        return None
    return outbox.settle_unused(conn, {target: reason(target)}, now).get(target, 0)


def owed_line(owed: dict[str, int], used: dict[str, datetime] | None) -> str | None:
    """One line for the alerts this process owes and could not send; None: nothing owed."""
    parts = [f"{count} {WHAT[t]}" for t, count in sorted(owed.items()) if count]
    if not parts:
        return None
    lacking = [t for t, count in sorted(owed.items()) if count]
    missing = " and ".join(CREDENTIALS[t] for t in lacking)
    verb = "is" if len(lacking) == 1 else "are"
    names = " and ".join(NAMES[t] for t in lacking)
    uses = f"this deployment uses {names}" if used is not None else "every target counts as used"
    return (
        f"{' and '.join(parts)} owed and not sent: {missing} {verb} not set in this process "
        f"({uses}); they stay pending until a process that has it (serve) sends them"
    )
