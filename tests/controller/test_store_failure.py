"""The store is part of safety: a run the store cannot record aborts, reverts every
fault and ends exit 4 with the reason; it never shows PASSED.

Real parts: the run store is SQLite on a tmpfs of the test's own that fills up (or a
real table the halt poll needs goes missing); an agent on loopback holds a ``noop``
fault on a real process; the probe is a real HTTP server.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest

from chaos.controller.events import EventKind, RunStatus
from chaos.store.repository import RunStore, sqlite_url
from tests.controller.runs import experiment_text, fill_up, make_run
from tests.support import tmpfs, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a tmpfs of its own needs root")


@pytest.fixture
def small_disk(tmp_path):
    with tmpfs(tmp_path / "store-disk", "size=4m") as where:
        yield where


@pytest.fixture
def disk_store(small_disk):
    """The run store on the small disk, closed before the disk is unmounted."""
    store = RunStore(sqlite_url(small_disk / "runs.db"))
    yield store
    store.close()


def when_held(agent, action) -> threading.Thread:
    def watch() -> None:
        client = agent.client()
        wait_for(lambda: client.faults() != [], timeout=15, what="the agent to hold the fault")
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_store_that_fills_up_mid_fault_aborts_and_reverts(
    api_process, homepage, small_disk, disk_store
):
    store = disk_store
    run = make_run(experiment_text(homepage, fault_s=10), store=store, home=small_disk)
    filler = when_held(api_process, lambda: fill_up(small_disk))
    started = time.monotonic()
    result = run()
    filler.join(timeout=5)

    assert time.monotonic() - started < 10, "the run must stop at once, not at the fault's end"
    assert result.status is RunStatus.ERROR and int(result.exit_code) == 4
    assert not result.recorded
    assert result.reasons[0].startswith("the run could not be recorded: cannot write ")
    assert "database or disk is full" in result.reasons[0]
    assert api_process.client().faults() == []
    kinds = run.kinds()
    # the terminal still saw the revert the store could not take, after the reason
    assert kinds.index("run.error") < kinds.index("fault.reverted")
    verdicts = [e for e in run.seen if e.kind is EventKind.VERDICT]
    assert [v.data["status"] for v in verdicts] == ["error"]


def test_a_store_that_cannot_record_the_start_injects_nothing(
    api_process, homepage, small_disk, disk_store
):
    store = disk_store
    fill_up(small_disk)
    run = make_run(experiment_text(homepage, fault_s=10), store=store, home=small_disk)
    result = run()
    assert int(result.exit_code) == 4
    assert "cannot write run.started to the run store" in result.reasons[0]
    assert "fault.applied" not in run.kinds() and "targets.selected" not in run.kinds()
    assert api_process.client().faults() == []


def test_a_verdict_the_store_cannot_take_is_never_shown_as_passed(
    api_process, homepage, small_disk, disk_store
):
    run = make_run(experiment_text(homepage, fault_s=1), store=disk_store, home=small_disk)

    def fill_before_the_verdict(event) -> None:
        # the verdict phase starts once sampling and load have stopped: the verdict is
        # the next thing the store is asked to write
        if event.kind is EventKind.PHASE_STARTED and event.message == "verdict":
            fill_up(small_disk)

    run.prepared.bus.subscribe(fill_before_the_verdict)
    result = run()
    assert result.status is RunStatus.ERROR and int(result.exit_code) == 4
    assert "cannot write run.verdict to the run store" in result.reasons[0]
    verdicts = [e for e in run.seen if e.kind is EventKind.VERDICT]
    assert [v.data["status"] for v in verdicts] == ["error"]


def test_halt_requests_that_cannot_be_read_abort_the_run(api_process, homepage, tmp_path):
    db = tmp_path / "runs.db"
    store = RunStore(sqlite_url(db))
    run = make_run(experiment_text(homepage, fault_s=10), store=store, home=tmp_path)

    def lose_the_halts_table() -> None:
        with sqlite3.connect(db) as connection:
            connection.execute("DROP TABLE halt_requests")

    dropper = when_held(api_process, lose_the_halts_table)
    started = time.monotonic()
    result = run()
    dropper.join(timeout=5)
    assert time.monotonic() - started < 10
    assert int(result.exit_code) == 4
    assert result.reasons[0].startswith("halt requests cannot be read from the run store (")
    assert "an operator's halt could not reach this run" in result.reasons[0]
    assert api_process.client().faults() == []
    stored = store.get_run(result.run_id)  # the rest of the run was recorded
    assert stored.run.status is RunStatus.ERROR and stored.run.exit_code == 4
