"""The sections of a policy file as frozen models, and their built-in defaults."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

import holidays as public_holidays
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.sla.domain import BREACHED_LABEL, Priority, RequestType
from app.sla.target import NEXT_BUSINESS_DAY, Target

CalendarName = Literal["business", "24/7"]
# GitHub's `state_reason` of a closed issue (REST "Update an issue").
CloseReason = Literal["completed", "not_planned", "duplicate"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_COLOR = re.compile(r"#?([0-9a-fA-F]{6})")
_CLOCK = re.compile(r"([01]?\d|2[0-4]):([0-5]\d)")
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:\S+")


def _color(value: object) -> object:
    if value is None:
        raise ValueError("missing colour: quote it, as a bare # starts a YAML comment")
    match = _COLOR.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a colour: use 6 hex digits like 'b60205'")
    return match[1].lower()


def _clock(text: str) -> str:
    match = _CLOCK.fullmatch(text.strip())
    if match is None or (match[1] == "24" and match[2] != "00"):
        raise ValueError(f"{text!r} is not a time of day: use HH:MM like '09:00' or '17:30'")
    return f"{int(match[1]):02d}:{match[2]}"


def _open_hours(pair: tuple[str, str]) -> tuple[str, str]:
    opening, closing = pair
    if closing <= opening or opening == "24:00":
        raise ValueError(f"close {closing} is not after open {opening}")
    return pair


def _url(text: str) -> str:
    if not _URL.fullmatch(text):
        raise ValueError(f"{text!r} is not a URL: use https://… (or tel:… for a phone line)")
    return text


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _fits_calendar(target: Target | str | None, info: ValidationInfo) -> Target | str | None:
    late = isinstance(target, Target) and target.next_business_day
    if late and info.data.get("calendar") == "24/7":
        raise ValueError(f"{NEXT_BUSINESS_DAY} needs the business calendar, not 24/7")
    return target


Color = Annotated[str, BeforeValidator(_color)]
ClockTime = Annotated[str, AfterValidator(_clock)]  # "HH:MM"; a close may be "24:00"
OpenHours = Annotated[tuple[ClockTime, ClockTime], AfterValidator(_open_hours)]
# A collaborator's `role_name` on a repository.
Role = Literal["admin", "maintain", "write", "triage", "read"]
Association = Annotated[
    Literal[
        "OWNER",
        "MEMBER",
        "COLLABORATOR",
        "CONTRIBUTOR",
        "FIRST_TIME_CONTRIBUTOR",
        "FIRST_TIMER",
        "MANNEQUIN",
        "NONE",
    ],
    BeforeValidator(_upper),
]
Url = Annotated[str, AfterValidator(_url)]


class FrozenModel(BaseModel):
    """Immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class LabelSpec(FrozenModel):
    """A label the app creates and sets: name, colour (6 hex digits, no '#'), description."""

    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    color: Color = "ededed"
    description: Annotated[str, Field(max_length=100)] = ""


FIRST = "first"  # `next_response: first`: the same target as the first response


