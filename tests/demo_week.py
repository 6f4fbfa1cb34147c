"""The demo week kept in a store (`sla-bot demo --store`), built once per run: it takes seconds."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.config import Settings

DEMO_WEEK = "sla-bot demo --store demo.db"  # the README's way to keep the demo's week
SETTINGS = {name.upper() for name in Settings.model_fields}  # none from this machine


@dataclass(frozen=True)
class DemoWeek:
    """The week `DEMO_WEEK` kept in `folder` (it ran there), and what it printed."""

    folder: Path
    stdout: str

    def copy_to(self, folder: Path, name: str = "demo.db") -> Path:
        """The week's store (and any WAL beside it) copied to `folder` as `name`: each test
        reads, and may migrate, its own copy."""
        for part in self.folder.glob("demo.db*"):
            shutil.copy(part, folder / part.name.replace("demo.db", name, 1))
        return folder / name


@pytest.fixture(scope="session")
def demo_week(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DemoWeek:
    """`DEMO_WEEK` run as the README shows it. Under xdist the first worker to ask runs it
    in the run's shared temporary folder while the others wait for it."""
    root = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # an xdist worker
        root = root.parent  # the run's folder, shared by its workers
    folder = root / "demo-week"
    with open(root / "demo-week.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "stdout.txt").exists():
            folder.mkdir(exist_ok=True)
            clean = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS}
            clean["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{clean.get('PATH', '')}"
            result = subprocess.run(
                ["bash", "-c", DEMO_WEEK],
                cwd=folder,
                env=clean,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, result.stderr
            (folder / "stdout.txt").write_text(result.stdout)
    return DemoWeek(folder, (folder / "stdout.txt").read_text())
