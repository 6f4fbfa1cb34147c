"""The escalation number's calls in the store: a call opens its production-down request at
once (the page and the clock, through the decision core), its GitHub issue follows through the
outbox, and what the caller left (a recording, its transcript, nothing) is shown on it.

One row per Twilio CallSid: a retried webhook finds the call and opens nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.notify.messages import AlertKind
from app.notify.twilio import mask
from app.sla import rules
from app.sla.domain import Priority
from app.sla.policy import Policy
from app.sla.policy_sections import e164
from app.store import calls, clocks, effects, outbox, repos, tracking
from app.store.calls import Call

log = logging.getLogger(__name__)
KIND = "call-issue"  # the outbox effect that opens the call's issue, then keeps it current
HUNG_UP, SILENT, MESSAGE = "hung-up", "silent", "message"


@dataclass(frozen=True)
class Line:
    """Who answers a number: the repository its calls open issues in, and its policy."""

    installation_id: int | None
    repo: str
    policy: Policy

    @property
    def team(self) -> str:
        return self.policy.intake.phone.team or self.repo.partition("/")[0]

    @property
    def greeting(self) -> str:
        return self.policy.intake.phone.greeting.format(team=self.team)


async def line_of(services: Any, to: str) -> Line | None:
    """The line a call to `to` reached: the repository whose policy claims the number (its
    `open_in`), else the deployment policy's `open_in`; None when no policy claims it."""
    try:
        number = e164(to)
    except ValueError:
        return None
    policies = services.policies
    claims: dict[str, int | None] = {}
    for repo, installation in await services.db.run(repos.active):
        phone = (await policies.get(installation, repo)).intake.phone
        if number in phone.numbers:
            claims.setdefault(phone.open_in or repo, installation)
    fallback = policies.fallback.intake.phone
    if not claims and number in fallback.numbers and fallback.open_in:
        claims[fallback.open_in] = None
    if not claims:
        return None
    if len(claims) > 1:
        log.warning(
            "phone number claimed by several repositories; the first answers",
            extra={"repositories": sorted(claims)},
        )
    repo = sorted(claims)[0]
    installation = await services.db.run(repos.owner_of, repo)
    return Line(installation, repo, await policies.get(installation, repo))


def title_of(call: Call) -> str:
    return f"Production down: phone call from {mask(call.from_number)}"


def receive(
    conn: Connection,
    *,
    sid: str,
    line: Line,
    to: str,
    caller: str,
    now: datetime,
    url: str,
) -> Call | None:
    """A new call: stored, its production-down request opened from now (the page and the
    PagerDuty trigger are owed at once), its issue asked for. None when Twilio repeats it."""
    call = calls.add(
        conn,
        sid=sid,
        installation_id=line.installation_id,
        repo=line.repo,
        to_number=e164(to),
        from_number=caller[:32],
        at=now,
    )
    if call is None:
        return None
    subject = tracking.Subject(
        line.installation_id,
        line.repo,
        call.placeholder,
        title_of(call),
        url,
        f"{mask(caller)} (phone)",
    )
    priority = line.policy.paging or Priority.PRODUCTION_DOWN
    kind = line.policy.type_for(priority)
    event = rules.Called(now, mask(caller), priority, str(kind))
    tracking.handle(conn, subject, event, line.policy, now, case=rules.Case())
    clock = clocks.live(conn, line.repo, call.placeholder)
    if clock is not None:
        calls.set_clock(conn, call, clock.id)
    ask_issue(conn, call, line.policy, now)
    return calls.get(conn, call.id)


def ask_issue(conn: Connection, call: Call, policy: Policy, now: datetime) -> None:
    """The call's issue opened, or its body brought up to date with the call (one effect per
    version of the call: the newest is what any of them writes)."""
    current = calls.get(conn, call.id) or call
    priority = policy.paging or Priority.PRODUCTION_DOWN
    labels = [policy.label_for(priority), policy.types[policy.type_for(priority)].label]
    payload = {
        "call": call.id,
        "opens": current.version == 0 and current.issue_number is None,
        "labels": labels,
        "timezone": policy.timezone,
        "names": [policy.name_of(priority), policy.type_name(policy.type_for(priority))],
        "show_caller": policy.intake.phone.show_caller,
        "buttons": policy.oncall.buttons,
    }
    outbox.enqueue(
        conn,
        key=f"call:issue:{call.sid}:{current.version}",
        target=outbox.GITHUB,
        kind=KIND,
        payload=payload,
        now=now,
        installation_id=call.installation_id,
        repo=call.repo,
        issue_number=current.issue_number,
        urgent=True,
    )


def left(conn: Connection, call: Call, policy: Policy, now: datetime, **values: Any) -> bool:
    """What the caller left (a recording, its transcript, nothing): shown on the issue; False
    when it changed nothing (a callback Twilio repeated)."""
    if not calls.change(conn, call, **values):
        return False
    ask_issue(conn, call, policy, now)
    return True


def ended(conn: Connection, call: Call, policy: Policy, now: datetime) -> bool:
    """The call is over: one who hung up before the tone is shown as such on the issue and in
    the page's thread, with their number (to call them back)."""
    if call.outcome is not None or not calls.change(conn, call, outcome=HUNG_UP):
        return False
    ask_issue(conn, call, policy, now)
    channel = policy.slack.page_channel
    if call.clock_id is None or not channel:
        return True
    shown = call.from_number if policy.intake.phone.show_caller else mask(call.from_number)
    text = (
        f":telephone_receiver: The caller ({shown}) hung up before describing the "
        "problem. Call them back."
    )
    parent = effects.alert_key(call.clock_id, AlertKind.PAGE)
    outbox.enqueue(
        conn,
        key=f"call:hung-up:{call.sid}",
        target=outbox.SLACK,
        kind="call-hung-up",
        payload={"channel": channel, "text": text, "blocks": None, "thread_of": parent},
        now=now,
        clock_id=call.clock_id,
        repo=call.repo,
        issue_number=call.issue_number or call.placeholder,
        urgent=True,
    )
    return True
