"""Tests for parse_form: rendered, edited and hostile issue bodies."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.sla.classifier import parse_form

CASES: list[tuple[str, str | None, dict[str, str | None]]] = [
    ("none", None, {}),
    ("empty", "", {}),
    ("free text", "Please help, the printer is on fire.\n\nThanks", {}),
    ("rendered", "### Name\n\nAda\n\n### Age\n\n_No response_", {"Name": "Ada", "Age": None}),
    ("crlf", "### Name\r\n\r\nAda\r\n\r\n### Age\r\n\r\n42\r\n", {"Name": "Ada", "Age": "42"}),
    ("lone cr", "### Name\r\rAda\r### Age\r\r42", {"Name": "Ada", "Age": "42"}),
    ("text before first heading", "Urgent please!\n\n### Name\n\nAda", {"Name": "Ada"}),
    (
        "trailing spaces",
        "### Name   \n\nAda   \n\n### Age \t\n\n42  ",
        {"Name": "Ada", "Age": "42"},
    ),
    ("missing blank lines", "### Name\nAda\n### Age\n42", {"Name": "Ada", "Age": "42"}),
    ("extra #'s", "#### Name\n\nAda\n\n###### Age\n\n42", {"Name": "Ada", "Age": "42"}),
    ("closing #'s", "### Name ###\n\nAda", {"Name": "Ada"}),
    ("indented heading", "   ### Name\n\nAda", {"Name": "Ada"}),
    ("# in heading text", "### C#\n\nyes", {"C#": "yes"}),
    (
        "lower headings are content",
        "### Notes\n\n# Title\n## Sub\ntext",
        {"Notes": "# Title\n## Sub\ntext"},
    ),
    ("seven #'s is content", "### A\n\n####### B\nb", {"A": "####### B\nb"}),
    ("no space after #'s is content", "### A\n\n###B\nb", {"A": "###B\nb"}),
    (
        "code-indented heading is content (value stripped)",
        "### A\n\n    ### B\nb",
        {"A": "### B\nb"},
    ),
    (
        "no response, any case",
        "### A\n\n_no response_  \n\n### B\n\n_NO RESPONSE_",
        {"A": None, "B": None},
    ),
    ("empty section", "### A\n### B\n\nb", {"A": None, "B": "b"}),
    ("duplicate heading: first wins", "### A\n\n1\n\n### A\n\n2", {"A": "1"}),
    ("empty heading is dropped", "### A\n\na\n\n###\n\nstray", {"A": "a"}),
    ("inner blank lines kept", "### A\n\nline 1\n\nline 2\n", {"A": "line 1\n\nline 2"}),
    (
        "fenced value",
        "### Logs\n\n```shell\nerror\n### Priority\n\nNormal\n```\n\n### Env\n\nprod",
        {"Logs": "error\n### Priority\n\nNormal", "Env": "prod"},
    ),
    (
        "fenced value, crlf",
        "### Logs\r\n\r\n```shell\r\nerror\r\n### X\r\n```\r\n\r\n### Env\r\n\r\nprod\r\n",
        {"Logs": "error\n### X", "Env": "prod"},
    ),
    ("tilde fence", "### Logs\n\n~~~\n### x\n~~~\n### B\nb", {"Logs": "### x", "B": "b"}),
    (
        "longer fence holds a shorter one",
        "### L\n\n````\n```\n### x\n```\n````",
        {"L": "```\n### x\n```"},
    ),
    ("fence keeps indentation", "### L\n\n```\n  at foo()\n```", {"L": "  at foo()"}),
    ("empty fence", "### Logs\n\n```shell\n```\n\n### B\n\nb", {"Logs": None, "B": "b"}),
    (
        "unclosed fence runs to the end",
        "### L\n\n```\nboom\n### B\n\nb",
        {"L": "```\nboom\n### B\n\nb"},
    ),
    ("fence then text is raw", "### A\n\n```\nx\n```\nthen y", {"A": "```\nx\n```\nthen y"}),
    (
        "inline backticks are not a fence",
        "### A\n\n```x```\n### B\n\nb",
        {"A": "```x```", "B": "b"},
    ),
    ("fence in preamble hides a heading", "```\n### Not\n```\n\n### A\n\na", {"A": "a"}),
    ("checkboxes", "### C\n\n- [X] one\n- [ ] two\n- [x] three", {"C": "one\nthree"}),
    ("checkboxes, none checked", "### C\n\n- [ ] one\n- [ ] two", {"C": None}),
    ("checkboxes, edited", "### C\n\n* [x]  one  \n\n  - [ ] two", {"C": "one"}),
    ("checkboxes mixed with text are raw", "### C\n\n- [X] one\nnote", {"C": "- [X] one\nnote"}),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parse_form(body: str | None, expected: dict[str, str | None]) -> None:
    assert parse_form(body) == expected


_MARKDOWNISH = st.lists(
    st.sampled_from(
        [
            "### A",
            "#### B ##",
            "###",
            "    ### C",
            "```shell",
            "```",
            "````",
            "~~~",
            "- [x] a",
            "- [ ] b",
            "_No response_",
            "",
            "  ",
            "text",
            "# top",
        ]
    )
    | st.text(max_size=20)
).map("\n".join)


@given(st.text() | _MARKDOWNISH)
def test_never_raises_and_keys_are_clean(body: str) -> None:
    fields = parse_form(body)
    for key, value in fields.items():
        assert key and key == key.strip()
        assert value is None or value.strip()


@given(_MARKDOWNISH)
def test_crlf_parses_like_lf(body: str) -> None:
    assume("\r" not in body)
    assert parse_form(body.replace("\n", "\r\n")) == parse_form(body)


_LABEL = st.from_regex(r"[A-Za-z][A-Za-z0-9 ?/&,.()'-]{0,30}", fullmatch=True).map(str.strip)
_LINE = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30)


def _plain(line: str) -> str:
    """Keep a line from reading as a heading, fence or checkbox (GitHub would not keep it)."""
    return "x" + line if line.lstrip()[:1] in {"#", "`", "~", "-", "*", "+"} else line


def _unfenced(line: str) -> str:
    """Keep a line from closing the fence; headings and checkboxes inside it are fine."""
    return "x" + line if line.lstrip()[:1] in {"`", "~"} else line


@given(
    st.lists(
        st.tuples(_LABEL, st.lists(_LINE, min_size=1, max_size=5), st.booleans()),
        max_size=6,
        unique_by=lambda field: field[0],
    )
)
def test_rendered_values_parse_back(fields: list[tuple[str, list[str], bool]]) -> None:
    sections, expected = [], {}
    for label, lines, fenced in fields:
        assume(label)
        if fenced:
            value = "\n".join(_unfenced(line) for line in lines)
            assume(value.strip())
            sections.append(f"### {label}\n\n```shell\n{value}\n```")
        else:
            value = "\n".join(_plain(line) for line in lines).strip()
            assume(value and value.casefold() != "_no response_")
            sections.append(f"### {label}\n\n{value}")
        expected[label] = value
    assert parse_form("\n\n".join(sections)) == expected
