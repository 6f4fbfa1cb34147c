"""A local Twilio stand-in that places calls to sla-bot as Twilio Programmable Voice does:
each webhook is form-encoded and signed (X-Twilio-Signature: base64 HMAC-SHA1 of the full URL
and the sorted POST parameters, with the account's auth token), and the next request follows
the TwiML answered: the <Gather> action with the key pressed (`Digits`) or, with no key, the
verbs after it; the <Record> action after the message, its transcribeCallback, and the
<Redirect> when nothing was said. The answers are parsed and checked against the verbs and
attributes Twilio documents (https://www.twilio.com/docs/voice/twiml)."""

from __future__ import annotations

import itertools
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.notify.twilio import sign

AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"  # an account's auth token: 32 hex characters
ACCOUNT = "AC" + "0" * 32
# TwiML's voice verbs and the attributes each takes (those sla-bot could use).
VERBS: dict[str, set[str]] = {
    "Say": {"voice", "language", "loop"},
    "Play": {"loop", "digits"},
    "Pause": {"length"},
    "Hangup": set(),
    "Redirect": {"method"},
    "Gather": {
        "action",
        "actionOnEmptyResult",
        "method",
        "numDigits",
        "timeout",
        "finishOnKey",
        "input",
        "language",
        "hints",
        "speechTimeout",
    },
    "Record": {
        "action",
        "method",
        "timeout",
        "finishOnKey",
        "maxLength",
        "playBeep",
        "trim",
        "transcribe",
        "transcribeCallback",
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
    },
}
# What <Gather> may nest (https://www.twilio.com/docs/voice/twiml/gather#nest-other-verbs).
NESTED = {"Gather": {"Say", "Play", "Pause"}}
_sids = itertools.count(1)


class TwiMLError(AssertionError):
    """sla-bot answered something Twilio would refuse."""


@dataclass
class Answer:
    """A TwiML document as Twilio reads it: its verbs in order, with their attributes."""

    verbs: list[tuple[str, dict[str, str], str]]
    nested: dict[int, list[tuple[str, dict[str, str], str]]] = field(default_factory=dict)

    def first(self, verb: str) -> tuple[dict[str, str], str]:
        for name, attrs, text in self.verbs:
            if name == verb:
                return attrs, text
        raise TwiMLError(f"no <{verb}> in the answer")

    def said(self) -> list[str]:
        """What the caller hears, in order (what a <Gather> says included)."""
        heard = []
        for index, (name, _, text) in enumerate(self.verbs):
            heard += [t for n, _, t in self.nested.get(index, []) if n == "Say"]
            if name == "Say":
                heard.append(text)
        return heard

    def after(self, verb: str) -> list[tuple[str, dict[str, str], str]]:
        """The verbs after the first `verb`: what Twilio runs when it falls through."""
        for index, (name, _, _) in enumerate(self.verbs):
            if name == verb:
                return self.verbs[index + 1 :]
        raise TwiMLError(f"no <{verb}> in the answer")


def parse(xml: str) -> Answer:
    """The answer's verbs; TwiMLError for what Twilio would reject (an unknown verb or
    attribute, a non-numeric length, a <Response> missing)."""
    root = ET.fromstring(xml)
    if root.tag != "Response":
        raise TwiMLError(f"the root is <{root.tag}>, not <Response>")
    verbs, nested = [], {}
    for element in root:
        verbs.append(_verb(element))
        inside = [_verb(child) for child in element]
        if inside:
            if unknown := {name for name, _, _ in inside} - NESTED.get(element.tag, set()):
                raise TwiMLError(f"<{element.tag}> cannot nest {sorted(unknown)}")
            nested[len(verbs) - 1] = inside
    return Answer(verbs, nested)


def _verb(element: ET.Element) -> tuple[str, dict[str, str], str]:
    """One verb and its attributes, checked against what Twilio documents."""
    allowed = VERBS.get(element.tag)
    if allowed is None:
        raise TwiMLError(f"<{element.tag}> is not a TwiML voice verb")
    if unknown := set(element.attrib) - allowed:
        raise TwiMLError(f"<{element.tag}> has no attribute {sorted(unknown)}")
    for name in ("maxLength", "timeout", "numDigits", "length"):
        if name in element.attrib and not element.attrib[name].isdigit():
            raise TwiMLError(f"<{element.tag} {name}> must be a whole number")
    for name in ("playBeep", "transcribe", "trim"):
        value = element.attrib.get(name)
        if value is not None and value not in ("true", "false", "trim-silence", "do-not-trim"):
            raise TwiMLError(f"<{element.tag} {name}={value!r}> is not a boolean")
    return element.tag, dict(element.attrib), (element.text or "").strip()


@dataclass
class Call:
    """One call in progress: its parameters and the last answer sla-bot gave."""

    sid: str
    params: dict[str, str]
    answer: Answer | None = None
    record: dict[str, str] = field(default_factory=dict)  # the <Record> Twilio is running
    responses: list[httpx.Response] = field(default_factory=list)


