"""Commands that read the run store (`runs list|show`, `report`, `halt`, `schedule list`,
`gameday list`) in a real subprocess against real SQLite files: a store that does not
exist is an error, not a new empty one; a corrupt one is one line and exit 4, never a
traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chaos.controller.events import EventBus
from chaos.store.repository import RunStore, sqlite_url
from tests.store.run_events import emit_sample, full_run, new_id, start_run
from tests.support import chaos_env, run_chaos

REPO = Path(__file__).resolve().parents[2]
PAGE = 4096  # SQLite's default page size


def chaos(*args: str, home: Path, db: str | None = None):
    return run_chaos(*args, env=chaos_env(home=home, db=db, PYTHONPATH=str(REPO)), cwd=REPO)


def one_line_error(result, exit_code: int) -> str:
    assert result.returncode == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def recorded_store(path: Path, *, samples: int = 0) -> str:
    """A real store holding one whole run (and ``samples`` more of a second); its id."""
    store = RunStore(sqlite_url(path))
    bus = EventBus()
    bus.subscribe(store.recorder(), recorder=True)
    run_id = new_id()
    full_run(bus, run_id)
    if samples:
        run_id = new_id()
        start_run(bus, run_id)
        for tick in range(samples):
            emit_sample(bus, run_id, tick)
    store.close()  # the last connection folds the write-ahead log into the file
    return run_id


READERS = [
    ("runs", "list"),
    ("runs", "show", "abc"),
    ("report", "abc"),
    ("halt", "abc"),
    ("schedule", "list"),
    ("gameday", "list"),
]


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_missing_store_is_an_error_for_reading_commands(tmp_path, command):
    home = tmp_path / "no-such-home"
    result = chaos(*command, home=home)
    line = one_line_error(result, 2)
    assert f"no run store at {home / 'chaos.db'}" in line
    assert not home.exists(), "a reading command must not create a store"


def test_a_missing_db_path_is_named(tmp_path):
    db = tmp_path / "typo.db"
    line = one_line_error(chaos("runs", "list", home=tmp_path, db=sqlite_url(db)), 2)
    assert f"no run store at {db}" in line and "--db" in line
    assert not db.exists()


@pytest.mark.parametrize("command", [("runs", "list"), ("schedule", "list"), ("gameday", "list")])
def test_a_db_that_is_a_plain_path_is_a_usage_error(tmp_path, command):
    db = tmp_path / "chaos.db"
    line = one_line_error(chaos(*command, home=tmp_path, db=str(db)), 2)
    assert "takes a database URL" in line and str(db) not in line
    assert not db.exists()


def test_garbage_over_the_store_is_one_line_and_exit_4(tmp_path):
    db = tmp_path / "chaos.db"
    run_id = recorded_store(db)
    db.write_bytes(os.urandom(3 * PAGE))
    for command in (("runs", "list"), ("runs", "show", run_id), ("report", run_id)):
        line = one_line_error(chaos(*command, home=tmp_path, db=sqlite_url(db)), 4)
        assert "run store" in line and "not a database" in line


def test_a_store_truncated_mid_page_is_one_line_and_exit_4(tmp_path):
    db = tmp_path / "chaos.db"
    recorded_store(db, samples=600)
    with db.open("r+b") as file:
        file.truncate(db.stat().st_size // 2 + 1234)  # not on a page boundary
    line = one_line_error(chaos("runs", "list", home=tmp_path, db=sqlite_url(db)), 4)
    assert "database disk image is malformed" in line


def test_a_corrupt_page_inside_one_run_fails_its_show_not_the_list(tmp_path):
    db = tmp_path / "chaos.db"
    run_id = recorded_store(db, samples=1200)  # its samples fill most of the file's pages
    size = db.stat().st_size
    with db.open("r+b") as file:
        file.seek((size // PAGE - 3) * PAGE + 8)  # inside a page of samples, not its start
        file.write(b"\xff" * (PAGE - 16))
    listed = chaos("runs", "list", home=tmp_path, db=sqlite_url(db))
    assert listed.returncode == 0 and run_id[:12] in listed.stdout, listed.stderr
    line = one_line_error(chaos("runs", "show", run_id, home=tmp_path, db=sqlite_url(db)), 4)
    assert line.startswith("error: cannot use the run store sqlite:///")
    assert line.endswith("database disk image is malformed")


def test_an_unknown_run_in_an_existing_store_is_exit_2(tmp_path):
    db = tmp_path / "chaos.db"
    recorded_store(db)
    for command in (("runs", "show", "nope"), ("report", "nope")):
        line = one_line_error(chaos(*command, home=tmp_path, db=sqlite_url(db)), 2)
        assert "no run with id 'nope'" in line
