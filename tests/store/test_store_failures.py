"""A store that fails while recording: real SQLite on a tmpfs of the test's own that
fills up. The recorder says why, refuses later events at once (a failing store must not
slow the reverts that follow), and tries the verdict once more."""

from __future__ import annotations

import os

import pytest

from chaos.controller.events import Event, EventBus, EventKind, RunStatus
from chaos.errors import NotFoundError
from chaos.steady.hypothesis import Phase
from chaos.store.repository import RunStore, sqlite_url
from tests.controller.runs import fill_up
from tests.store.run_events import VERDICT, emit_sample, new_id, start_run
from tests.support import tmpfs

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="a tmpfs of its own needs root")


@pytest.fixture
def disk(tmp_path):
    with tmpfs(tmp_path / "store-disk", "size=2m") as where:
        yield where


@needs_root
def test_a_full_disk_stops_recording_and_says_why(disk):
    store = RunStore(sqlite_url(disk / "runs.db"))
    try:
        failures: list[tuple[EventKind, str]] = []
        seen: list[Event] = []
        bus = EventBus()
        bus.subscribe(store.recorder(), recorder=True)
        bus.subscribe(seen.append)
        bus.on_record_failure(lambda event, reason: failures.append((event.kind, reason)))
        run_id = new_id()
        start_run(bus, run_id)
        filler = fill_up(disk)
        emit_sample(bus, run_id, 0)
        emit_sample(bus, run_id, 1)
        assert failures[0] == (
            EventKind.SAMPLE,
            "cannot write probe.sample to the run store: database or disk is full",
        )
        assert failures[1][1].startswith("not recorded after an earlier failure: cannot write")
        assert [e.kind for e in seen].count(EventKind.SAMPLE) == 2  # the others still see it
        assert bus.errors == []  # a recorder's failure goes to the handler, not the warnings

        filler.unlink()  # space again: the verdict is tried once more and kept
        verdict = {**VERDICT, "status": "error", "exit_code": 4, "reasons": ["not recorded"]}
        shown = bus.emit(
            EventKind.VERDICT,
            run_id=run_id,
            phase=Phase.VERDICT,
            data=verdict,
            only_if_recorded=True,
        )
        assert shown is not None and len(failures) == 2
        run = store.get_run(run_id).run
        assert run.status is RunStatus.ERROR and run.reasons == ("not recorded",)
    finally:
        store.close()


def test_a_verdict_to_show_only_once_recorded_reaches_nobody_when_it_is_not():
    seen: list[Event] = []
    failures: list[str] = []
    bus = EventBus()

    def broken_store(event: Event) -> None:
        raise OSError(28, "No space left on device")

    bus.subscribe(broken_store, recorder=True)
    bus.subscribe(seen.append)
    bus.on_record_failure(lambda event, reason: failures.append(reason))
    assert bus.emit(EventKind.VERDICT, run_id="r", phase=None, only_if_recorded=True) is None
    assert seen == [] and len(failures) == 1
    assert bus.emit(EventKind.FAULT_REVERTED, run_id="r", phase=None) is not None
    assert [e.kind for e in seen] == [EventKind.FAULT_REVERTED]


def test_reading_a_store_that_is_not_there_creates_nothing(tmp_path):
    missing = tmp_path / "nowhere" / "chaos.db"
    with pytest.raises(NotFoundError, match=r"no run store at .*nowhere/chaos\.db"):
        RunStore(sqlite_url(missing), create=False)
    assert not missing.parent.exists()
    made = RunStore(sqlite_url(missing))  # a run still makes its store
    made.close()
    assert missing.is_file()
    RunStore(sqlite_url(missing), create=False).close()
