"""The issue forms: schema-valid, shaped as the classifier expects, and round-tripping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from app.sla.classifier import DISTINCTIVE_HEADINGS, PRIORITY_HEADING, classify, parse_form
from app.sla.domain import Priority, RequestType
from tests.classifier.render import (
    CONFIG_PATH,
    Answer,
    Form,
    expected_fields,
    form_paths,
    label,
    load_forms,
    options,
    render_submission,
    sample_answers,
    submitted_elements,
)

FORMS = load_forms()
PRIORITIES = [Priority.PRODUCTION_DOWN, Priority.URGENT, Priority.NORMAL]


def _check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def _priority_element(form: Form) -> dict[str, Any]:
    elements: list[dict[str, Any]] = [e for e in form["body"] if e.get("id") == "priority"]
    (element,) = elements
    return element


def _labels(form: Form) -> set[str]:
    return {label(element) for element in submitted_elements(form)}


def test_one_form_per_request_type() -> None:
    assert set(FORMS) == {request_type.value for request_type in RequestType}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_form_names_type_and_labels(name: str) -> None:
    form = FORMS[name]
    assert form["name"] == RequestType(name).title
    assert form["labels"] == [f"type: {name}"]


@pytest.mark.parametrize("name", sorted(FORMS))
def test_priority_dropdown(name: str) -> None:
    element = _priority_element(FORMS[name])
    assert element["type"] == "dropdown"
    assert label(element) == PRIORITY_HEADING
    assert element["validations"]["required"] is True
    assert "default" not in element["attributes"]
    assert not element["attributes"].get("multiple")
    choices = options(element)
    assert len(choices) == 3
    for choice, priority in zip(choices, PRIORITIES, strict=True):
        assert choice.startswith(f"{priority.title} — ")
    assert "Problem/Troubleshooting only" in choices[0]
    assert choices == options(_priority_element(FORMS["problem"]))


@pytest.mark.parametrize("name", sorted(FORMS))
def test_distinctive_headings_match_the_forms(name: str) -> None:
    own = DISTINCTIVE_HEADINGS[RequestType(name)]
    assert own, "every form needs a heading that identifies it"
    assert set(own) <= _labels(FORMS[name])
    for other, form in FORMS.items():
        if other != name:
            assert not set(own) & _labels(form), f"{other} shares a heading with {name}"


@pytest.mark.parametrize("name", sorted(FORMS))
@pytest.mark.parametrize("priority", PRIORITIES, ids=str)
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_round_trip(name: str, priority: Priority, newline: str) -> None:
    form, request_type = FORMS[name], RequestType(name)
    option = options(_priority_element(form))[PRIORITIES.index(priority)]
    answers = sample_answers(form, option)
    body = render_submission(form, answers).replace("\n", newline)
    downgraded = priority is Priority.PRODUCTION_DOWN and request_type is not RequestType.PROBLEM

    assert parse_form(body) == expected_fields(form, answers)
    for type_from_labels, source in [(None, "form"), (request_type, "label")]:
        result = classify(body, type_from_labels=type_from_labels)
        assert (result.request_type, result.type_source) == (request_type, source)
        assert result.requested_priority is priority
        assert result.priority is (Priority.URGENT if downgraded else priority)
        assert (result.downgraded, result.assumed_default) == (downgraded, False)


@pytest.mark.parametrize("name", sorted(FORMS))
def test_round_trip_empty_submission(name: str) -> None:
    """Private repositories do not enforce `required`: everything may come back empty."""
    form = FORMS[name]
    body = render_submission(form, {})
    assert parse_form(body) == dict.fromkeys(_labels(form))
    result = classify(body, default_priority=Priority.URGENT)
    assert (result.request_type, result.type_source) == (RequestType(name), "form")
    assert (result.priority, result.assumed_default) == (Priority.URGENT, True)


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30)


def _plain(lines: list[str]) -> str:
    """Lines that stay one plain value: no heading, fence or checkbox lines."""
    kept = [("x" + line if line.lstrip()[:1] in set("#`~-*+") else line) for line in lines]
    return "\n".join(kept).strip()


@st.composite
def _answers(draw: st.DrawFn, form: Form) -> dict[str, Answer]:
    answers: dict[str, Answer] = {}
    for element in submitted_elements(form):
        if element["type"] == "checkboxes" or element["attributes"].get("multiple"):
            chosen = draw(st.lists(st.sampled_from(options(element)), unique=True))
            answers[element["id"]] = [o for o in options(element) if o in chosen]
        elif element["type"] == "dropdown":
            answers[element["id"]] = draw(st.none() | st.sampled_from(options(element)))
        else:
            value = _plain(draw(st.lists(_TEXT, max_size=4)))
            answers[element["id"]] = None if value.casefold() == "_no response_" else value
    return answers


@pytest.mark.parametrize("name", sorted(FORMS))
@given(data=st.data())
def test_arbitrary_answers_round_trip(name: str, data: st.DataObject) -> None:
    form = FORMS[name]
    answers = data.draw(_answers(form))
    body = render_submission(form, answers)
    assert parse_form(body) == expected_fields(form, answers)
    assert classify(body).request_type is RequestType(name)


def test_forms_pass_the_issue_forms_schema() -> None:
    result = _check_jsonschema("vendor.github-issue-forms", *form_paths())
    assert result.returncode == 0, result.stdout + result.stderr


def test_config_passes_the_issue_config_schema() -> None:
    result = _check_jsonschema("vendor.github-issue-config", CONFIG_PATH)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
    assert config["blank_issues_enabled"] is False
    assert "contact_links" not in config  # the built-in policy has none: none is made up


def test_schema_check_catches_a_broken_form(tmp_path: Path) -> None:
    form = yaml.safe_load((form_paths()[0]).read_text(encoding="utf-8"))
    del _priority_element(form)["attributes"]["label"]
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(form), encoding="utf-8")
    result = _check_jsonschema("vendor.github-issue-forms", broken)
    assert result.returncode != 0
    assert "label" in result.stdout + result.stderr


def test_the_shipped_forms_are_what_sla_bot_forms_writes_for_the_default_policy() -> None:
    from app.forms import render
    from app.sla.policy import DEFAULT_POLICY

    shipped = CONFIG_PATH.parent
    for name, text in render(DEFAULT_POLICY).items():
        assert (shipped / name).read_text() == text, name


def test_forms_written_from_a_policy_tell_its_targets_and_pass_the_schemas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli.main import main

    policy = tmp_path / "sla.yml"
    policy.write_text(
        "priorities:\n  urgent:\n    within: 2h\n  production-down:\n    within: 15m\n"
        "contacts:\n  slack_help_url: https://acme.slack.com/archives/C0HELP\n"
        "  escalation_url: https://acme.example/escalation\n"
    )
    out = tmp_path / "ISSUE_TEMPLATE"
    assert main(["forms", "--policy", str(policy), "--out", str(out)]) == 0
    problem = (out / "problem.yml").read_text()
    assert "response within 2 business hours" in problem and "within 15 minutes 24/7" in problem
    assert "https://acme.slack.com/archives/C0HELP" in (out / "config.yml").read_text()
    forms = sorted(p for p in out.glob("*.yml") if p.name != "config.yml")
    assert len(forms) == 6
    assert _check_jsonschema("vendor.github-issue-forms", *forms).returncode == 0
    assert _check_jsonschema("vendor.github-issue-config", out / "config.yml").returncode == 0
    assert "EXAMPLE URLs" not in capsys.readouterr().err
