"""The receiver's urgency: the tenant check before it reads a repository's policy (no app, no
store: the policy look and the tracking lookup are injected)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.engine.urgency import Urgency
from app.sla.policy import DEFAULT_POLICY, Policy, parse_policy
from app.store.queue import ROUTINE_LANE, URGENT_LANE

REPO, OURS, OTHER = "acme/support", 77, 5555
# The repository's own policy: its paging label is sev1, which the fallback does not know.
SEV1 = parse_policy(
    "priorities:\n"
    '  production-down: {label: "sev1", within: "30m", calendar: "24/7", page: true}\n'
    '  urgent: {label: "sev2", within: "1h"}\n'
    '  normal: {label: "sev3", within: "next-business-day"}\n',
    source="sla.yml",
)


def sev1(installation: int, repo: str = REPO) -> dict[str, Any]:
    """A delivery labeling an issue sev1: urgent by the repository's policy only."""
    return {
        "action": "labeled",
        "issue": {"number": 5, "labels": [{"name": "sev1"}], "body": ""},
        "label": {"name": "sev1"},
        "repository": {"full_name": repo},
        "installation": {"id": installation},
    }


class Lookups:
    """The injected look (the PolicyLoader's read) and tracking lookup, recording each ask."""

    def __init__(self, tracking: dict[str, int]) -> None:
        self.tracking = tracking
        self.looked: list[tuple[int | None, str]] = []
        self.asked: list[str] = []
        self.now = 0.0

    async def look(self, installation_id: int | None, repo: str) -> Policy:
        self.looked.append((installation_id, repo))
        return SEV1

    async def tracked_by(self, repo: str) -> int | None:
        self.asked.append(repo)
        return self.tracking.get(repo)

    def urgency(self) -> Urgency:
        return Urgency(
            DEFAULT_POLICY,
            self.look,
            tracked_by=self.tracked_by,
            fresh=30,
            monotonic=lambda: self.now,
        )


async def lane(urgency: Urgency, payload: dict[str, Any]) -> int:
    """The lane as the receiver decides it, then the looks it started, finished."""
    found = urgency.lane("issues", payload)
    for _ in range(10):
        await asyncio.sleep(0)
    return found


@pytest.mark.anyio
async def test_another_installations_delivery_goes_by_the_fallback_and_reads_nothing() -> None:
    lookups = Lookups({REPO: OURS})
    urgency = lookups.urgency()
    for _ in range(3):
        assert await lane(urgency, sev1(OTHER)) == ROUTINE_LANE  # the fallback's answer
    assert lookups.looked == []  # no policy read with the other installation's token
    assert await lane(urgency, sev1(OURS)) == ROUTINE_LANE  # not read yet: the policy at hand
    assert await lane(urgency, sev1(OURS)) == URGENT_LANE
    assert lookups.looked == [(OURS, REPO)]
    assert await lane(urgency, sev1(OTHER)) == ROUTINE_LANE  # still the fallback for them
    assert lookups.looked == [(OURS, REPO)]


@pytest.mark.anyio
async def test_the_tracking_installation_is_learned_once() -> None:
    lookups = Lookups({REPO: OURS})
    urgency = lookups.urgency()
    await lane(urgency, sev1(OURS))
    await lane(urgency, sev1(OTHER))
    lookups.now += 31  # the policy is read again; who tracks the repository is known
    await lane(urgency, sev1(OURS))
    assert lookups.looked == [(OURS, REPO), (OURS, REPO)]
    assert lookups.asked == [REPO]


@pytest.mark.anyio
async def test_an_untracked_repository_is_asked_about_again_and_read_meanwhile() -> None:
    lookups = Lookups({})
    urgency = lookups.urgency()
    assert await lane(urgency, sev1(OTHER)) == ROUTINE_LANE
    assert await lane(urgency, sev1(OTHER)) == URGENT_LANE  # nobody's yet: read as named
    lookups.tracking[REPO] = OURS  # the App's installation event is processed
    lookups.now += 31
    await lane(urgency, sev1(OTHER))
    assert lookups.asked == [REPO, REPO]
    assert lookups.looked == [(OTHER, REPO)]  # the second look stopped at the tenant check
    assert await lane(urgency, sev1(OTHER)) == ROUTINE_LANE  # now another installation's


@pytest.mark.anyio
async def test_a_repository_moved_to_another_installation_is_read_with_its_token() -> None:
    lookups = Lookups({REPO: OURS})
    urgency = lookups.urgency()
    await lane(urgency, sev1(OURS))
    lookups.tracking[REPO] = OTHER  # transferred, and tracked by the other installation now
    assert await lane(urgency, sev1(OTHER)) == ROUTINE_LANE
    assert lookups.asked == [REPO]  # what it learned is fresh: nothing asked, nothing read
    lookups.now += 31
    await lane(urgency, sev1(OTHER))  # asked again, then read with the tracking installation
    assert lookups.asked == [REPO, REPO]
    assert lookups.looked == [(OURS, REPO), (OTHER, REPO)]
    assert await lane(urgency, sev1(OTHER)) == URGENT_LANE


def test_a_look_comes_with_its_tenant_check() -> None:
    lookups = Lookups({})
    with pytest.raises(TypeError, match="tracked_by"):
        Urgency(DEFAULT_POLICY, lookups.look)