def _next_response(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() == FIRST:
        return FIRST
    if isinstance(value, str):
        try:
            Target.parse(value)
        except ValueError as exc:
            raise ValueError(f"{exc}, or '{FIRST}' for the first-response target") from None
    return value


class Resolution(FrozenModel):
    """A target for closing the request, on its own calendar (the priority's by default)."""

    within: Target
    calendar: CalendarName | None = None

    _within_fits = field_validator("within")(_fits_calendar)


def _resolution(value: object) -> object:
    return {"within": value} if isinstance(value, str) else value


class Requires(FrozenModel):
    """A rule on a priority: only requests of these `type`s (any, when empty) whose form
    answers `field` with one of `end_users` (its leading words, any case; any answer when
    empty) may have it. A request that does not meet it gets the next lower priority."""

    type: tuple[RequestType, ...] = ()
    end_users: tuple[str, ...] = ()
    field: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = (
        "End users affected"
    )


Chooser = Literal["anyone", "team"]


class PriorityPolicy(LabelSpec):
    """One priority: its names, its label, its targets, and who hears when its clock starts.

    `name` is what people read (forms, comments, Slack, reports); `form` the dropdown's words
    for it. `within` is the first response; `next_response` the answer to each customer
    comment after the team has answered; `updates_every` the most time (wall clock) between
    responder comments until the issue closes; `resolution` the time to close it. None: not
    tracked. `chosen_by: team` keeps it out of the forms' dropdown (set by relabeling only).
    """

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)] | (
        None
    ) = None
    form: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    requires: Requires | None = None
    chosen_by: Chooser = "anyone"
    calendar: CalendarName = "business"
    within: Target
    next_response: Annotated[Target | Literal["first"] | None, BeforeValidator(_next_response)] = (
        None
    )
    updates_every: Target | None = None
    resolution: Annotated[Resolution | None, BeforeValidator(_resolution)] = None
    page: bool = False  # page slack.page_channel when the clock starts
    announce: bool = False  # announce in slack.channel when the clock starts
    warn_at: Annotated[float, Field(gt=0, lt=1)] | None = None  # early warning, part of target

    _within_fits = field_validator("within", "next_response")(_fits_calendar)

    @field_validator("updates_every")
    @classmethod
    def _wall_clock(cls, target: Target | None) -> Target | None:
        if target is not None and target.next_business_day:
            raise ValueError(f"updates run on the wall clock: use '60m' or '2h', not {target}")
        return target

    @property
    def next_response_target(self) -> Target | None:
        return self.within if self.next_response == FIRST else self.next_response  # type: ignore[return-value]


class Holidays(FrozenModel):
    """Closed days: public holidays from the `holidays` package plus explicit dates."""

    country: str | None = None
    subdiv: str | None = None
    dates: tuple[date, ...] = ()

    @field_validator("country")
    @classmethod
    def _known_country(cls, country: str | None) -> str | None:
        if country is None:
            return None
        if country.upper() not in public_holidays.list_supported_countries():
            raise ValueError(f"no public holidays known for country {country!r} (try e.g. 'NL')")
        return country.upper()

    @field_validator("subdiv")
    @classmethod
    def _known_subdiv(cls, subdiv: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if subdiv is None or country is None:
            if subdiv is not None and "country" in info.data:  # else: country already reported
                raise ValueError("a subdivision needs holidays.country")
            return subdiv
        try:
            public_holidays.country_holidays(country, subdiv=subdiv, years=[])
        except NotImplementedError as exc:
            raise ValueError(str(exc)) from exc
        return subdiv


class Responders(FrozenModel):
    """Whose comments count as a response: by GitHub `author_association`, else (a private
    org member shows as CONTRIBUTOR or NONE) by the commenter's role on the repository,
    asked once and cached. `roles: []` turns the asking off."""

    # Not COLLABORATOR: in a private support repository customers are outside collaborators.
    associations: Annotated[tuple[Association, ...], Field(min_length=1)] = ("OWNER", "MEMBER")
    roles: tuple[Role, ...] = ("admin", "maintain", "write", "triage")


class Slack(FrozenModel):
    """Where alerts go: `channel` for breaches and announcements, `page_channel` for pages."""

    channel: str | None = "#support"
    page_channel: str | None = "#on-call"


class Postmortem(FrozenModel):
    """The post-mortem due after a production-down issue closes as one of `after` (GitHub's
    `state_reason`): a duplicate or a request closed as not planned owes none."""

    after: Annotated[tuple[CloseReason, ...], Field(min_length=1)] = ("completed",)
    calendar: CalendarName = "24/7"
    within: Target = Target(days=3)
    due: LabelSpec = LabelSpec(
        label="postmortem: due", color="5319e7", description="A post-mortem is due for this issue"
    )
    done: LabelSpec = LabelSpec(
        label="postmortem: done", color="c2e0c6", description="The post-mortem is written"
    )

    _within_fits = field_validator("within")(_fits_calendar)


class ProductionDownScope(FrozenModel):
    """When a Problem/Troubleshooting request may be Production down: the form's `field`
    answered with one of `answers` (its leading words, any case). Otherwise it is Urgent."""

    field: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = (
        "End users affected"
    )
    answers: Annotated[tuple[str, ...], Field(min_length=1)] = ("Many", "All")


SlackId = Annotated[str, StringConstraints(pattern=r"^[USW][A-Z0-9]{2,}$")]


def _one_or_many(value: object) -> object:
    return (value,) if isinstance(value, str) else value


class Oncall(FrozenModel):
    """The on-call loop for paging priorities: PagerDuty, the page's buttons, escalation.

    `pagerduty` and `buttons` are switched on for the deployment by PAGERDUTY_ROUTING_KEY and
    SLACK_SIGNING_SECRET; `escalate_to` takes Slack user ids (U...) or user group ids (S...).
    `responders`, when set, are the only ones whose Acknowledge and Resolve clicks count: Slack
    user ids or user group ids, one or a list.
    """

    escalate_after: Target = Target(minutes=15)  # wall-clock time without an acknowledgement
    escalate_to: tuple[SlackId, ...] = ()
    responders: Annotated[tuple[SlackId, ...], BeforeValidator(_one_or_many)] = ()
    pagerduty: bool = False
    buttons: bool = False


_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
CUSTOMER_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,49}")


