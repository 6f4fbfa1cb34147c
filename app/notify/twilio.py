"""Twilio Programmable Voice at the edge: X-Twilio-Signature checked with twilio's own
validator, and the TwiML the escalation number answers (built by twilio's VoiceResponse).

https://www.twilio.com/docs/usage/security#validating-requests
https://www.twilio.com/docs/voice/twiml/record
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

SIGNATURE = "x-twilio-signature"
CLOSING = "Thank you. The on-call engineer has been alerted and will call you back. Goodbye."
NOTHING_HEARD = "We did not hear a message. The on-call engineer has been alerted. Goodbye."
QUESTION = "If production is down for many of your users, press 1. For anything else, press 2."
CLOSING_URGENT = (
    "Thank you. Your message has been recorded as an urgent request; the support team will "
    "get back to you. Goodbye."
)
NOTHING_HEARD_URGENT = (
    "We did not hear a message. Your urgent request has been opened; the support team will "
    "call you back. Goodbye."
)
# How long the question waits for a key: Twilio's default; then the call pages.
QUESTION_TIMEOUT = 5
UNKNOWN_NUMBER = (
    "Sorry, this number is not set up to take reports yet. Please contact your support team "
    "another way. Goodbye."
)
LINE_OFF = "Sorry, this line is not available right now. Please contact your support team."


def valid(token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    """Twilio's signature over the full URL it requested and every POST parameter, sorted by
    name (blank ones too): base64 HMAC-SHA1 with the account's auth token."""
    if not signature:
        return False
    return bool(RequestValidator(token).validate(url, dict(params), signature))


def sign(token: str, url: str, params: Mapping[str, str]) -> str:
    """The X-Twilio-Signature Twilio sends with these params to this URL (the stand-in's)."""
    return str(RequestValidator(token).compute_signature(url, dict(params)))


def answer(
    greeting: str,
    *,
    max_length: int,
    recorded: str,
    transcribed: str,
    silent: str,
    nothing_heard: str = NOTHING_HEARD,
) -> str:
    """The call's first answer: the greeting, the tone and the recording (transcribed), and
    what the caller hears when they said nothing (verbs after <Record> run only then)."""
    response = VoiceResponse()
    response.say(greeting)
    response.record(
        action=recorded,
        method="POST",
        max_length=max_length,
        play_beep=True,
        finish_on_key="#",
        timeout=10,
        transcribe=True,
        transcribe_callback=transcribed,
    )
    response.say(nothing_heard)
    response.redirect(silent, method="POST")
    return str(response)


def ask(team: str, *, answered: str) -> str:
    """Who answers and the question, one key read: Twilio posts `Digits` to `answered`;
    with no key pressed it goes on to the next verb, the redirect to the same URL (no
    `Digits`: the call pages). https://www.twilio.com/docs/voice/twiml/gather"""
    response = VoiceResponse()
    gather = response.gather(
        action=answered,
        method="POST",
        num_digits=1,
        timeout=QUESTION_TIMEOUT,
        input="dtmf",
    )
    gather.say(f"You have reached {team}. {QUESTION}")
    response.redirect(answered, method="POST")
    return str(response)


def say_and_hang_up(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def empty() -> str:
    return str(VoiceResponse())


_DIGITS = re.compile(r"\d")


def mask(number: str) -> str:
    """A caller's number for titles and logs: the country code and the last three digits
    (`+31 •••••• 567`); anything that is not a number is shown as `unknown number`."""
    digits = "".join(_DIGITS.findall(number))
    if not number.startswith("+") or len(digits) < 7:
        return "unknown number"
    return f"+{digits[:2]} {'•' * (len(digits) - 5)} {digits[-3:]}"
