"""Speed-ups that reach into a library's internals stay off on versions they were not tested
on: the library then runs as shipped, and the log says so."""

from __future__ import annotations

import logging

import pytest

from app.engine import tuning


def test_an_untested_library_version_gets_no_speed_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(tuning, "version", lambda package: "9.1.0")
    with caplog.at_level(logging.WARNING, logger="app.engine.tuning"):
        assert not tuning.tested("psycopg")
    assert "psycopg 9.1.0 is not a version" in caplog.text


def test_the_locked_versions_are_the_tested_ones() -> None:
    assert tuning.tested("gidgethub") and tuning.tested("psycopg")