class FakeTwilio:
    """Places calls to sla-bot at `base` (its public URL as Twilio is told it: `public`)."""

    def __init__(
        self,
        base: str,
        *,
        token: str = AUTH_TOKEN,
        public: str | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.base, self.public = base.rstrip("/"), (public or base).rstrip("/")
        self.token = token
        self.http = client or httpx.Client(timeout=10)

    def post(
        self, url: str, params: dict[str, str], *, signed: bool = True, token: str | None = None
    ) -> httpx.Response:
        """A webhook as Twilio sends it to `url` (a public URL: sent to the local base)."""
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "user-agent": "TwilioProxy/1.1",
            "i-twilio-idempotency-token": secrets.token_hex(16),
        }
        if signed:
            headers["x-twilio-signature"] = sign(token or self.token, url, params)
        local = self.base + url.removeprefix(self.public)
        return self.http.post(local, data=params, headers=headers)

    def call(self, to: str, caller: str, *, sid: str | None = None, **post: Any) -> Call:
        """The first webhook of a new call (CallStatus ringing), to /twilio/voice."""
        sid = sid or f"CA{next(_sids):032x}"
        params = {
            "AccountSid": ACCOUNT,
            "ApiVersion": "2010-04-01",
            "CallSid": sid,
            "CallStatus": "ringing",
            "Called": to,
            "CalledCity": "",
            "CalledCountry": "NL",
            "Caller": caller,
            "CallerCity": "",
            "CallerCountry": "NL",
            "Direction": "inbound",
            "From": caller,
            "FromCountry": "NL",
            "To": to,
            "ToCountry": "NL",
        }
        call = Call(sid, params)
        self._answered(call, self.post(f"{self.public}/twilio/voice", params, **post))
        return call

    def _answered(self, call: Call, response: httpx.Response) -> httpx.Response:
        call.responses.append(response)
        if response.status_code == 200:
            call.answer = parse(response.text)
            if any(name == "Record" for name, _, _ in call.answer.verbs):
                call.record = call.answer.first("Record")[0]
        return response

    def _base(self, call: Call, status: str = "in-progress") -> dict[str, str]:
        return {**call.params, "CallStatus": status}

    def speak(self, call: Call, *, seconds: int = 14, hung_up: bool = False) -> httpx.Response:
        """The caller spoke after the tone: Twilio posts the <Record> action."""
        attrs = call.record
        recording = f"RE{next(_sids):032x}"
        params = {
            **self._base(call, "completed" if hung_up else "in-progress"),
            "RecordingUrl": self.recording_url(recording),
            "RecordingSid": recording,
            "RecordingDuration": str(seconds),
            "Digits": "hangup" if hung_up else "#",
        }
        call.params["RecordingUrl"] = params["RecordingUrl"]
        call.params["RecordingSid"] = recording
        return self._answered(call, self.post(attrs["action"], params))

    def transcribe(self, call: Call, text: str, *, status: str = "completed") -> httpx.Response:
        """Twilio's transcription of the recording, to the <Record>'s transcribeCallback."""
        attrs = call.record
        params = {
            **self._base(call, "completed"),
            "TranscriptionSid": f"TR{next(_sids):032x}",
            "TranscriptionText": text,
            "TranscriptionStatus": status,
            "TranscriptionUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}"
            "/Transcriptions/TR1",
            "RecordingSid": call.params.get("RecordingSid", ""),
            "RecordingUrl": call.params.get("RecordingUrl", ""),
        }
        return self.post(attrs["transcribeCallback"], params)

    def press(self, call: Call, digits: str) -> httpx.Response:
        """The caller pressed keys during <Gather>: Twilio posts them as `Digits` to its
        action (default: the document's own URL, which the stand-in does not track)."""
        assert call.answer is not None
        attrs, _ = call.answer.first("Gather")
        params = {**self._base(call), "Digits": digits, "FinishedOnKey": ""}
        return self._answered(call, self.post(attrs["action"], params))

    def no_key(self, call: Call) -> httpx.Response:
        """No key before <Gather>'s timeout: Twilio goes on with the verbs after it (here a
        <Redirect>), posting no `Digits`."""
        assert call.answer is not None
        following = call.answer.after("Gather")
        redirect = next((text for name, _, text in following if name == "Redirect"), None)
        if redirect is None:
            raise TwiMLError("nothing after <Gather> to go on with: the call would end")
        return self._answered(call, self.post(redirect, self._base(call)))

    def silence(self, call: Call) -> httpx.Response:
        """Nothing said after the tone: Twilio goes on with the verbs after <Record>."""
        assert call.answer is not None
        _, url = call.answer.first("Redirect")
        return self._answered(call, self.post(url, self._base(call)))

    def hang_up(self, call: Call) -> httpx.Response:
        """The call is over: the number's call-status callback (CallStatus completed)."""
        params = {**self._base(call, "completed"), "CallDuration": "9"}
        return self.post(f"{self.public}/twilio/voice/status", params)

    def recording_url(self, recording: str) -> str:
        return f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording}"
