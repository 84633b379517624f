"""Game days in a real SQLite run store: every step written up front, updated as it goes,
read back by id or prefix; a game day whose process died reads as interrupted."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos.store import gamedays as book
from chaos.store.gamedays import GameDayStatus, StepPlan, StepStatus
from chaos.store.repository import RunStore, sqlite_url

STEPS = [
    StepPlan(kind="experiment", label="lab-api-kill", source="kill.yaml", notes="one retry"),
    StepPlan(kind="hold", label="hold", notes="check dashboards"),
    StepPlan(kind="experiment", label="lab-store-partition", continue_on_failure=True),
]


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(sqlite_url(tmp_path / "runs.db"))


def start(store: RunStore, gameday_id: str = "gd0001") -> None:
    book.start_gameday(
        store,
        gameday_id=gameday_id,
        name="q4",
        source="plan.yaml",
        description="quarterly",
        owners=["sre-team", "db-team"],
        notes="pager muted",
        lab="lab1",
        steps=STEPS,
    )


def test_a_game_day_round_trips(store: RunStore) -> None:
    before = time.time()
    start(store)
    running = book.get_gameday(store, "gd0001")
    assert running is not None and running.status is GameDayStatus.RUNNING
    assert [s.status for s in running.steps] == [StepStatus.NOT_RUN] * 3  # the whole plan

    book.update_step(store, "gd0001", 0, status=StepStatus.RUNNING, run_id="run1", started_at=1.0)
    book.update_step(store, "gd0001", 0, status=StepStatus.PASSED, exit_code=0, ended_at=5.0)
    book.update_step(store, "gd0001", 1, status=StepStatus.RELEASED, hold_wait_s=2.5)
    book.finish_gameday(
        store, "gd0001", status=GameDayStatus.PASSED, exit_code=0, reason="all passed"
    )

    record = book.get_gameday(store, "gd0")  # a unique prefix is enough
    assert record is not None
    assert (record.name, record.source, record.lab) == ("q4", "plan.yaml", "lab1")
    assert record.owners == ("sre-team", "db-team")
    assert (record.description, record.notes) == ("quarterly", "pager muted")
    assert (record.status, record.exit_code, record.reason) == (
        GameDayStatus.PASSED,
        0,
        "all passed",
    )
    assert before <= record.started_at <= (record.ended_at or 0) <= time.time()
    kill, hold, partition = record.steps
    assert (kill.run_id, kill.status, kill.exit_code, kill.notes) == (
        "run1",
        StepStatus.PASSED,
        0,
        "one retry",
    )
    assert (kill.started_at, kill.ended_at, kill.source) == (1.0, 5.0, "kill.yaml")
    assert (hold.kind, hold.status, hold.hold_wait_s) == ("hold", StepStatus.RELEASED, 2.5)
    assert partition.status is StepStatus.NOT_RUN and partition.continue_on_failure


def test_listing_is_newest_first_and_unknown_ids_are_none(store: RunStore) -> None:
    start(store, "aaa111")
    start(store, "aaa222")
    assert [g.id for g in book.list_gamedays(store)] == ["aaa222", "aaa111"]
    assert book.get_gameday(store, "aaa") is None  # ambiguous
    assert book.get_gameday(store, "zzz") is None
    assert book.get_gameday(store, "") is None


def test_a_game_day_whose_process_died_reads_as_interrupted(tmp_path: Path) -> None:
    db = sqlite_url(tmp_path / "runs.db")
    script = (
        "from chaos.store.repository import RunStore\n"
        "from chaos.store import gamedays as book\n"
        f"book.start_gameday(RunStore({db!r}), gameday_id='dead01', name='x', source='', "
        "description='', owners=[], notes='', lab='', steps=[])\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    record = book.get_gameday(RunStore(db), "dead01")
    assert record is not None
    assert record.status is GameDayStatus.INTERRUPTED
    assert "died" in record.reason
