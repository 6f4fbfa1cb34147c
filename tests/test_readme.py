"""The README stays true: its policy example parses, its commands exist, its env vars are read."""

from __future__ import annotations

import re
from pathlib import Path

from app.cli import parser
from app.config import Settings
from app.sla.policy import parse_policy

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_policy_example_in_the_readme_is_valid() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README, re.DOTALL)
    assert blocks, "no yaml block in the README"
    for block in blocks:
        policy = parse_policy(block, source="README.md")
        assert policy.slack.page_channel == "#on-call"


def test_every_documented_command_exists() -> None:
    documented = set(re.findall(r"^\| `sla-bot ([a-z-]+)", README, re.MULTILINE))
    commands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert documented and documented <= set(commands)
    assert set(commands) <= documented  # and every command is documented


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"^\| `([A-Z_]+)`", README, re.MULTILINE))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields <= documented | {"GITHUB_PRIVATE_KEY_PATH", "GITHUB_PRIVATE_KEY"}
