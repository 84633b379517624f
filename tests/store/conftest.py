"""The store's fixtures: a real SQLite file, and an event bus that records into it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.controller.events import EventBus
from chaos.store.repository import RunStore, sqlite_url
from tests.postgres_lab import postgres, postgres_url  # noqa: F401 (fixtures: a real server)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runs" / "chaos.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[RunStore]:
    opened = RunStore(sqlite_url(db_path))
    yield opened
    opened.close()


@pytest.fixture
def bus(store: RunStore) -> EventBus:
    events = EventBus()
    events.subscribe(store.recorder())
    return events
