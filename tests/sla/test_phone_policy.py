"""The policy's escalation number (`intake.phone`): numbers in international form, each
claimed once (check-policy names the line and key), the greeting and its one field."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.sla.policy import DEFAULT_POLICY, PolicyError, parse_policy
from app.sla.policy_sections import DEFAULT_GREETING, e164

POLICY = """\
timezone: Europe/Amsterdam
intake:
  phone:
    numbers: ["+31 20 123 4567", "+1 (415) 555-0100"]
    greeting: "This is {team}'s outage line. Speak after the tone."
    team: Acme support
"""


def test_numbers_are_read_as_twilio_writes_them() -> None:
    phone = parse_policy(POLICY).intake.phone
    assert phone.numbers == ("+31201234567", "+14155550100")
    assert phone.greeting.format(team=phone.team) == (
        "This is Acme support's outage line. Speak after the tone."
    )
    assert phone.max_length == 120 and phone.show_caller


def test_the_built_in_policy_has_no_number_and_the_issues_greeting() -> None:
    phone = DEFAULT_POLICY.intake.phone
    assert phone.numbers == () and phone.greeting == DEFAULT_GREETING
    assert "production-down line of {team}" in phone.greeting


def test_a_number_claimed_twice_is_refused_with_its_line_and_key() -> None:
    text = POLICY.replace(
        '"+1 (415) 555-0100"]', '"+1 (415) 555-0100",\n              "+31-20-123-4567"]'
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="sla.yml")
    assert str(caught.value).splitlines() == [
        "sla.yml:5: intake.phone.numbers[2]: number +31201234567 is already claimed by "
        "intake.phone.numbers[0]",
    ]


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ('    numbers: ["020 123 4567"]', "intake.phone.numbers[0]", "international form"),
        ('    greeting: "Hi {caller}"', "intake.phone.greeting", "only use {team}"),
        ("    max_length: 5", "intake.phone.max_length", "greater than or equal to 10"),
        ("    open_in: nope", "intake.phone.open_in", "OWNER/NAME"),
    ],
)
def test_bad_phone_settings_name_line_and_key(line: str, key: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(f"intake:\n  phone:\n{line}\n", source="sla.yml")
    [problem] = caught.value.problems
    assert (problem.line, problem.key) == (3, key)
    assert message in problem.message


def test_e164_drops_separators_only() -> None:
    assert e164(" +44 (20) 7946.0958 ") == "+442079460958"
    with pytest.raises(ValueError):
        e164("+0 123 456 789")


def test_check_policy_refuses_a_number_claimed_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli.main import main

    bad = tmp_path / "sla.yml"
    bad.write_text(
        'intake:\n  phone:\n    numbers:\n      - "+31201234567"\n      - "+31 20 1234567"\n'
    )
    assert main(["check-policy", str(bad)]) == 1
    assert (
        f"{bad}:5: intake.phone.numbers[1]: number +31201234567 is already claimed by "
        "intake.phone.numbers[0]"
    ) in capsys.readouterr().err
