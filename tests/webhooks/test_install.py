"""Install: each repository gets the missing labels (existing ones left alone) and its clocks."""

from __future__ import annotations

import json
from datetime import timedelta
from time import monotonic

import httpx

from app.store import jobs, outbox
from tests.factories import payload
from tests.harness import Harness

EXPECTED_LABELS = {
    "priority: production-down",
    "priority: urgent",
    "priority: normal",
    "type: add-remove-user",
    "type: change-request",
    "type: guidance",
    "type: on-call",
    "type: problem",
    "type: other",
    "sla: breached",
    "sla: waiting on customer",
    "postmortem: due",
    "postmortem: done",
}


def mock_repo(harness: Harness, repo: str, existing: list[str]) -> object:
    harness.github.route("GET", f"/repos/{repo}/labels").respond(
        200, json=[{"name": n, "color": "ededed"} for n in existing]
    )
    harness.github.route("GET", f"/repos/{repo}/issues").respond(200, json=[])
    return harness.github.route("POST", f"/repos/{repo}/labels").mock(
        side_effect=lambda request: httpx.Response(201, json=json.loads(request.content))
    )


def test_install_creates_the_missing_labels_in_every_repo(harness: Harness) -> None:
    support = mock_repo(harness, "acme/support", ["Priority: Urgent", "bug"])
    billing = mock_repo(harness, "acme/billing-help", [])
    assert harness.deliver("installation", payload("installation.created")).status_code == 202
    calls = support.calls  # type: ignore[attr-defined]
    created = {json.loads(c.request.content)["name"] for c in calls}
    assert created == EXPECTED_LABELS - {"priority: urgent"}  # existing (any case) left alone
    sent = [json.loads(c.request.content) for c in billing.calls]  # type: ignore[attr-defined]
    assert {s["name"] for s in sent} == EXPECTED_LABELS
    urgent = next(s for s in sent if s["name"] == "priority: urgent")
    assert urgent["color"] == "d93f0b" and urgent["description"]


def test_a_label_created_meanwhile_is_left_alone(harness: Harness) -> None:
    harness.github.route("GET", "/repos/acme/billing-help/labels").respond(200, json=[])
    harness.github.route("GET", "/repos/acme/billing-help/issues").respond(200, json=[])
    exists = {
        "message": "Validation Failed",
        "documentation_url": "https://docs.github.com",
        "errors": [{"resource": "Label", "code": "already_exists", "field": "name"}],
    }
    create = harness.github.route("POST", "/repos/acme/billing-help/labels").respond(
        422, json=exists
    )
    data = payload("installation_repositories.added")
    assert harness.deliver("installation_repositories", data).status_code == 202
    assert create.call_count == len(EXPECTED_LABELS)
    assert harness.sweep(harness.time.now).sent == 0  # nothing left to retry


def test_repositories_added_are_tracked(harness: Harness) -> None:
    mock_repo(harness, "acme/billing-help", list(EXPECTED_LABELS))
    harness.deliver("installation_repositories", payload("installation_repositories.added"))
    from app.store import repos

    assert harness.services.db.tx(repos.active) == [("acme/billing-help", 2311213)]


def test_uninstalling_stops_tracking_and_alerting(harness: Harness) -> None:
    from tests.factories import opened
    from tests.harness import mock_writes

    mock_repo(harness, "acme/support", list(EXPECTED_LABELS))
    mock_repo(harness, "acme/billing-help", list(EXPECTED_LABELS))
    harness.deliver("installation", payload("installation.created"))
    mock_writes(harness)
    harness.deliver("issues", opened())
    assert [c.state for c in harness.clocks()] == ["running"]
    harness.deliver("installation", payload("installation.created", action="deleted"))
    assert [c.state for c in harness.clocks()] == ["dropped"]
    from app.store import repos

    assert harness.services.db.tx(repos.active) == []
    assert harness.sweep(harness.time.now + timedelta(days=7)).breached == 0


def test_an_installations_reconcile_runs_as_a_job_right_after_install(harness: Harness) -> None:
    """Open issues from before the install get their clocks: a reconcile per repository,
    planned with the install and run within moments (not at the runner's next poll)."""
    mock_repo(harness, "acme/support", list(EXPECTED_LABELS))
    mock_repo(harness, "acme/billing-help", list(EXPECTED_LABELS))
    listed = harness.github.route("GET", "/repos/acme/support/issues").respond(200, json=[])
    began = monotonic()
    harness.deliver("installation", payload("installation.created"), delivery="d-install")
    assert monotonic() - began < 5
    assert listed.call_count == 1
    key = "install:acme/support:d-install:reconcile"  # the key the outbox gave it before
    ran = harness.services.db.tx(jobs.by_key, key)
    assert ran is not None and (ran.status, ran.kind, ran.installation_id) == (
        jobs.DONE,
        "reconcile",
        2311213,
    )
    assert harness.services.db.tx(outbox.by_key, key) is None  # a job, not an effect
    metrics = harness.http.get(f"{harness.url}/metrics").text
    assert 'sla_bot_jobs_total{kind="reconcile",outcome="done"} 2.0' in metrics  # both repos
