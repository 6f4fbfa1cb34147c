"""Which customer a request belongs to, for the status meetings: pure, from the policy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.sla.clock import Clock
from app.sla.policy_sections import Customer


@dataclass(frozen=True)
class Account:
    """A customer as the meeting page names it: its key (the page's address) and name."""

    key: str
    name: str
    repositories: tuple[str, ...]
    labels: tuple[str, ...] = ()


def customer_of(repo: str, labels: Iterable[str], customers: Mapping[str, Customer]) -> str | None:
    """The key of the customer a request in `repo` with `labels` belongs to.

    A customer's label wins over a repository's customer (a shared repository names its
    customer with a label); without `customers` in the policy each repository is a customer
    (its key is OWNER/NAME). None: no customer claims it. Names compare as GitHub compares
    them, ignoring case. `check-policy` refuses a repository or label named twice, so at most
    one customer matches each way.
    """
    if not customers:
        return repo
    wanted = {name.casefold() for name in labels}
    for key, customer in customers.items():
        if any(label.casefold() in wanted for label in customer.labels):
            return key
    where = repo.casefold()
    for key, customer in customers.items():
        if any(name.casefold() == where for name in customer.repositories):
            return key
    return None


def accounts(customers: Mapping[str, Customer], repos: Iterable[str]) -> list[Account]:
    """The customers of the policy in its order, or one per repository (sorted) without."""
    if customers:
        return [Account(key, c.name, c.repositories, c.labels) for key, c in customers.items()]
    return [Account(repo, repo, (repo,)) for repo in sorted(set(repos))]


def assign(
    clocks: Iterable[Clock],
    labels: Mapping[tuple[str, int], Iterable[str]],
    customers: Mapping[str, Customer],
) -> dict[str | None, list[Clock]]:
    """The clocks of each customer's requests (key None: requests no customer claims); an
    issue's labels are `labels[(repo, number)]`, none when unknown."""
    found: dict[str | None, list[Clock]] = {}
    for clock in clocks:
        key = customer_of(clock.repo, labels.get((clock.repo, clock.issue_number), ()), customers)
        found.setdefault(key, []).append(clock)
    return found
