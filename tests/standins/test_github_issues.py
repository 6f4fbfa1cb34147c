"""FakeGitHub's labels, comments, issues and events, through sla-bot's real ops over loopback."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from gidgethub import BadRequest, InvalidField

from app.github import ops
from app.github.app import GitHubApp
from app.github.client import GitHubClient
from sla_sandbox.standins import FakeGitHub
from tests.harness import MovableTime
from tests.standins.conftest import APP_ID, INSTALLATION, REPO

pytestmark = pytest.mark.anyio
LABELS = "/repos/{owner}/{name}/issues/{n}/labels"
URL_VARS = {"owner": "acme", "name": "support"}


async def test_existing_labels_pages_and_ensure_labels_creates_the_rest(
    fake_github: FakeGitHub, github_app: GitHubApp
) -> None:
    for i in range(150):
        fake_github.create_label(REPO, f"area: {i:03d}")
    fake_github.create_label(REPO, "Priority: Urgent", "d93f0b")
    specs = [("priority: urgent", "d93f0b", "P1"), ("sla: breached", "b60205", "x" * 150)]

    created = await github_app.call(INSTALLATION, lambda gh: ops.ensure_labels(gh, REPO, specs))

    assert created == ["sla: breached"]
    pages = fake_github.calls_to("GET", r"/labels$")
    assert [c.query.get("page") for c in pages] == [None, "2"]
    assert len(fake_github.repo_labels(REPO)) == 152
    post = fake_github.calls_to("POST", r"/labels$")[0]
    assert post.json == {"name": "sla: breached", "color": "b60205", "description": "x" * 100}


async def test_a_duplicate_label_is_a_422_already_exists(
    fake_github: FakeGitHub, github_app: GitHubApp
) -> None:
    specs = [("Bug", "d73a4a", ""), ("bug", "d73a4a", "")]  # names differ only in case

    created = await github_app.call(INSTALLATION, lambda gh: ops.ensure_labels(gh, REPO, specs))

    assert created == ["Bug"]
    assert [c.status for c in fake_github.calls_to("POST", r"/labels$")] == [201, 422]

    async def again(gh: GitHubClient) -> Any:
        return await gh.post("/repos/acme/support/labels", data={"name": "BUG"})

    with pytest.raises(InvalidField) as refused:
        await github_app.call(INSTALLATION, again)
    assert refused.value.errors == [
        {"resource": "Label", "code": "already_exists", "field": "name"}
    ]


async def test_add_labels_creates_missing_ones_and_records_events(
    fake_github: FakeGitHub, github_app: GitHubApp, time: MovableTime
) -> None:
    n = fake_github.open_issue(REPO, title="Down", user="wile-e", labels=["type: problem"])[
        "number"
    ]
    time.advance(minutes=5)

    await github_app.call(
        INSTALLATION, lambda gh: ops.add_labels(gh, REPO, n, ["priority: urgent", "type: problem"])
    )

    assert fake_github.label_names(REPO, n) == ["type: problem", "priority: urgent"]
    assert fake_github.calls[-1].status == 200
    events = await github_app.call(
        INSTALLATION, lambda gh: gh.getitem(f"/repos/{REPO}/issues/{n}/events")
    )
    assert [(e["event"], e["actor"]["login"], e["label"]) for e in events] == [
        ("labeled", "wile-e", {"name": "type: problem", "color": "ededed"}),
        ("labeled", "sla-bot[bot]", {"name": "priority: urgent", "color": "ededed"}),
    ]
    assert events[1]["created_at"] == "2026-11-27T15:35:05Z"
    assert events[1]["performed_via_github_app"]["id"] == int(APP_ID)
    assert events[0]["performed_via_github_app"] is None


async def test_remove_label_takes_an_encoded_name_and_404s_when_absent(
    fake_github: FakeGitHub, github_app: GitHubApp
) -> None:
    n = fake_github.open_issue(REPO, title="Hi", user="wile-e", labels=["needs: triage/x", "a"])[
        "number"
    ]
    url = LABELS + "{/label}"

    async def remove(gh: GitHubClient) -> Any:
        return await gh.delete(url, url_vars={**URL_VARS, "n": str(n), "label": "needs: triage/x"})

    await github_app.call(INSTALLATION, remove)
    with pytest.raises(BadRequest) as missing:
        await github_app.call(INSTALLATION, remove)

    assert missing.value.status_code == 404
    deletes = fake_github.calls_to("DELETE", "labels/needs: triage/x$")
    assert [c.status for c in deletes] == [200, 404]
    assert fake_github.label_names(REPO, n) == ["a"]


async def test_put_replaces_the_labels(fake_github: FakeGitHub, github_app: GitHubApp) -> None:
    n = fake_github.open_issue(REPO, title="Hi", user="wile-e", labels=["a", "b"])["number"]

    async def replace(gh: GitHubClient) -> Any:
        return await gh.put(LABELS, url_vars={**URL_VARS, "n": str(n)}, data={"labels": ["b", "c"]})

    result = await github_app.call(INSTALLATION, replace)
    events = await github_app.call(
        INSTALLATION, lambda gh: gh.getitem(f"/repos/{REPO}/issues/{n}/events")
    )

    assert [label["name"] for label in result] == ["b", "c"]
    kinds = [(e["event"], e["label"]["name"]) for e in events]
    assert kinds[-2:] == [("unlabeled", "a"), ("labeled", "c")]


async def test_comment_is_the_bots_and_find_comment_pages(
    fake_github: FakeGitHub, github_app: GitHubApp, time: MovableTime
) -> None:
    n = fake_github.open_issue(REPO, title="Hi", user="wile-e")["number"]
    for i in range(120):
        fake_github.add_comment(REPO, n, f"note {i}", "road-runner", "MEMBER")
    time.advance(hours=2)

    posted = await github_app.call(
        INSTALLATION, lambda gh: ops.comment(gh, REPO, n, "<!-- sla-bot:ack --> Thanks!")
    )
    found = await github_app.call(
        INSTALLATION, lambda gh: ops.find_comment(gh, REPO, n, "<!-- sla-bot:ack -->")
    )

    assert found == posted["id"]
    assert posted["user"]["login"] == "sla-bot[bot]" and posted["user"]["type"] == "Bot"
    assert posted["created_at"] == "2026-11-27T17:30:05Z"
    assert posted["author_association"] == "NONE"
    assert posted["performed_via_github_app"]["slug"] == "sla-bot"
    assert posted["html_url"] == f"https://github.com/{REPO}/issues/{n}#issuecomment-{found}"
    pages = fake_github.calls_to("GET", r"/comments$")
    assert [c.query.get("page") for c in pages] == [None, "2"]
    assert fake_github.issue(REPO, n)["comments"] == 121


async def test_comments_since_and_edit(
    fake_github: FakeGitHub, github_app: GitHubApp, time: MovableTime
) -> None:
    n = fake_github.open_issue(REPO, title="Hi", user="wile-e")["number"]
    start = time.now
    fake_github.add_comment(REPO, n, "old", "wile-e", at=start)
    new = fake_github.add_comment(REPO, n, "new", "wile-e", at=start + timedelta(hours=1))
    time.advance(hours=3)

    async def since_and_edit(gh: GitHubClient) -> tuple[list[str], Any]:
        recent = [
            c["body"]
            async for c in gh.getiter(
                f"/repos/{REPO}/issues/{n}/comments?since=2026-11-27T16:00:00Z"
            )
        ]
        edited = await gh.patch(
            f"/repos/{REPO}/issues/comments/{new['id']}", data={"body": "edited"}
        )
        return recent, edited

    recent, edited = await github_app.call(INSTALLATION, since_and_edit)

    assert recent == ["new"]
    assert (edited["body"], edited["updated_at"]) == ("edited", "2026-11-27T18:30:05Z")
    assert edited["created_at"] == new["created_at"]


async def test_issues_list_filters_and_timeline(
    fake_github: FakeGitHub, github_app: GitHubApp, time: MovableTime
) -> None:
    urgent = fake_github.open_issue(REPO, title="A", user="u1", labels=["type: problem", "p1"])
    fake_github.open_issue(REPO, title="B", user="u2", labels=["type: problem"])
    closed = fake_github.open_issue(REPO, title="C", user="u3", labels=["p1"])
    fake_github.close_issue(REPO, closed["number"], "agent")
    time.advance(minutes=1)
    fake_github.add_comment(REPO, urgent["number"], "on it", "agent", "MEMBER")

    async def query(gh: GitHubClient) -> tuple[list[int], list[int], list[str]]:
        both = f"/repos/{REPO}/issues?labels=P1,type:%20problem"
        every = f"/repos/{REPO}/issues?state=all&per_page=1"
        timeline = f"/repos/{REPO}/issues/{urgent['number']}/timeline"
        return (
            [i["number"] async for i in gh.getiter(both)],
            [i["number"] async for i in gh.getiter(every)],
            [e["event"] async for e in gh.getiter(timeline)],
        )

    both, every, timeline = await github_app.call(INSTALLATION, query)

    assert both == [urgent["number"]]
    assert every == [3, 2, 1]  # newest first, one per page
    assert timeline == ["labeled", "labeled", "commented"]
    assert fake_github.issue(REPO, 3)["state"] == "closed"


def test_open_issue_and_payloads_are_webhook_shaped(fake_github: FakeGitHub) -> None:
    issue = fake_github.open_issue(REPO, title="Down", body="help", user="wile-e")
    fake_github.add_label(REPO, issue["number"], "priority: urgent", "road-runner")
    fake_github.add_comment(REPO, issue["number"], "on it", "road-runner", "MEMBER")

    examples = {
        ("issues", "labeled"): fake_github.payload(
            "issues", "labeled", REPO, issue["number"], label="priority: urgent"
        ),
        ("issue_comment", "created"): fake_github.payload(
            "issue_comment", "created", REPO, issue["number"]
        ),
        ("installation", "created"): fake_github.payload("installation", "created", REPO),
        ("installation_repositories", "added"): fake_github.payload(
            "installation_repositories", "added", REPO
        ),
    }

    for (event, action), built in examples.items():
        real = _example(f"{event}.{action}")
        assert set(built) == set(real), event
        for key in ("issue", "comment", "installation", "repository", "label"):
            if key in real:
                assert set(built[key]) >= set(real[key]), (event, key)
    labeled = examples["issues", "labeled"]
    assert labeled["sender"]["login"] == "road-runner"
    assert labeled["installation"]["id"] == INSTALLATION
    assert labeled["issue"]["labels"][0]["name"] == "priority: urgent"
    assert examples["issue_comment", "created"]["comment"]["author_association"] == "MEMBER"


def _example(name: str) -> dict[str, Any]:
    path = Path(__file__).parents[1] / "payloads" / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


async def test_closing_through_the_api_and_reopening_by_a_person(
    fake_github: FakeGitHub, github_app: GitHubApp, time: MovableTime
) -> None:
    n = fake_github.open_issue(REPO, title="Done?", user="wile-e")["number"]
    time.advance(days=2)

    async def close(gh: GitHubClient) -> Any:
        return await gh.patch(f"/repos/{REPO}/issues/{n}", data={"state": "closed"})

    closed = await github_app.call(INSTALLATION, close, write=True)
    time.advance(hours=1)
    reopened = fake_github.reopen_issue(REPO, n, "wile-e")

    assert (closed["state"], closed["closed_at"]) == ("closed", "2026-11-29T15:30:05Z")
    assert closed["state_reason"] == "completed"
    assert (reopened["state"], reopened["closed_at"]) == ("open", None)
    assert fake_github.payload("issues", "closed", REPO, n)["sender"]["login"] == "sla-bot[bot]"
    assert fake_github.payload("issues", "reopened", REPO, n)["sender"]["login"] == "wile-e"
    with pytest.raises(ValueError, match="payload"):
        fake_github.payload("pull_request", "opened", REPO, n)


async def test_missing_permission_is_a_403(fake_github: FakeGitHub, github_app: GitHubApp) -> None:
    fake_github.permissions.pop("contents")

    with pytest.raises(BadRequest) as refused:
        await github_app.call(INSTALLATION, lambda gh: ops.read_file(gh, REPO, "x.yml"))

    assert refused.value.status_code == 403
    assert str(refused.value) == "Resource not accessible by integration"
