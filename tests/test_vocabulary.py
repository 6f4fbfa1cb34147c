"""A team's own words (issue 28): four priorities and four request types of its own, from
`check-policy` through the forms and a signed delivery to the report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from app.cli.main import main
from app.sla.policy import Policy, load_policy_file
from sla_sandbox.standins import FakeSlack
from tests.classifier.render import options, render_submission, sample_answers
from tests.factories import payload
from tests.harness import GitHubMock, Harness, MovableTime, body_of, mock_writes, with_policy

TEAM_POLICY = """\
priorities:
  sev1:
    name: "Sev 1"
    form: "the hosted platform is down"
    label: "sev: 1"
    color: "b60205"
    within: "15m"
    calendar: "24/7"
    page: true
    requires: {type: [bug], end_users: ["All"], field: "Who is affected"}
  sev2: {name: "Sev 2", form: "a feature is broken", label: "sev: 2", within: "2h"}
  sev3: {name: "Sev 3", form: "one person is blocked", label: "sev: 3", within: next-business-day}
  sev4: {name: "Sev 4", form: "a question or a wish", label: "sev: 4", within: "3d"}
types:
  billing:
    name: "Billing"
    about: "Invoices, payments and plans."
    label: "type: billing"
    fields:
      - {type: input, id: invoice, attributes: {label: "Invoice or account"}}
  bug:
    name: "Bug"
    about: "Something in the product is broken."
    label: "type: bug"
    fields:
      - type: dropdown
        id: who
        attributes: {label: "Who is affected", options: ["Only me", "Some users", "All users"]}
      - {type: textarea, id: what, attributes: {label: "What broke"}}
  question: {name: "Question", about: "How do I...?", label: "type: question"}
  access:
    name: "Access"
    about: "Accounts and permissions."
    label: "type: access"
    fields:
      - {type: input, id: account, attributes: {label: "Account to change"}}
