"""The README stays true: its policy example parses, its commands exist, its env vars are read."""

from __future__ import annotations

import re
from pathlib import Path

from app.cli import parser
from app.config import Settings
from app.sla.policy import parse_policy

README_ROOT = Path(__file__).resolve().parents[1]
README = (README_ROOT / "README.md").read_text()


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


def test_the_messages_the_readme_quotes_are_the_ones_the_code_prints() -> None:
    code = "\n".join(p.read_text() for p in (README_ROOT / "app").rglob("*.py"))
    # (README quotes, the code's text): the 401's answer and its log line
    for quoted, printed in [
        ("missing or wrong X-Hub-Signature-256", "missing or wrong X-Hub-Signature-256"),
        ("delivery refused: wrong X-Hub-Signature-256", "delivery refused: %s X-Hub-Signature-256"),
        ("no store at", "no store at"),
    ]:
        assert quoted in README and printed in code, quoted
