"""The README and docs stay true: the policy example parses, every shell command shown names
flags and variables that exist, and the cheap ones run as shown."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from app.cli.main import main, parser
from app.cli.register import env_text
from app.config import Settings
from app.sla.policy import parse_policy
from app.store import make_engine, migrate
from tests.demo_week import DEMO_WEEK, DemoWeek

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


# -- every shell command the docs show (README.md, docs/*.md) --

SETTINGS = {name.upper() for name in Settings.model_fields}
DOCS = {
    path.relative_to(README_ROOT).as_posix(): path.read_text()
    for path in [README_ROOT / "README.md", *sorted((README_ROOT / "docs").glob("*.md"))]
}
# Inline code that is a command: a program, then a space (a lone `createdb` is a name).
_INLINE = re.compile(
    r"^(?:[A-Z_]+=\S+ )*(?:sla-bot|\.venv/bin/\S+|python3|set|sqlite3|docker|timedatectl|"
    r"faketime) "
)
# A synopsis has placeholders (`[--port P]`, `<past>`, `a\|b`, `FILE`: capitals that name no
# setting): its flags are checked, it is not parsed whole.
_SYNOPSIS = re.compile(r"\[-|\[[A-Z]|<[a-z]|\\\|")
_CAPITALS = re.compile(r"\b[A-Z][A-Z0-9_-]+\b(?!=)")
_SEPARATORS = {"&&", "||", ";", "|", "&"}
# Each program a shown command runs, and where it is exercised when not here.
PROGRAMS = {
    "sla-bot": "parsed by the CLI's own parser here; the cheap ones run below",
    ".venv/bin/sla-bot": "as sla-bot",
    "python3": "the webhook-secret recipe runs below; `-m venv` in CI's .ci/run",
    ".venv/bin/pip": "CI's .ci/run installs from scratch",
    ".venv/bin/pytest": "CI's .ci/run",
    ".venv/bin/ruff": "CI's .ci/run",
    ".venv/bin/mypy": "CI's .ci/run",
    ".venv/bin/python": "`-m bench`: tests/test_bench.py runs its --quick form",
    "faketime": "CI's .ci/run (New Year's Eve and a DST change)",
    "docker": "CI's .ci/container/check.sh builds and runs the image and compose.yaml with podman",
    "set": "`set -a; . ./.env; set +a` runs below on the .env register writes",
    ".": "as set",
    "sqlite3": "the backup command runs below",
    "timedatectl": "a system tool (the clock-skew troubleshooting entry)",
    "head": "tests/test_operator_safety.py::test_report_piped_into_head_ends_quietly",
    "requirements/lock.sh": "its output: tests/test_locks.py checks the locks against pyproject",
}


@dataclass(frozen=True)
class Shown:
    doc: str
    text: str  # as shown, comments and prompts left out

    @property
    def synopsis(self) -> bool:
        capitals = set(_CAPITALS.findall(self.text)) - SETTINGS - {"PWD"}
        return bool(_SYNOPSIS.search(self.text) or capitals)

    def commands(self) -> list[list[str]]:
        """Each simple command's words (`a && b | c > f`: a, b and c), redirections left out."""
        lexer = shlex.shlex(self.text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        found: list[list[str]] = [[]]
        words = iter(lexer)
        for word in words:
            if word in _SEPARATORS:
                found.append([])
            elif word in (">", ">>", "<"):
                next(words, None)
            else:
                found[-1].append(word)
        return [words for words in found if words]


def shown() -> list[Shown]:
    """Every line of the docs' fenced sh blocks (continuations joined; in a block with `$ `
    prompts only those lines, the rest is output) and every inline command."""
    found = []
    for doc, text in DOCS.items():
        for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", text, re.DOTALL):
            lines = block.replace("\\\n", " ").splitlines()
            prompted = [line[2:] for line in lines if line.startswith("$ ")]
            for line in prompted or lines:
                line = re.sub(r"\s+#\s.*$", "", line).strip()
                if line:
                    found.append(Shown(doc, line))
        prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
        found += [
            Shown(doc, span) for span in re.findall(r"`([^`\n]+)`", prose) if _INLINE.match(span)
        ]
    return found


def split_assignments(words: list[str]) -> tuple[list[str], list[str]]:
    """(the variables a command sets before it, the command)."""
    names = []
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0], re.DOTALL):
        names.append(words[0].split("=", 1)[0])
        words = words[1:]
    return names, words