def _repository(text: str) -> str:
    if not _REPO.fullmatch(text.strip()):
        raise ValueError(f"{text!r} is not a repository: use OWNER/NAME like 'acme/support'")
    return text.strip()


RepoName = Annotated[str, AfterValidator(_repository)]
LabelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class Customer(FrozenModel):
    """One customer for the status meetings: its requests are the issues of `repositories`,
    and those labeled with one of `labels` (a repository shared by several customers)."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    repositories: tuple[RepoName, ...] = ()
    labels: tuple[LabelName, ...] = ()

    @model_validator(mode="after")
    def _something(self) -> Customer:
        if not self.labels and not self.repositories:
            raise ValueError("a customer needs repositories or labels (or both)")
        return self


def _customer_key(key: str) -> str:
    if not CUSTOMER_KEY.fullmatch(key):
        raise ValueError(
            f"{key!r} is not a customer key: letters, digits, '-', '_' or '.', e.g. 'acme' "
            "(it is the page's address, /board/acme)"
        )
    return key


CustomerKey = Annotated[str, AfterValidator(_customer_key)]


_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,}")
_EMOJI = re.compile(r"[a-z0-9_+'-]+")


def _channel_id(text: str) -> str:
    if not _CHANNEL.fullmatch(text.strip()):
        raise ValueError(
            f"{text!r} is not a Slack channel id: use the id (C... or G...) from the channel's "
            "details, not its name (a name can change, and a shared channel's name differs "
            "per workspace)"
        )
    return text.strip()


def _channels(value: object) -> object:
    """A list of channel ids claims them for the repository whose policy this is; a mapping
    names the repository of each (the org's or the deployment's file)."""
    if isinstance(value, list | tuple):
        return {str(item).strip() if isinstance(item, str) else item: None for item in value}
    return value


def _emoji(text: str) -> str:
    name = text.strip().strip(":")
    if not _EMOJI.fullmatch(name):
        raise ValueError(f"{text!r} is not an emoji name: use its short name, e.g. 'ticket'")
    return name


ChannelId = Annotated[str, AfterValidator(_channel_id)]


class SlackIntake(FrozenModel):
    """Requests posted in Slack become issues: `channels` claimed (a list: for this
    repository; a mapping: channel id -> OWNER/NAME), opened by a reaction with `emoji` or a
    mention of the app. Comments starting with `internal_prefix` never leave GitHub. A team
    member's message shortcut asks the form's questions; `production_down: true` lets it
    offer Production down (off: a page starts from a form or the escalation number)."""

    channels: Annotated[dict[ChannelId, RepoName | None], BeforeValidator(_channels)] = Field(
        default_factory=dict
    )
    emoji: Annotated[str, AfterValidator(_emoji)] = "ticket"
    internal_prefix: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = (
        "internal:"
    )
    production_down: bool = False

    def claims(self, repo: str) -> tuple[str, ...]:
        """The channels whose requests open issues in `repo`."""
        return tuple(
            channel
            for channel, owner in self.channels.items()
            if owner is None or owner.casefold() == repo.casefold()
        )


class Contacts(FrozenModel):
    """Where the issue forms point customers: the Slack help channel and the escalation line."""

    slack_help_url: Url | None = None
    escalation_url: Url | None = None


# E.164 as Twilio sends `To` and `From`: "+" and up to 15 digits. People write numbers with
# spaces, dashes, dots and brackets; those are dropped before the check.
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_SEPARATORS = re.compile(r"[\s().-]")
DEFAULT_GREETING = (
    "You have reached the production-down line of {team}. After the tone, clearly state your "
    "name and describe the problem."
)


def e164(text: str) -> str:
    """A phone number as Twilio writes it (`+31201234567`), or ValueError."""
    number = _SEPARATORS.sub("", text)
    if not _E164.fullmatch(number):
        raise ValueError(
            f"{text!r} is not a phone number: write it in international form, like '+31201234567'"
        )
    return number


PhoneNumber = Annotated[str, AfterValidator(e164)]


class Caller(FrozenModel):
    """A known caller of the escalation number: their name, and the customer they call for
    (a key of `customers:`, or a name)."""

    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None
    customer: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None


class Phone(FrozenModel):
    """The escalation number (Twilio Programmable Voice): calls to `numbers` open
    production-down issues in `open_in` (default: the repository whose policy this is)
    and page on-call at once. `greeting` is said before the tone ({team}: `team`, default the
    repository's owner); the caller may speak for `max_length` seconds. `show_caller: false`
    keeps the caller's whole number out of the issue (it is masked in the title always).
    `question: true` asks first whether production is down for many users (1) or not (2):
    2 opens an urgent request and pages nobody; 1, another key or no answer pages. `callers`
    names known callers by number; a call from another number still pages."""

    numbers: tuple[PhoneNumber, ...] = ()
    open_in: RepoName | None = None
    greeting: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)
    ] = DEFAULT_GREETING
    team: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None
    max_length: Annotated[int, Field(ge=10, le=3600)] = 120
    show_caller: bool = True
    question: bool = False
    callers: dict[PhoneNumber, Caller] = Field(default_factory=dict)

    @field_validator("greeting")
    @classmethod
    def _known_fields(cls, text: str) -> str:
        try:
            text.format(team="x")
        except (KeyError, IndexError, ValueError):
            raise ValueError("the greeting may only use {team} in braces") from None
        return text


class Intake(FrozenModel):
    """Channels besides the issue forms that open requests here: Slack and the phone."""

    slack: SlackIntake = SlackIntake()
    phone: Phone = Phone()


DEFAULT_PAUSE = LabelSpec(
    label="sla: waiting on customer",
    color="c5def5",
    description="Waiting on the customer: next-response and resolution clocks are paused",
)
DEFAULT_BREACHED = LabelSpec(
    label=BREACHED_LABEL, color="e11d21", description="An SLA target was missed"
)


def default_hours() -> dict[Weekday, tuple[str, str]]:
    return {day: ("09:00", "17:00") for day in WEEKDAYS[:5]}


def default_priorities() -> dict[Priority, PriorityPolicy]:
    spec = PriorityPolicy.model_validate
    return {
        Priority.PRODUCTION_DOWN: spec(
            {
                "name": "Production down",
                "form": "many end users cannot work",
                "requires": {"type": ["problem"], "end_users": ["Many", "All"]},
                "label": "priority: production-down",
                "color": "b60205",
                "within": "30m",
                "calendar": "24/7",
                "page": True,
                "next_response": FIRST,
                "updates_every": "60m",
                "description": "Production down for many end users: on-call is paged at once, 24/7",
            }
        ),
        Priority.URGENT: spec(
            {
                "name": "Urgent",
                "form": "blocking work or affecting end users",
                "label": "priority: urgent",
                "color": "d93f0b",
                "within": "1h",
                "announce": True,
                "next_response": FIRST,
                "description": "Blocking work or affecting end users",
            }
        ),
        Priority.NORMAL: spec(
            {
                "name": "Normal",
                "form": "everything else",
                "label": "priority: normal",
                "color": "0e8a16",
                "within": "next-business-day",
                "description": "Everything else",
            }
        ),
    }
