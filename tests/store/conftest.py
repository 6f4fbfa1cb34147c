"""The store's suite runs on SQLite and on a real PostgreSQL (`database_url`, in the top
conftest), each test in a fresh schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.store import make_engine, migrate
from app.store.database import Database


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    engine = make_engine(database_url)
    migrate(engine)
    yield Database(engine)
    engine.dispose()