def options(sub: str | None) -> set[str]:
    top = parser()
    flags = set(top._option_string_actions)
    if sub is not None:
        commands = top._subparsers._group_actions[0].choices  # type: ignore[union-attr]
        assert sub in commands, f"no such command: sla-bot {sub}"
        flags |= set(commands[sub]._option_string_actions)
    return flags


def check_sla_bot(shown: Shown, argv: list[str]) -> None:
    sub = next((word for word in argv if not word.startswith("-")), None)
    flags = {word.split("=")[0] for word in argv if word.startswith("--")}
    assert flags <= options(sub), f"{shown.doc}: `{shown.text}`: {flags - options(sub)}"
    if shown.synopsis:
        return
    try:
        parser().parse_args(argv)
    except SystemExit as exit:  # --help and --version exit 0; a refused argument 2
        assert exit.code == 0, f"{shown.doc}: `{shown.text}` is refused by sla-bot's parser"


def test_the_docs_show_commands_and_each_runs_a_known_program() -> None:
    commands = [
        words for s in shown() for words in ([s.text.split()] if s.synopsis else s.commands())
    ]
    assert len(commands) > 30
    programs = {command[0] for words in commands if (command := split_assignments(words)[1])}
    assert programs <= set(PROGRAMS), f"add how these are exercised: {programs - set(PROGRAMS)}"
    assert {"sla-bot", "docker", "sqlite3", "set"} <= programs


def test_every_sla_bot_command_in_the_docs_has_its_command_and_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    checked = 0
    for item in shown():
        if item.synopsis:  # placeholders: not for shlex, whose `|` and `#` they would break
            words = item.text.replace("\\|", " ").split()
            if words[0] == "sla-bot":
                check_sla_bot(item, words[1:])
                checked += 1
            continue
        for words in item.commands():
            command = split_assignments(words)[1]
            if command and command[0] in ("sla-bot", ".venv/bin/sla-bot"):
                check_sla_bot(item, command[1:])
                checked += 1
    # The command table's rows: `sla-bot deliveries --failed` / `--replay ID` in one cell.
    for row in re.findall(r"^\| (`sla-bot [a-z-]+.*?)(?<!\\)\|", DOCS["README.md"], re.MULTILINE):
        sub = row.split()[1].strip("`")
        flags = set(re.findall(r"--[a-z][a-z-]*", row))
        assert flags <= options(sub), f"README.md, sla-bot {sub}: {flags - options(sub)}"
        checked += 1
    assert checked > 40
    capsys.readouterr()  # --help's text


def test_every_variable_the_docs_commands_name_is_a_setting() -> None:
    named: set[str] = set()
    for item in shown():
        if item.synopsis:
            continue
        for words in item.commands():
            assigned, command = split_assignments(words)
            named |= set(assigned)
            named |= {
                value
                for flag, value in pairwise(command)
                if flag == "-e" and re.fullmatch(r"[A-Z_]+", value)
            }
            named |= set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", " ".join(command)))
    assert {"DATABASE_URL", "GITHUB_PRIVATE_KEY", "SLA_POLICY_FILE"} <= named
    assert named - {"PWD"} <= SETTINGS, named - SETTINGS


def _example(doc: str, pattern: str) -> str:
    found = [s.text for s in shown() if s.doc == doc and re.search(pattern, s.text)]
    assert len(set(found)) == 1, (pattern, found)
    return found[0]


