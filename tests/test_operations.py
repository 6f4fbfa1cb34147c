"""What an operator touches: /metrics after a few deliveries, health probes, delivery logs."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.logs import JsonFormatter, TextFormatter, redact
from sla_sandbox.standins import FakeSlack
from tests.factories import opened, payload
from tests.harness import TOKEN, Harness, mock_writes


def metric(text: str, name: str, **labels: str) -> float:
    """A sample's value from the Prometheus text format, labels in any order."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise AssertionError(f"{name}{labels} not in metrics")


def test_metrics_after_a_few_deliveries(harness: Harness, fake_slack: FakeSlack) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened(), delivery="m-1")
    harness.deliver("issues", opened(), delivery="m-1")  # duplicate
    harness.deliver("issues", opened(), secret="wrong")
    harness.deliver("issues", b"{not json")
    response = harness.http.get(f"{harness.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert metric(text, "sla_bot_deliveries_total", event="issues", outcome="accepted") == 1
    assert metric(text, "sla_bot_deliveries_total", event="issues", outcome="duplicate") == 1
    # Unauthenticated requests never name a series: their event is "unknown".
    assert metric(text, "sla_bot_deliveries_total", event="unknown", outcome="unauthorized") == 1
    assert metric(text, "sla_bot_deliveries_total", event="issues", outcome="rejected") == 1
    assert metric(text, "sla_bot_deliveries_total", event="issues", outcome="processed") == 1
    assert metric(text, "sla_bot_processing_seconds_count", event="issues") == 1
    assert metric(text, "sla_bot_running_clocks", priority="urgent") == 1
    assert metric(text, "sla_bot_github_requests_total", method="POST", status="201") == 2
    assert metric(text, "sla_bot_github_requests_total", method="POST", status="200") == 1
    assert (
        metric(text, "sla_bot_effects_total", target="slack", kind="announce", outcome="sent") == 1
    )
    assert metric(text, "sla_bot_pending", queue="effects") == 0
    assert metric(text, "sla_bot_pending", queue="jobs") == 0


def test_health_and_readiness(harness: Harness) -> None:
    assert harness.http.get(f"{harness.url}/healthz").json() == {"status": "ok"}
    ready = harness.http.get(f"{harness.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"


def test_one_structured_line_per_delivery(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.engine.processor")
    mock_writes(harness)
    harness.deliver("issues", opened(), delivery="log-1")
    (record,) = [r for r in caplog.records if r.name == "app.engine.processor"]
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "delivery processed"
    for field, value in {
        "delivery_id": "log-1",
        "event": "issues",
        "action": "opened",
        "installation_id": 2311213,
        "repo": "acme/support",
        "issue": 7,
        "outcome": "processed",
    }.items():
        assert line[field] == value
    assert line["duration_ms"] >= 0


def test_formatters_redact_tokens_and_keys() -> None:
    record = logging.LogRecord("x", logging.INFO, "", 0, "token %s", (TOKEN,), None)
    record.key = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"
    for formatter in (JsonFormatter(), TextFormatter()):
        out = formatter.format(record)
        assert TOKEN not in out and "abc" not in out and "[redacted]" in out
    assert redact("Authorization: Bearer xoxb-123-456-abcdef") == "Authorization: [redacted]"


def test_a_text_log_line_cannot_be_forged_or_coloured() -> None:
    forged = "Printer down\n2026-11-27 10:00:00 ERROR app: all is lost \x1b[31mred"
    record = logging.LogRecord("app.notify", logging.INFO, "", 0, "alert: %s", (forged,), None)
    record.title = forged
    record.color_message = "\x1b[32malert\x1b[0m"  # uvicorn's, never shown
    out = TextFormatter().format(record)
    assert "\n" not in out and "\x1b" not in out
    assert "Printer down\\n2026-11-27" in out and "\\x1b[31mred" in out
    assert "color_message" not in out


def test_placeholder_secrets_are_refused_by_name() -> None:
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="GITHUB_WEBHOOK_SECRET is a placeholder"):
        Settings(github_webhook_secret="changeme").webhook_secret()
    with pytest.raises(ConfigError, match="GITHUB_WEBHOOK_SECRET is required"):
        Settings().webhook_secret()


def test_serve_refuses_to_start_without_a_webhook_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli.main import main

    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET", raising=False)
    assert main(["serve", "--port", "1"]) == 2  # refused before it binds the port
    assert "GITHUB_WEBHOOK_SECRET is required" in capsys.readouterr().err


def test_a_malformed_private_key_is_a_clear_error() -> None:
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="not a PEM private key"):
        Settings(github_app_id="1", github_private_key="hello").private_key()


def test_the_comment_by_the_issue_author_is_ignored_without_cost(harness: Harness) -> None:
    data = payload("issue_comment.created")
    data["comment"]["user"] = data["issue"]["user"]
    harness.deliver("issue_comment", data)
    assert harness.github.calls(setup=True) == []


def test_a_key_that_cannot_sign_stops_start_up(tmp_path: object) -> None:
    from app.config import ConfigError
    from app.services import build

    fake_pem = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    settings = Settings(
        github_app_id="1",
        github_private_key=fake_pem,
        github_webhook_secret="s" * 20,
        database_url=f"sqlite:///{tmp_path}/k.db",
    )
    with pytest.raises(ConfigError, match="GITHUB_PRIVATE_KEY: the key could not sign") as err:
        build(settings)
    assert "bm90IGEga2V5" not in str(err.value)


def test_an_app_id_without_a_key_is_a_clear_error(tmp_path: object) -> None:
    from app.config import ConfigError
    from app.services import build

    settings = Settings(
        github_app_id="1", github_webhook_secret="s" * 20, database_url=f"sqlite:///{tmp_path}/k.db"
    )
    with pytest.raises(ConfigError, match="go together"):
        build(settings)


def test_the_grafana_dashboard_and_alert_rules_use_metrics_that_exist(
    harness: Harness, fake_slack: FakeSlack
) -> None:
    import json
    import re
    from pathlib import Path

    import yaml

    mock_writes(harness)
    harness.deliver("issues", opened())
    exposed = harness.http.get(f"{harness.url}/metrics").text
    names = set(re.findall(r"^(sla_bot_[a-z_]+?)(?:_bucket|_count|_sum)?[{ ]", exposed, re.M))
    # A gauge with no value yet (the rate limit, until GitHub answers) is still declared.
    names |= set(re.findall(r"^# TYPE (sla_bot_[a-z_]+) ", exposed, re.M))
    docs = Path(__file__).resolve().parents[1] / "docs"
    dashboard = json.loads((docs / "grafana-dashboard.json").read_text())
    rules = yaml.safe_load((docs / "prometheus-alerts.yml").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = {
        re.sub(r"_(bucket|count|sum)$", "", m)
        for e in exprs
        for m in re.findall(r"sla_bot_[a-z_]+", e)
    }
    assert used and used <= names, used - names


def test_the_log_goes_to_stderr_as_it_is_when_a_line_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A program that swaps stderr after configuring the log (pytest's capture does, between
    tests) gets the lines on the new one, never an error about a closed file."""
    import io
    import logging
    import sys

    from app.config import Settings
    from app.logs import configure

    root = logging.getLogger()
    kept = root.handlers[:], root.level
    try:
        configure(Settings(log_format="text", log_level="INFO"))
        later = io.StringIO()
        monkeypatch.setattr(sys, "stderr", later)
        logging.getLogger("app.test").info("after the swap")
        assert "after the swap" in later.getvalue()
    finally:
        root.handlers[:], _ = kept
        root.setLevel(kept[1])
