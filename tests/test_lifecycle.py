"""What a support lead would call wrong (issue 11), each through signed deliveries, the real
store and the shipped issue forms: the production-down scope, late intake, closes that owe no
post-mortem, deleted issues, and the policy's switches."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.sla.policy import PolicyError, parse_policy
from sla_sandbox.standins import FakeSlack
from tests.classifier.render import load_form
from tests.factories import (
    FORMS,
    SUNDAY_3AM,
    URGENT,
    form_body,
    label,
    opened_problem,
    payload,
    problem_form,
)
from tests.harness import REPO, Harness, MovableTime, World, body_of, mock_writes
from tests.harness import WORLD_T0 as T0


def pages(slack: FakeSlack) -> list[object]:
    return [m for m in slack.messages if m.channel == "#on-call"]


def test_the_form_asks_who_is_affected_with_the_answers_the_policy_reads() -> None:
    spec = load_form(FORMS / "problem.yml")
    [element] = [e for e in spec["body"] if e.get("id") == "end_users_affected"]
    assert element["attributes"]["label"] == "End users affected"
    assert element["attributes"]["options"] == [
        "Only me or my team",
        "A few (up to 10)",
        "Many (more than 10)",
        "All end users",
    ]


@pytest.mark.parametrize(
    ("affected", "label_set", "paged"),
    [
        ("Only me or my team", "priority: urgent", False),
        ("A few (up to 10)", "priority: urgent", False),
        ("Many (more than 10)", "priority: production-down", True),
        ("All end users", "priority: production-down", True),
    ],
)
def test_production_down_needs_many_end_users_even_at_3am_on_a_sunday(
    harness: Harness,
    fake_slack: FakeSlack,
    time: MovableTime,
    affected: str,
    label_set: str,
    paged: bool,
) -> None:
    time.now = SUNDAY_3AM
    mock_writes(harness)
    harness.deliver("issues", opened_problem(affected))
    labels, comment = (body_of(c) for c in harness.github.calls())
    assert labels == {"labels": [label_set]}
    assert bool(pages(fake_slack)) is paged
    assert ("on-call engineer has been paged" in str(comment["body"])) is paged
    if not paged:
        assert "Why Urgent and not Production down?" in str(comment["body"])
        assert f"says *{affected}*" in str(comment["body"])
        assert harness.clocks()[0].priority == "urgent"


def test_a_request_processed_after_its_due_time_apologises_instead_of_promising_the_past(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    # Opened Friday 10:00 (urgent: due 11:00), reaching sla-bot at 21:00 (a redelivery).
    time.now = datetime.fromisoformat("2026-11-27T21:00:00+01:00")
    mock_writes(harness)
    urgent = "Urgent — blocking work or affecting end users (response within 1 business hour)"
    late = payload(
        "issues.opened",
        issue__body=problem_form(urgent, "A few (up to 10)"),
        issue__created_at="2026-11-27T09:00:00Z",
    )
    harness.deliver("issues", late)
    comment = str(body_of(harness.github.calls()[1])["body"])
    assert "You can expect a first response by" not in comment
    assert "reached us late" in comment and "Fri 27 Nov 2026, 11:00 CET" in comment
    [announcement] = [m for m in fake_slack.messages if m.channel == "#support"]
    assert "arrived already breached" in (announcement.text or "")


def test_page_channel_null_turns_paging_off(
    tmp_path: Path, github: object, fake_slack: FakeSlack, time: MovableTime, app_key: str
) -> None:
    policy = tmp_path / "sla.yml"
    policy.write_text("slack:\n  page_channel: null\n")
    time.now = SUNDAY_3AM
    with Harness(
        database_url=f"sqlite:///{tmp_path / 'sla.db'}",
        github=github,  # type: ignore[arg-type]
        slack=fake_slack,
        time=time,
        private_key=app_key,
        sla_policy_file=policy,
    ) as harness:
        mock_writes(harness)
        harness.deliver("issues", opened_problem("All end users"))
        comment = str(body_of(harness.github.calls()[1])["body"])
        breach = harness.sweep(datetime.fromisoformat("2026-11-29T03:31:00+01:00"))
    assert "paged" not in comment
    assert breach.breached == 1
    assert pages(fake_slack) == []
    [alert] = fake_slack.messages  # the breach still reaches the support channel
    assert alert.channel == "#support" and "breached" in (alert.text or "").lower()


def test_production_down_cannot_be_the_default_priority() -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy("default_priority: production-down\n", source="sla.yml")
    assert "sla.yml:1: default_priority: " in str(refused.value)
    assert "cannot be the default" in str(refused.value)


def test_closed_as_not_planned_owes_no_postmortem(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    time.now = SUNDAY_3AM
    mock_writes(harness)
    harness.deliver("issues", opened_problem("All end users"))
    for reason in ("not_planned", "duplicate"):
        closed = payload(
            "issues.closed",
            issue__labels=[label("type: problem"), label("priority: production-down")],
            issue__closed_at="2026-11-29T02:20:00Z",
            issue__state_reason=reason,
        )
        harness.deliver("issues", closed)
    assert harness.clocks(kind="postmortem") == []
    assert [c.state for c in harness.clocks()] == ["stopped"]
    bodies = [str(body_of(c).get("body", "")) for c in harness.github.calls()]
    assert not any("post-mortem" in b for b in bodies)
    assert [m for m in fake_slack.messages if m.thread_ts] == []  # no "resolved" in the page


def test_a_deleted_issue_never_breaches(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    time.now = SUNDAY_3AM
    mock_writes(harness)
    harness.deliver("issues", opened_problem("All end users"))
    harness.deliver("issues", payload("issues.closed", action="deleted", issue__state="open"))
    assert [c.state for c in harness.clocks()] == ["stopped"]
    before = len(fake_slack.messages)
    assert harness.sweep(datetime.fromisoformat("2026-11-29T05:00:00+01:00")).breached == 0
    assert len(fake_slack.messages) == before


@pytest.mark.anyio
async def test_a_private_org_member_answering_counts_once_github_confirms_their_role(
    world: World,
) -> None:
    fake, minute = world.fake, timedelta(minutes=1)
    for n in (1, 2):
        fake.open_issue(
            REPO, title=f"#{n}", body=form_body("problem", URGENT), user="dana", created_at=T0
        )
        await world.deliver("issues", "opened", n, T0 + minute)
    fake.set_role(REPO, "pat", "write")  # a member whose membership is private
    for n, who in ((1, "rando"), (1, "pat"), (2, "pat")):
        fake.add_comment(REPO, n, "Looking", who, "CONTRIBUTOR", at=T0 + 10 * minute)
        await world.deliver(
            "issue_comment",
            "created",
            n,
            T0 + 11 * minute,
            comment=fake.comments(REPO, n)[-1]["id"],
        )
    assert [(c.state, c.responder) for c in world.clocks(1)] == [("met", "pat")]
    assert [(c.state, c.responder) for c in world.clocks(2)] == [("met", "pat")]
    asked = fake.calls_to("GET", r"/collaborators/[^/]+/permission$")
    assert [c.path.split("/")[-2] for c in asked] == ["rando", "pat"]  # pat asked once


@pytest.mark.anyio
async def test_a_person_answering_through_another_app_counts(world: World) -> None:
    fake = world.fake
    fake.open_issue(
        REPO, title="Slack me", body=form_body("problem", URGENT), user="dana", created_at=T0
    )
    await world.deliver("issues", "opened", 1, T0 + timedelta(minutes=1))
    fake.add_comment(REPO, 1, "Answered from Slack", "bo", "MEMBER", at=T0 + timedelta(minutes=5))

    def via_app(data: dict[str, Any]) -> None:
        data["comment"]["performed_via_github_app"] = {"id": 9, "slug": "slack"}

    await world.deliver(
        "issue_comment",
        "created",
        1,
        T0 + timedelta(minutes=6),
        edit=via_app,
        comment=fake.comments(REPO, 1)[-1]["id"],
    )
    assert [(c.state, c.responder) for c in world.clocks(1)] == [("met", "bo")]


def test_a_renamed_repository_keeps_its_clocks_and_responses_still_count(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened_problem("A few (up to 10)"))  # urgent, on acme/support
    renamed = {
        "action": "renamed",
        "changes": {"repository": {"name": {"from": "support"}}},
        "repository": {
            "id": 1296269,
            "name": "helpdesk",
            "full_name": "acme/helpdesk",
            "owner": {"login": "acme", "type": "Organization"},
        },
        "installation": {"id": 2311213},
        "sender": {"login": "admin", "type": "User"},
    }
    assert harness.deliver("repository", renamed).status_code == 202
    answer = payload("issue_comment.created", comment__created_at="2026-11-29T02:20:00Z")
    answer["repository"]["full_name"], answer["repository"]["name"] = "acme/helpdesk", "helpdesk"
    harness.deliver("issue_comment", answer)
    assert harness.clocks(repo=REPO) == []
    [moved] = harness.clocks(repo="acme/helpdesk")
    assert (moved.state, moved.responder) == ("met", "road-runner")
    harness.sweep(datetime.fromisoformat("2026-12-02T12:00:00+01:00"))
    assert not [m for m in fake_slack.messages if "breached" in (m.text or "").lower()]