def _run(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`command` in bash as the docs show it, with this checkout's sla-bot on PATH and none
    of the machine's sla-bot settings."""
    clean = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS}
    clean["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{clean.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_check_policy_prints_what_the_readme_shows(tmp_path: Path) -> None:
    block = re.search(
        r"```sh\n\$ (sla-bot check-policy .*?)\n(.*?)```", DOCS["README.md"], re.DOTALL
    )
    assert block is not None
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "sla.yml").write_text(
        "timezone: Mars/Olympus\npriorities:\n  urgent:\n    within: soon\n"
    )
    result = _run(block[1], tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == block[2].strip().splitlines()


def test_the_deadline_example_prints_the_due_time_the_readme_gives(
    capsys: pytest.CaptureFixture[str],
) -> None:
    found = re.search(r"`(--priority \S+ --start \S+)` prints `(\S+)`", DOCS["README.md"])
    assert found is not None
    assert main(["deadline", *found[1].split()]) == 0
    assert capsys.readouterr().out.strip() == found[2]


def test_help_lists_every_command_and_variable_and_version_prints_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for flag in ("--help", "--version"):
        with pytest.raises(SystemExit) as exit:
            main([flag])
        assert exit.value.code == 0
    out = capsys.readouterr().out
    commands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert all(re.search(rf"^\s+{name}\b", out, re.MULTILINE) for name in commands)
    assert all(name in out for name in SETTINGS)
    assert re.search(r"^sla-bot \S+$", out, re.MULTILINE)  # --version


def test_the_webhook_secret_recipe_makes_one_sla_bot_accepts(tmp_path: Path) -> None:
    result = _run(_example("README.md", r"^python3 -c .*token_hex"), tmp_path)
    secret = result.stdout.strip()
    assert result.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}", secret)
    assert Settings(github_webhook_secret=secret).webhook_secret() == secret


def test_the_env_file_register_writes_is_read_by_the_documented_shell_line(
    tmp_path: Path, app_key: str
) -> None:
    line = _example("README.md", r"^set -a; \. \./\.env; set \+a; sla-bot serve$")
    credentials = {"id": 4242, "pem": app_key, "webhook_secret": "e340154128314309424b7c8e"}
    (tmp_path / ".env").write_text(env_text(credentials, "https://ghe.example.com/api/v3"))
    show = (
        "python -c 'from app.config import Settings; s = Settings(); print(s.github_app_id, "
        "s.github_api_url); print(s.private_key())'"
    )
    result = _run(line.replace("sla-bot serve", show), tmp_path)
    assert result.returncode == 0, result.stderr
    first, key = result.stdout.split("\n", 1)
    assert first == "4242 https://ghe.example.com/api/v3"
    assert key.strip() == app_key.strip()  # the key's newlines, unquoted


def test_the_sqlite_backup_command_writes_a_copy_of_the_store(tmp_path: Path) -> None:
    if shutil.which("sqlite3") is None:
        pytest.skip("no sqlite3 command on this machine")
    engine = make_engine(f"sqlite:///{tmp_path / 'sla-bot.db'}")
    migrate(engine)  # the store `serve` keeps
    engine.dispose()
    result = _run(_example("docs/deploy.md", r"^sqlite3 "), tmp_path)
    assert result.returncode == 0, result.stderr
    copy = sqlite3.connect(tmp_path / "backup.db")
    try:
        names = {row[0] for row in copy.execute("select name from sqlite_master")}
    finally:
        copy.close()
    assert {"deliveries", "clocks", "outbox"} <= names


@pytest.mark.slow
def test_the_demo_week_as_a_status_meeting_page(tmp_path: Path, demo_week: DemoWeek) -> None:
    line = _example("README.md", r"^sla-bot demo --store demo\.db && ")
    demo, report = line.split(" && ", 1)
    assert demo == DEMO_WEEK  # run once for every test that reads the week (tests/demo_week.py)
    demo_week.copy_to(tmp_path)
    result = _run(report, tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "week.html").read_text()
    assert page.startswith("<!doctype html>") and "acme/support" in page
