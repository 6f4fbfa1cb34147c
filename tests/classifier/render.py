"""Render issue form submissions exactly as GitHub writes them into the issue body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

FORMS_DIR = Path(__file__).resolve().parents[2] / ".github" / "ISSUE_TEMPLATE"
CONFIG_PATH = FORMS_DIR / "config.yml"
NO_RESPONSE = "_No response_"

# An answer: text for inputs, textareas and single dropdowns; the chosen options for a
# multiple dropdown or checkboxes; None (or empty) when left empty.
Answer = str | Sequence[str] | None
Form = dict[str, Any]
Element = dict[str, Any]


def form_paths() -> list[Path]:
    """Every issue form in the repository (config.yml is not a form)."""
    return sorted(path for path in FORMS_DIR.glob("*.yml") if path != CONFIG_PATH)


def load_form(path: Path) -> Form:
    form: Form = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    return form


def load_forms() -> dict[str, Form]:
    """Forms keyed by file stem, e.g. "problem"."""
    return {path.stem: load_form(path) for path in form_paths()}


def submitted_elements(form: Form) -> list[Element]:
    """The elements that appear in the body: all but `markdown`."""
    return [element for element in form["body"] if element["type"] != "markdown"]


def label(element: Element) -> str:
    return str(element["attributes"]["label"])


def options(element: Element) -> list[str]:
    """A dropdown's options, or a checkboxes element's option labels."""
    raw = element["attributes"]["options"]
    return [item["label"] if isinstance(item, dict) else str(item) for item in raw]


def render_submission(form: Form, answers: Mapping[str, Answer]) -> str:
    """The issue body GitHub writes for `answers` (keyed by element id) to `form`."""
    sections = [
        f"### {label(element)}\n\n{render_value(element, answers.get(element['id']))}"
        for element in submitted_elements(form)
    ]
    return "\n\n".join(sections)


def render_value(element: Element, answer: Answer) -> str:
    if element["type"] == "checkboxes":
        chosen = set(_as_list(answer))
        return "\n".join(
            f"- [{'X' if option in chosen else ' '}] {option}" for option in options(element)
        )
    if not answer:
        return NO_RESPONSE
    value = answer if isinstance(answer, str) else ", ".join(answer)
    render = element["attributes"].get("render")
    if element["type"] == "textarea" and render:
        return f"```{render}\n{value}\n```"
    return value


def parsed_value(element: Element, answer: Answer) -> str | None:
    """What parse_form should give back for `answer`."""
    if element["type"] == "checkboxes":
        chosen = set(_as_list(answer))
        return "\n".join(option for option in options(element) if option in chosen) or None
    if not answer:
        return None
    return answer if isinstance(answer, str) else ", ".join(answer)


def expected_fields(form: Form, answers: Mapping[str, Answer]) -> dict[str, str | None]:
    return {
        label(element): parsed_value(element, answers.get(element["id"]))
        for element in submitted_elements(form)
    }


def sample_answers(form: Form, priority_option: str) -> dict[str, Answer]:
    """A plausible full submission; logs hold text that looks like headings and checkboxes."""
    answers: dict[str, Answer] = {}
    for element in submitted_elements(form):
        element_id = element["id"]
        kind = element["type"]
        if element_id == "priority":
            answers[element_id] = priority_option
        elif kind == "checkboxes":
            answers[element_id] = options(element)[:1]
        elif kind == "dropdown" and element["attributes"].get("multiple"):
            answers[element_id] = options(element)[:2]
        elif kind == "dropdown":
            answers[element_id] = options(element)[-1]
        elif element["attributes"].get("render"):
            answers[element_id] = "ERROR boom\n### Priority\n\nNormal\n- [x] not a checkbox"
        elif kind == "textarea":
            answers[element_id] = f"First line about {element_id}.\n\n- a list\n- of things"
        else:
            answers[element_id] = f"sample {element_id}"
    return answers


def _as_list(answer: Answer) -> list[str]:
    if answer is None:
        return []
    return [answer] if isinstance(answer, str) else list(answer)
