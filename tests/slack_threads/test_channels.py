"""intake.slack in the policy: which repository takes a channel's requests; a channel two
repositories claim is refused with one line naming both."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from app.sla.policy import DEFAULT_POLICY, PolicyError, parse_policy
from app.slack_threads import channels
from app.store import repos, slack
from app.store.database import Database

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_list_claims_the_channels_for_the_repository_whose_policy_it_is() -> None:
    policy = parse_policy("intake:\n  slack:\n    channels: [C0SUPPORT]\n    emoji: ':sos:'\n")
    assert policy.intake.slack.claims("acme/support") == ("C0SUPPORT",)
    assert policy.intake.slack.emoji == "sos"
    assert DEFAULT_POLICY.intake.slack.emoji == "ticket"
    assert DEFAULT_POLICY.intake.slack.internal_prefix == "internal:"
    assert DEFAULT_POLICY.intake.slack.claims("acme/support") == ()


def test_a_mapping_in_the_org_or_deployment_file_names_each_channels_repository() -> None:
    mapping = "{C0ACME: acme/support, C0BETA: acme/beta}"
    org = parse_policy(f"intake:\n  slack:\n    channels: {mapping}\n")
    repo = parse_policy("timezone: UTC\n", base=org)  # a repository's file over the org's
    assert repo.intake.slack.claims("acme/support") == ("C0ACME",)
    assert repo.intake.slack.claims("acme/beta") == ("C0BETA",)
    assert repo.intake.slack.claims("acme/other") == ()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "channels: ['#support']",
            "intake.slack.channels.#support: '#support' is not a Slack channel id",
        ),
        (
            "channels: {C0SUPPORT: support}",
            "intake.slack.channels.C0SUPPORT: 'support' is not a repository",
        ),
        ("emoji: 'two words'", "intake.slack.emoji: 'two words' is not an emoji name"),
    ],
)
def test_mistakes_are_named_with_their_line_and_key(text: str, says: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(f"intake:\n  slack:\n    {text}\n", source="sla.yml")
    assert f"sla.yml:3: {says}" in str(caught.value)


def test_a_channel_claimed_by_two_repositories_is_refused_with_one_line_naming_both(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    record = channels.recorder(db, lambda: T0)
    claims = parse_policy("intake:\n  slack:\n    channels: [C0SUPPORT]\n")
    asyncio.run(record(1, "acme/support", claims))
    assert db.tx(channels.resolve, "C0SUPPORT", DEFAULT_POLICY) == slack.ChannelIntake(
        "C0SUPPORT", "acme/support", 1
    )
    with caplog.at_level(logging.ERROR, logger="app.slack_threads.channels"):
        asyncio.run(record(1, "acme/other", claims))
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert lines == [
        "slack channel C0SUPPORT is claimed by both acme/support and acme/other "
        "(intake.slack.channels): its requests are ignored until one policy gives it up"
    ]
    assert db.tx(channels.resolve, "C0SUPPORT", DEFAULT_POLICY) is None  # refused
    # The second repository gives it up: the first keeps it.
    asyncio.run(record(1, "acme/other", DEFAULT_POLICY))
    assert db.tx(channels.resolve, "C0SUPPORT", DEFAULT_POLICY).repo == "acme/support"
    # The first gives it up too: nobody takes its requests.
    asyncio.run(record(1, "acme/support", DEFAULT_POLICY))
    assert db.tx(channels.resolve, "C0SUPPORT", DEFAULT_POLICY) is None


def test_the_deployment_file_maps_a_channel_before_any_repository_policy_is_read(
    db: Database,
) -> None:
    deployment = parse_policy("intake:\n  slack:\n    channels: {C0ACME: acme/support}\n")
    db.tx(repos.add, "acme/support", 42, T0)
    found = db.tx(channels.resolve, "C0ACME", deployment)
    assert found == slack.ChannelIntake("C0ACME", "acme/support", 42)
    assert db.tx(channels.resolve, "C0NOBODY", deployment) is None
