"""The run store on a real SQLite file: finding runs, reopening, interrupted runs, errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chaos.controller.events import EventBus, RunStatus
from chaos.errors import StoreError
from chaos.store.repository import RunStore, sqlite_url
from tests.store.run_events import full_run, new_id, start_run
from tests.support import pid_alive, wait_for

REPO = Path(__file__).resolve().parents[2]


def test_runs_are_listed_newest_first_and_limited(store: RunStore, bus: EventBus) -> None:
    ids = []
    for index in range(4):
        ids.append(new_id())
        full_run(bus, ids[-1], experiment=f"exp-{index}")
        time.sleep(0.01)  # distinct start times
    listed = store.list_runs()
    assert [run.id for run in listed] == ids[::-1]
    assert [run.experiment for run in store.list_runs(limit=2)] == ["exp-3", "exp-2"]


def test_an_empty_store_lists_nothing(store: RunStore) -> None:
    assert store.list_runs() == []
    assert store.get_run("anything") is None


def test_a_run_is_found_by_a_unique_prefix_only(store: RunStore, bus: EventBus) -> None:
    first, second = "abc1" + new_id()[4:], "abc2" + new_id()[4:]
    full_run(bus, first)
    full_run(bus, second)

    assert store.get_run(first).run.id == first
    assert store.get_run("abc1").run.id == first
    assert store.get_run("abc2").run.id == second
    assert store.get_run("abc") is None  # ambiguous
    assert store.get_run("ffff") is None  # unknown
    assert store.get_run(first + "0") is None  # longer than any id


def test_a_prefix_is_matched_literally(store: RunStore, bus: EventBus) -> None:
    run_id = "abc1" + new_id()[4:]
    full_run(bus, run_id)
    assert store.get_run("a_c") is None
    assert store.get_run("%") is None


def test_runs_persist_across_store_instances(db_path: Path, bus: EventBus) -> None:
    run_id = new_id()
    full_run(bus, run_id)
    reopened = RunStore(sqlite_url(db_path))
    try:
        detail = reopened.get_run(run_id)
        assert detail is not None
        assert detail.run.status is RunStatus.PASSED
        assert len(detail.samples) == 3
    finally:
        reopened.close()


def test_a_run_of_this_process_is_not_marked_interrupted(
    db_path: Path, store: RunStore, bus: EventBus
) -> None:
    run_id = new_id()
    start_run(bus, run_id)
    other = RunStore(sqlite_url(db_path))  # e.g. `chaos runs list` while the run goes on
    try:
        run = other.get_run(run_id).run
        assert run.status is RunStatus.RUNNING
        assert run.reasons == ()
    finally:
        other.close()
    assert store.mark_interrupted() == 0


CHILD = textwrap.dedent(
    """
    import os, sys, time
    from chaos.controller.events import EventBus, EventKind
    from chaos.steady.hypothesis import Phase
    from chaos.store.repository import RunStore

    url, run_id, finish, how = sys.argv[1:5]
    store = RunStore(url)
    bus = EventBus()
    bus.subscribe(store.recorder())
    bus.emit(EventKind.RUN_STARTED, run_id=run_id, phase=None,
             data={"experiment": "child", "source": "child.yaml", "lab": "default", "spec": {}})
    if finish == "verdict":
        bus.emit(EventKind.VERDICT, run_id=run_id, phase=Phase.VERDICT,
                 data={"status": "passed", "exit_code": 0, "reasons": [],
                       "time_to_recover_s": None, "unreverted": [], "checks": {}})
    print("started", flush=True)
    if how == "wait":
        time.sleep(60)
    os._exit(0)
    """
)


def run_child(db_path: Path, run_id: str, *, finish: str, how: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, sqlite_url(db_path), run_id, finish, how],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_run_whose_process_exited_without_a_verdict_is_interrupted(db_path: Path) -> None:
    run_id = new_id()
    child = run_child(db_path, run_id, finish="none", how="exit")
    assert child.wait(timeout=60) == 0

    store = RunStore(sqlite_url(db_path))
    try:
        run = store.get_run(run_id).run
        assert run.status is RunStatus.INTERRUPTED
        assert run.reasons == ("the process running this run died",)
        assert run.exit_code is None
    finally:
        store.close()


def test_a_killed_run_is_interrupted_only_once_its_process_is_gone(db_path: Path) -> None:
    run_id = new_id()
    child = run_child(db_path, run_id, finish="none", how="wait")
    try:
        assert child.stdout.readline().strip() == "started"
        store = RunStore(sqlite_url(db_path))
        try:  # its process is alive: still running
            assert store.get_run(run_id).run.status is RunStatus.RUNNING
        finally:
            store.close()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        wait_for(lambda: not pid_alive(child.pid), timeout=10, what="the child to be reaped")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()

    store = RunStore(sqlite_url(db_path))
    try:
        run = store.get_run(run_id).run
        assert run.status is RunStatus.INTERRUPTED
        assert run.reasons == ("the process running this run died",)
    finally:
        store.close()


def test_a_finished_run_stays_finished_after_its_process_exits(db_path: Path) -> None:
    run_id = new_id()
    child = run_child(db_path, run_id, finish="verdict", how="exit")
    assert child.wait(timeout=60) == 0
    child.stdout.close()

    store = RunStore(sqlite_url(db_path))
    try:
        assert store.get_run(run_id).run.status is RunStatus.PASSED
    finally:
        store.close()


@pytest.mark.parametrize("url", ["sqlite:////proc/nope/x.db", "nosuchdb://x"])
def test_a_store_that_cannot_be_opened_raises_store_error(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        RunStore(url)
    assert "cannot open run store" in str(caught.value)


def test_a_password_in_the_url_is_never_shown() -> None:
    with pytest.raises(StoreError) as caught:
        RunStore("nosuchdb://user:secret@127.0.0.1:1/db")
    message = str(caught.value)
    assert "secret" not in message
    assert "127.0.0.1:1/db" in message


def test_an_unreachable_postgresql_raises_store_error_without_the_password() -> None:
    # with no driver installed this is "no module psycopg2", with one "connection refused":
    # either way a StoreError that never shows the password
    for url in (
        "postgresql://user:secret@127.0.0.1:1/db",
        "postgresql://u@127.0.0.1:1/db?password=secret",
    ):
        with pytest.raises(StoreError) as caught:
            RunStore(url)
        assert "secret" not in str(caught.value)
