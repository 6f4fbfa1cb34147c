"""The lock files say exactly what was tested: every dependency pyproject.toml names is in
them, at a version its floor admits (requirements/lock.sh makes them from pyproject.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def locked(name: str) -> dict[str, str]:
    lines = (ROOT / "requirements" / name).read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {canonicalize_name(package): version for package, version in pins}


def needs(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    return [Requirement(spec) for spec in found]


@pytest.mark.parametrize(("lock", "extra"), [("runtime.lock", None), ("dev.lock", "dev")])
def test_every_dependency_is_locked_at_a_version_its_floor_admits(
    lock: str, extra: str | None
) -> None:
    pins = locked(lock)
    for requirement in needs(extra):
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in requirements/{lock}"
        assert requirement.specifier.contains(version), f"{requirement} but {lock} has {version}"
