"""Fuzzing the receiver: signed random and mutated payloads never get a 500, lose nothing."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import opened, payload, sign
from tests.harness import Harness, mock_writes

NAMES = [
    "issues.opened",
    "issues.labeled",
    "issues.unlabeled",
    "issues.closed",
    "issues.reopened",
    "issue_comment.created",
    "installation.created",
    "installation_repositories.added",
    "ping",
]
EVENTS = [
    "issues",
    "issue_comment",
    "installation",
    "installation_repositories",
    "ping",
    "push",
    "star",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**200), 2**200),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A real-shaped payload with a few fields replaced by anything, or removed."""
    name = draw(st.sampled_from(NAMES))
    data = copy.deepcopy(payload(name))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(data)))
        parent = data
        for key in where[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(where[-1], None)
        else:
            parent[where[-1]] = draw(json_values)
    return name.split(".")[0], data


# Nested far past any parser's recursion limit: written as text, never built as objects.
nested = st.integers(1, 100_000).map(
    lambda depth: ('{"action":"opened","issue":' + "[" * depth + "]" * depth + "}").encode()
)

deliveries = st.one_of(
    mutated(),
    st.tuples(st.sampled_from(EVENTS), nested),
    st.tuples(st.sampled_from(EVENTS), st.dictionaries(st.text(max_size=12), json_values)),
    st.tuples(st.sampled_from(EVENTS), json_values.map(lambda v: {"action": v, "issue": v})),
)


def test_fuzzed_deliveries_never_500_and_valid_ones_are_not_lost(harness: Harness) -> None:
    statuses: list[int] = []

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(deliveries)
    def send(delivery: tuple[str, dict[str, Any] | bytes]) -> None:
        event, data = delivery
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        response = harness.deliver(event, body, wait=False)
        statuses.append(response.status_code)
        assert response.status_code in (200, 202, 400), response.text

    send()
    assert 202 in statuses
    harness.wait_idle(timeout=60)
    # A valid delivery sent after all that is processed as usual: the worker is alive.
    labels, comment = mock_writes(harness, 4242)
    good = opened(issue__number=4242, issue__html_url="https://github.com/acme/support/issues/4242")
    assert harness.deliver("issues", good).status_code == 202
    assert (labels.call_count, comment.call_count) == (1, 1)  # type: ignore[attr-defined]


# Anything a client can put in a header: non-ASCII included, control characters not (no
# HTTP client sends those; uvicorn would refuse them first).
header_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=90)


@st.composite
def headers(draw: st.DrawFn) -> dict[str, bytes]:
    chosen = {
        "x-github-event": draw(st.sampled_from([*EVENTS, ""]) | header_text),
        "x-github-delivery": draw(st.uuids().map(str) | header_text),
        "content-type": draw(
            st.sampled_from(["application/json", "application/x-www-form-urlencoded"]) | header_text
        ),
    }
    signature = draw(st.sampled_from(["good", "wrong", "none"]) | header_text)
    chosen["x-hub-signature-256"] = signature
    return {k: v.strip().encode() for k, v in chosen.items()}  # no edge spaces in HTTP


def test_fuzzed_headers_are_answered_4xx_or_2xx_never_500(harness: Harness) -> None:
    body = json.dumps(opened()).encode()

    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(headers())
    def send(sent: dict[str, bytes]) -> None:
        if sent.get("x-hub-signature-256") == b"good":
            sent["x-hub-signature-256"] = sign(body).encode()
        elif sent.get("x-hub-signature-256") == b"wrong":
            sent["x-hub-signature-256"] = sign(body + b" ").encode()
        response = harness.http.post(f"{harness.url}/webhooks/github", content=body, headers=sent)
        assert response.status_code < 500, response.text

    mock_writes(harness)
    send()
