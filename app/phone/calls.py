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
from app.sla import keys, rules
from app.sla.domain import Priority, RequestType
from app.sla.policy import Policy
from app.sla.policy_sections import e164
from app.store import calls, clocks, effects, outbox, repos, tracking
from app.store.calls import Call
from app.store.effects import EffectKind

log = logging.getLogger(__name__)
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
    installation = await services.db.run(repos.installation_of, repo)
    return Line(installation, repo, await policies.get(installation, repo))


def title_of(call: Call, priority_name: str) -> str:
    """The issue's title: the policy's name for the call's priority, the masked number."""
    return f"{priority_name}: phone call from {mask(call.from_number)}"


def known_caller(policy: Policy, number: str) -> str | None:
    """Who calls from `number` by the policy's `intake.phone.callers`: their name and their
    customer's (the customer's name when it is a key of `customers:`); None: not listed."""
    known = policy.intake.phone.callers.get(number)
    if known is None:
        return None
    customer = known.customer
    if customer is not None and customer in policy.customers:
        customer = policy.customers[customer].name
    if known.name and customer:
        return f"{known.name} ({customer})"
    return known.name or customer or number


def store(
    conn: Connection, *, sid: str, line: Line, to: str, caller: str, now: datetime
) -> Call | None:
    """A new call, stored (nothing opened yet: the caller is asked first); None when Twilio
    repeats it."""
    return calls.add(
        conn,
        sid=sid,
        installation_id=line.installation_id,
        repo=line.repo,
        to_number=e164(to),
        from_number=caller[:32],
        at=now,
    )


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
    call = store(conn, sid=sid, line=line, to=to, caller=caller, now=now)
    if call is None:
        return None
    return open_request(conn, call, line.policy, paging(line.policy), now, url)


def paging(policy: Policy) -> Priority:
    """The priority a call opens: the policy's paging one (production down, built in)."""
    return policy.paging or Priority.PRODUCTION_DOWN


def not_paging(policy: Policy) -> Priority:
    """The priority of a caller who said it is not production down: the next one down."""
    return policy.lower(paging(policy)) or paging(policy)


def call_type(policy: Policy) -> RequestType:
    """A call reports a problem: the type the paging priority's rule asks for, whatever the
    caller answered (pressing 2 makes it less urgent, not another kind of request)."""
    return policy.type_for(paging(policy))


def open_request(
    conn: Connection, call: Call, policy: Policy, priority: Priority, now: datetime, url: str
) -> Call | None:
    """The call's request opened at the call's time, as `priority` (production down pages at
    once; urgent pages nobody), and its issue asked for; None when it was opened already."""
    if call.clock_id is not None or clocks.live(conn, call.repo, call.placeholder) is not None:
        return None
    who = known_caller(policy, call.from_number)
    shown = f"{who}, {mask(call.from_number)}" if who else mask(call.from_number)
    subject = tracking.Subject(
        call.installation_id,
        call.repo,
        call.placeholder,
        title_of(call, policy.name_of(priority)),
        url,
        f"{shown} (phone)",
    )
    kind = call_type(policy)
    event = rules.Called(call.called_at, shown, priority, str(kind))
    tracking.handle(conn, subject, event, policy, now, case=rules.Case())
    clock = clocks.live(conn, call.repo, call.placeholder)
    if clock is not None:
        calls.set_clock(conn, call, clock.id)
    ask_issue(conn, call, policy, now)
    return calls.get(conn, call.id)


def priority_of(conn: Connection, call: Call) -> Priority | None:
    """The priority the call's request was opened as; None: not opened yet (asked first)."""
    current = calls.get(conn, call.id) or call
    clock = None if current.clock_id is None else clocks.get(conn, current.clock_id)
    return None if clock is None else Priority(clock.priority)


def ask_issue(conn: Connection, call: Call, policy: Policy, now: datetime) -> None:
    """The call's issue opened, or its body brought up to date with the call (one effect per
    version of the call: the newest is what any of them writes)."""
    current = calls.get(conn, call.id) or call
    priority = priority_of(conn, current) or paging(policy)
    labels = [policy.label_for(priority), policy.types[call_type(policy)].label]
    callers = policy.intake.phone.callers
    payload = {
        "call": call.id,
        "opens": current.version == 0 and current.issue_number is None,
        "labels": labels,
        "priority": str(priority),
        "timezone": policy.timezone,
        "names": [policy.name_of(priority), policy.type_name(call_type(policy))],
        "pages": policy.pages(priority),
        "show_caller": policy.intake.phone.show_caller,
        "buttons": policy.oncall.buttons,
        "caller": known_caller(policy, call.from_number),
        "recognised": None if not callers else call.from_number in callers,
    }
    outbox.enqueue(
        conn,
        EffectKind.CALL_ISSUE,
        key=keys.key("call", "issue", call.sid, current.version),
        payload=payload,
        now=now,
        installation_id=call.installation_id,
        repo=call.repo,
        issue_number=current.issue_number,
        urgent=policy.pages(priority),
    )


def left(conn: Connection, call: Call, policy: Policy, now: datetime, **values: Any) -> bool:
    """What the caller left (a recording, its transcript, nothing): shown on the issue; False
    when it changed nothing (a callback Twilio repeated)."""
    if not calls.change(conn, call, **values):
        return False
    ask_issue(conn, call, policy, now)
    return True


def ended(conn: Connection, call: Call, policy: Policy, now: datetime, url: str) -> bool:
    """The call is over: one who hung up before the tone is shown as such on the issue and in
    the page's thread, with their number (to call them back). One who hung up before
    answering the question pages: an outage is never refused."""
    if call.outcome is not None:
        return False
    opened = open_request(conn, call, policy, paging(policy), now, url)
    call = opened or calls.get(conn, call.id) or call
    if not calls.change(conn, call, outcome=HUNG_UP):
        return opened is not None
    ask_issue(conn, call, policy, now)
    channel = policy.slack.page_channel
    priority = priority_of(conn, call)
    if call.clock_id is None or not channel or priority is None or not policy.pages(priority):
        return True
    shown = call.from_number if policy.intake.phone.show_caller else mask(call.from_number)
    text = (
        f":telephone_receiver: The caller ({shown}) hung up before describing the "
        "problem. Call them back."
    )
    parent = effects.alert_key(call.clock_id, AlertKind.PAGE)
    outbox.enqueue(
        conn,
        EffectKind.CALL_HUNG_UP,
        key=keys.key("call", "hung-up", call.sid),
        payload={"channel": channel, "text": text, "blocks": None, "thread_of": parent},
        now=now,
        clock_id=call.clock_id,
        repo=call.repo,
        issue_number=call.issue_number or call.placeholder,
        urgent=True,
    )
    return True
