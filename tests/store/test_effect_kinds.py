"""Effect kinds: one enum, each kind with its target, its order and its sender; the values
are what outbox rows store, so rows written by earlier versions still send. Reconcile and
redeliver are jobs, not effects (their rows moved to the jobs table, migration 0017)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.notify.messages import AlertKind
from app.store import effects, outbox
from app.store.effects import EffectKind, Order
from app.store.jobs import JobKind
from tests.harness import Harness

# What rows already in stores say: a value changed here would leave those rows unsendable.
STORED = {
    "add-labels",
    "comment",
    "ensure-labels",
    "remove-label",
    "standing",
    "close-issue",
    "call-issue",
    "slack-create-issue",
    "slack-comment",
    "slack-edit-comment",
    "slack-edit-issue",
    "page",
    "announce",
    "warning",
    "breach",
    "late-response",
    "resolved",
    "postmortem-due",
    "next-response-breach",
    "update-overdue",
    "resolution-breach",
    "update",
    "escalation",
    "policy-broken",
    "call-hung-up",
    "slack-open",
    "slack-reply",
    "slack-react",
    "trigger",
    "acknowledge",
    "resolve",
}


def test_the_kinds_are_the_values_stored_rows_carry() -> None:
    assert {str(kind) for kind in EffectKind} == STORED


def test_jobs_keep_the_kinds_their_outbox_rows_stored_and_are_no_effects() -> None:
    assert {str(kind) for kind in JobKind} == {"reconcile", "redeliver"}
    assert not {str(kind) for kind in JobKind} & {str(kind) for kind in EffectKind}


def test_every_kind_of_effect_has_a_sender_in_the_app(harness: Harness) -> None:
    assert harness.services.dispatcher.senders.missing() == set()


def test_every_slack_alert_is_a_kind_sent_to_slack() -> None:
    for alert in AlertKind:
        assert effects.KINDS[EffectKind(alert.value)].target == outbox.SLACK


def test_only_writes_to_one_issue_overlap_and_only_github_content_is_paced() -> None:
    github = {k for k, s in effects.KINDS.items() if s.target == outbox.GITHUB}
    overlapping = {k for k in github if effects.KINDS[k].order is Order.ISSUE}
    assert overlapping == {EffectKind.ADD_LABELS, EffectKind.COMMENT, EffectKind.CLOSE_ISSUE}
    assert set(effects.PACED) == {"add-labels", "comment", "close-issue", "ensure-labels"}


def test_a_kind_this_version_does_not_know_has_no_sender() -> None:
    senders = effects.Senders()
    senders.add({EffectKind.COMMENT: _never})
    with pytest.raises(ValueError, match="unknown effect kind 'from-the-future'"):
        senders("from-the-future")
    assert effects.spec("from-the-future") is None
    assert senders("comment") is _never


async def _never(item: outbox.Item) -> dict[str, object]:
    raise AssertionError("not sent in this test")


@pytest.mark.parametrize("module", ["app.store.outbox", "app.store.effects", "app.store.tracking"])
def test_each_store_module_imports_first_on_its_own(module: str) -> None:
    """A command imports whichever it needs first (`deliveries --failed`: the outbox)."""
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