"""


@pytest.fixture
def team_policy(tmp_path: Path) -> Path:
    path = tmp_path / "team.yml"
    path.write_text(TEAM_POLICY)
    return path


@pytest.fixture
def team(
    tmp_path: Path, github: GitHubMock, fake_slack: FakeSlack, time: MovableTime, app_key: str
) -> Iterator[Harness]:
    with with_policy(TEAM_POLICY, tmp_path, github, fake_slack, time, app_key) as running:
        yield running


def written_forms(policy_file: Path, out: Path) -> dict[str, dict[str, Any]]:
    assert main(["forms", "--policy", str(policy_file), "--out", str(out)]) == 0
    return {
        path.stem: yaml.safe_load(path.read_text())
        for path in out.glob("*.yml")
        if path.name != "config.yml"
    }


def dropdown(form: dict[str, Any]) -> list[str]:
    (element,) = [e for e in form["body"] if e.get("id") == "priority"]
    return options(element)


def test_check_policy_takes_a_team_of_four_priorities_and_four_types(
    team_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-policy", str(team_policy)]) == 0
    assert capsys.readouterr().out.strip() == f"{team_policy}: ok"
    policy = load_policy_file(team_policy)
    assert list(policy.priorities) == ["sev1", "sev2", "sev3", "sev4"]
    assert (policy.default_priority, policy.default_type) == ("sev4", "access")


def test_a_team_with_four_priorities_gets_four_forms_with_four_dropdown_options(
    team_policy: Path, tmp_path: Path
) -> None:
    forms = written_forms(team_policy, tmp_path / "forms")
    assert sorted(forms) == ["access", "billing", "bug", "question"]
    for form in forms.values():
        choices = dropdown(form)
        assert [c.split(" — ")[0] for c in choices] == ["Sev 1", "Sev 2", "Sev 3", "Sev 4"]
    assert dropdown(forms["bug"])[0] == (
        "Sev 1 — the hosted platform is down (Bug only; on-call is paged, "
        "response within 15 minutes 24/7)"
    )
    assert forms["billing"]["name"] == "Billing"
    assert forms["billing"]["labels"] == ["type: billing"]


def test_an_issue_from_the_billing_form_with_sev2_is_labeled_timed_told_and_reported(
    team: Harness,
    team_policy: Path,
    tmp_path: Path,
    time: MovableTime,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    billing = written_forms(team_policy, tmp_path / "forms")["billing"]
    body = render_submission(billing, sample_answers(billing, dropdown(billing)[1]))
    labels, comment = mock_writes(team)

    sent = payload("issues.opened", issue__body=body, issue__labels=[])
    assert team.deliver("issues", sent).status_code == 202

    assert body_of(labels.calls[0])["labels"] == ["sev: 2", "type: billing"]  # type: ignore[attr-defined]
    (first,) = team.clocks()
    assert (first.priority, first.request_type, first.state) == ("sev2", "billing", "running")
    # Friday 16:30 in Amsterdam and 2 open hours: half an hour on Friday, 90 minutes Monday.
    assert first.due_at == datetime(2026, 11, 30, 10, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
    text = str(body_of(comment.calls[0])["body"])  # type: ignore[attr-defined]
    assert "We have it as **Billing** with priority **Sev 2**." in text

    monkeypatch.setenv("DATABASE_URL", team.settings.database_url)
    monkeypatch.setenv("SLA_POLICY_FILE", str(team_policy))
    capsys.readouterr()
    assert main(["report", "--since", "3650", "--format", "json"]) == 0
    rows = {(r["group"], r["name"]): r for r in json.loads(capsys.readouterr().out)}
    assert rows[("priority", "sev2")]["requests"] == 1
    assert rows[("priority", "sev2")]["title"] == "Sev 2"
    assert rows[("type", "billing")]["requests"] == 1
    assert main(["report", "--since", "3650"]) == 0
    table = capsys.readouterr().out
    assert "Sev 2" in table and "Billing" in table


def test_sev1_on_a_billing_form_is_sev2_and_the_comment_names_the_rule(
    team: Harness, team_policy: Path, tmp_path: Path
) -> None:
    billing = written_forms(team_policy, tmp_path / "forms")["billing"]
    body = render_submission(billing, sample_answers(billing, dropdown(billing)[0]))
    labels, comment = mock_writes(team)

    team.deliver("issues", payload("issues.opened", issue__body=body, issue__labels=[]))

    assert body_of(labels.calls[0])["labels"] == ["sev: 2", "type: billing"]  # type: ignore[attr-defined]
    text = str(body_of(comment.calls[0])["body"])  # type: ignore[attr-defined]
    assert "**Why Sev 2 and not Sev 1?** Sev 1 is reserved for Bug requests" in text


def test_install_creates_the_team_labels(team_policy: Path) -> None:
    from app.webhooks.install import label_specs

    names = [name for name, _, _ in label_specs(load_policy_file(team_policy))]
    assert names[:8] == [
        "sev: 1",
        "sev: 2",
        "sev: 3",
        "sev: 4",
        "type: billing",
        "type: bug",
        "type: question",
        "type: access",
    ]


def test_the_built_in_policy_is_the_seed_table() -> None:
    policy = Policy()
    assert [policy.name_of(p) for p in policy.priorities] == ["Production down", "Urgent", "Normal"]
    assert [str(t) for t in policy.types] == [
        "add-remove-user",
        "change-request",
        "guidance",
        "on-call",
        "problem",
        "other",
    ]


def test_an_issue_without_a_form_gets_the_team_s_least_urgent_priority_and_last_type(
    team: Harness,
) -> None:
    labels, comment = mock_writes(team)

    team.deliver("issues", payload("issues.opened", issue__body="Help!", issue__labels=[]))

    assert body_of(labels.calls[0])["labels"] == ["sev: 4", "type: access"]  # type: ignore[attr-defined]
    text = str(body_of(comment.calls[0])["body"])  # type: ignore[attr-defined]
    assert "so we set **Sev 4**. If it is more urgent (**Sev 3**: one person is blocked)" in text
    assert "(`sev: 3`)" in text
