"""The pure core of sla-bot: calendar, policy, the clock table and the decisions. No I/O here.

Glossary: each word below has this one meaning everywhere in the code.

request
    A customer's service request: one GitHub issue (opened from an issue form, from Slack
    or by a call to the escalation number).
priority, request type
    What the request is classified as (`domain.Priority`, `domain.RequestType`); each has
    a label. The policy may define its own.
clock
    One response-time target on one issue: a row the store keeps (`clock.Clock`), of one
    kind (first response, next response, update, resolution, post-mortem), under one
    priority, moved through the states of the clock table (`clock.py`). Not the time
    source (see time).
time
    The time function (`app.time_source.system_time`, or a test's `MovableTime`, the fixture
    `time`): everything that reads the time takes it as `time=` and keeps it as `time`
    (`create_app`, the engine, the jobs, the services, the GitHub and Slack clients, the
    stand-ins, the harnesses); what it returns, an aware datetime, is `now`. Elapsed
    seconds for waits (the scheduler's yielding, the receiver's policy freshness) come from
    a `monotonic` function instead, never from the time of day.
first response
    The first comment by a responder after a first-response clock started; it meets that
    clock. "First" means this and nothing else: a clock stored only if the issue never had
    one of its kind is `only_if_new`; the message that starts an issue's Slack thread is
    its `thread_starter`.
responder
    A comment's author who counts for the team: an association the policy lists
    (`responders.associations`), not the issue's author, not a bot.
due, warning, breach, met
    A clock is due at its target time; a warning goes out before it (optional); a breach
    is the due time passing with the clock still running; met is the clock's end by a
    responder's comment before that.
window
    The intake window (`rebuild.INTAKE_WINDOW`): a priority label put on this soon after
    the issue opened counts from its creation.
wave
    Deliveries or effects about different issues handled together, their claims renewed
    and their results stored at once (`processor.delivery_wave`, `dispatch.concurrent_wave`).
page
    The production-down alert: a Slack message in the page channel with Acknowledge and
    Resolve buttons, and a PagerDuty incident when configured.
episode
    One production-down incident from its page to its end (resolved, moved to another
    priority, or closed): at most one page, one incident, one escalation.
acknowledge, resolve, escalate
    The on-call engineer takes the page; the incident is over; nobody acknowledged within
    `oncall.escalate_after`, so the page is raised to `oncall.escalate_to`.
event
    Something an issue lives through, as the core sees it (`events.Opened`, `Commented`,
    `Closed`, ...).
case
    What the core knows of one issue: its clocks, whether it is open, whether it waits on
    the customer.
step
    One change a decision makes (a clock started, moved or marked) with what it owes; the
    store refuses a step another replica made first, and then it owes nothing.
owe
    What a step owes the outside world (`events.Owed`), written to the outbox once per key
    (`Owe.key`, built from the same parts as the outbox keys, `keys.py`).
effect
    One write to GitHub, Slack or PagerDuty in the outbox: its kind
    (`app.store.effects.EffectKind`), its target, its key.
job
    The app's own work that decides rather than is decided (a reconcile, a redelivery
    asked of GitHub): a row in `jobs` once per key (`app.store.jobs.JobKind`), run by the
    engine's job runner, never sent as an effect.
target
    Where an effect goes: GitHub, Slack or PagerDuty, each sent by a loop of its own.
lane
    Urgent (production down) or routine: urgent deliveries and effects are claimed first.
    What an effect must not overlap with is its order (`dispatch._order_of`), not a lane.
order
    What an effect keeps its order with while others are sent beside it (the same issue,
    or everything: `app.store.effects.Order`).
owner
    Who holds a claim on a delivery, an effect or a job (a worker's fencing token). GitHub's
    repository owner is an `account` (`account/name`; GitHub's URL templates keep their
    `{owner}`); the installation a repository belongs to is its installation; the
    repository that takes a Slack channel's requests is the channel's intake
    (`app.store.slack.ChannelIntake`).
pause
    Waiting on the customer: the pause label stops next-response and resolution clocks.
    (A rate limit's pause of an installation's GitHub writes is the outbox's `pause_github`.)
standing
    Where a request stands, shown to the customer under the intake comment.
customer
    Whose requests a status meeting covers (`customers` in the policy; an `Account`).
"""
