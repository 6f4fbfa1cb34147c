"""Customers in the policy: refused overlaps (line and key), and which customer a request is."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.main import main
from app.sla.customers import accounts, assign, customer_of
from app.sla.policy import PolicyError, parse_policy
from tests.factories import stored_clock

POLICY = """\
customers:
  acme:
    name: "Acme Corp"
    repositories: ["acme/support"]
    labels: ["customer: acme"]
  globex:
    name: Globex
    labels: ["customer: globex"]
"""


def test_customers_are_read_in_order() -> None:
    policy = parse_policy(POLICY)
    assert list(policy.customers) == ["acme", "globex"]
    assert policy.customers["acme"].name == "Acme Corp"
    assert [a.key for a in accounts(policy.customers, ["x/y"])] == ["acme", "globex"]


@pytest.mark.parametrize(
    ("repo", "labels", "customer"),
    [
        ("acme/support", [], "acme"),
        ("ACME/Support", [], "acme"),  # GitHub's names ignore case
        ("shared/desk", ["Customer: Globex"], "globex"),
        ("acme/support", ["customer: globex"], "globex"),  # the label names the customer
        ("shared/desk", ["customer: acme", "priority: urgent"], "acme"),
        ("shared/desk", [], None),  # nobody's
        ("other/repo", ["type: problem"], None),
    ],
)
def test_a_request_belongs_to_the_customer_of_its_label_else_its_repository(
    repo: str, labels: list[str], customer: str | None
) -> None:
    assert customer_of(repo, labels, parse_policy(POLICY).customers) == customer


def test_without_customers_each_repository_is_one() -> None:
    assert customer_of("acme/support", ["customer: acme"], {}) == "acme/support"
    found = accounts({}, ["b/two", "a/one", "b/two"])
    assert [(a.key, a.name, a.repositories) for a in found] == [
        ("a/one", "a/one", ("a/one",)),
        ("b/two", "b/two", ("b/two",)),
    ]


def test_assign_groups_clocks_by_customer_with_each_issues_labels() -> None:
    one = stored_clock(1, repo="acme/support")
    two = stored_clock(2, repo="shared/desk")
    three = stored_clock(3, repo="shared/desk")
    got = assign(
        [one, two, three],
        {("shared/desk", 2): ("customer: globex",)},
        parse_policy(POLICY).customers,
    )
    assert got == {"acme": [one], "globex": [two], None: [three]}


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        (
            "customers:\n  a:\n    name: A\n    repositories: [o/r]\n  b:\n    name: B\n"
            "    repositories:\n      - o/x\n      - O/R\n",
            9,
            "customers.b.repositories[1]",
            "repository 'O/R' already belongs to customer 'a' (customers.a.repositories[0])",
        ),
        (
            "customers:\n  a:\n    name: A\n    labels: ['customer: a']\n  b:\n    name: B\n"
            "    labels: ['Customer: A']\n",
            7,
            "customers.b.labels[0]",
            "label 'Customer: A' already belongs to customer 'a' (customers.a.labels[0])",
        ),
        (
            "customers:\n  a:\n    name: A\n",
            2,
            "customers.a",
            "a customer needs repositories or labels",
        ),
        (
            "customers:\n  a:\n    name: A\n    repositories: [support]\n",
            4,
            "customers.a.repositories[0]",
            "'support' is not a repository",
        ),
        (
            "customers:\n  'a b':\n    name: A\n    repositories: [o/r]\n",
            2,
            "customers.a b",
            "'a b' is not a customer key",
        ),
        (
            "customers:\n  a:\n    name: A\n    repositorys: [o/r]\n",
            4,
            "customers.a.repositorys",
            "unknown key (did you mean 'repositories'?)",
        ),
    ],
)
def test_overlapping_or_malformed_customers_are_refused_with_line_and_key(
    text: str, line: int, key: str, message: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    found = [(p.line, p.key, p.message) for p in caught.value.problems]
    assert any(p[0] == line and p[1] == key and message in p[2] for p in found), found


def test_check_policy_refuses_an_overlap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "sla.yml"
    bad.write_text(
        "customers:\n  a: {name: A, repositories: [o/r]}\n  b: {name: B, repositories: [o/r]}\n"
    )
    assert main(["check-policy", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3: customers.b.repositories[0]: repository 'o/r' already belongs" in err
