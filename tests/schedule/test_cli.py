"""``chaos schedule`` in a subprocess, against a SQLite store; and a running scheduler that
picks up what the CLI writes (add, pause, resume, remove) within its poll."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from chaos.store.repository import RunStore, sqlite_url
from chaos.store.schedules import FiringOutcome, ScheduleStore
from tests.schedule.conftest import experiment_text, schedule_cli
from tests.support import wait_for

ALWAYS = "2000-01-01T00:00..2100-01-01T00:00"  # a blackout covering every test run
ISSUE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<rest>.+)$")


def write(tmp_path: Path, name: str = "sched-cli") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(experiment_text(name, url="http://127.0.0.1:9"))
    return path


def test_add_list_pause_resume_remove(tmp_path: Path):
    db = sqlite_url(tmp_path / "chaos.db")
    file = write(tmp_path)
    added = schedule_cli("add", "--cron", "*/5 * * * *", str(file), "--policy", "queue", db=db)
    assert added.returncode == 0, added.stderr
    assert f"schedule sched-cli: cron */5 * * * * (UTC), {file}" in added.stdout

    listed = schedule_cli("list", db=db)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "sched-cli" in line)
    assert "cron */5 * * * * (UTC)" in row and "queue" in row
    minute = re.search(r"\d{4}-\d\d-\d\d \d\d:(\d\d):00Z", row)
    assert minute and int(minute.group(1)) % 5 == 0, row

    again = schedule_cli("add", "--every", "1m", str(file), db=db)
    assert again.returncode == 2
    assert "schedule 'sched-cli' exists" in again.stderr

    assert schedule_cli("pause", "sched-cli", db=db).stdout == "schedule sched-cli: paused\n"
    assert "paused" in schedule_cli("list", db=db).stdout
    assert schedule_cli("resume", "sched-cli", db=db).returncode == 0
    assert re.search(r"\d\d:\d\d:00Z", schedule_cli("list", db=db).stdout)
    assert schedule_cli("remove", "sched-cli", db=db).returncode == 0
    assert "no schedules" in schedule_cli("list", db=db).stdout


def test_unknown_names_exit_2(tmp_path: Path):
    db = sqlite_url(tmp_path / "chaos.db")
    RunStore(db).close()  # history only reads: it needs a store to look in
    for command in ("pause", "resume", "remove", "history"):
        result = schedule_cli(command, "nope", db=db)
        assert result.returncode == 2, command
        assert "no schedule 'nope'" in result.stderr


def test_an_invalid_file_is_refused_with_every_problem_located(tmp_path: Path):
    db = sqlite_url(tmp_path / "chaos.db")
    file = write(tmp_path)
    file.write_text(
        file.read_text()
        .replace("leaseTtl: 2s", "leaseTtl: soon")
        .replace("interval: 500ms", "interval: often")
    )
    result = schedule_cli("add", "--cron", "* * * * *", str(file), db=db)
    assert result.returncode == 2
    issues = [ISSUE.match(line) for line in result.stderr.splitlines()]
    assert len(issues) == 2 and all(issues), result.stderr
    assert {m["file"] for m in issues} == {str(file)}
    assert "spec.safety.leaseTtl" in result.stderr and "spec.steadyState.interval" in result.stderr
    missing = schedule_cli("add", "--cron", "* * * * *", str(tmp_path / "gone.yaml"), db=db)
    assert missing.returncode == 2
    assert f"{tmp_path / 'gone.yaml'}:1:1: cannot read file" in missing.stderr
    assert "no schedules" in schedule_cli("list", db=db).stdout


def test_a_malformed_cron_or_window_is_refused_naming_the_field(tmp_path: Path):
    db = sqlite_url(tmp_path / "chaos.db")
    file = str(write(tmp_path))
    result = schedule_cli("add", "--cron", "*/5 25 * * *", file, db=db)
    assert result.returncode == 2
    assert 'field 2 (hour) "25"' in result.stderr
    result = schedule_cli("add", "--cron", "* * * * *", "--blackout", "0 22 * * * 8", file, db=db)
    assert result.returncode == 2
    assert "--blackout '0 22 * * * 8': the last word must be its length" in result.stderr
    result = schedule_cli("add", "--every", "2s", "--timezone", "Nowhere/Land", file, db=db)
    assert result.returncode == 2 and "unknown time zone" in result.stderr
    result = schedule_cli("add", "--every", "2s", "--policy", "later", file, db=db)
    assert result.returncode == 2 and "use skip or queue" in result.stderr


def test_a_running_scheduler_follows_what_the_cli_writes(tmp_path: Path, schedulers):
    db = sqlite_url(tmp_path / "chaos.db")
    store = RunStore(db)
    firings = ScheduleStore(store)
    scheduler = schedulers(store)
    assert scheduler.is_leader  # SQLite: the one holding the file lock

    file = str(write(tmp_path))
    added = schedule_cli("add", "--every", "1s", "--blackout", ALWAYS, file, db=db)
    assert added.returncode == 0, added.stderr
    wait_for(lambda: len(firings.firings("sched-cli")) >= 2, timeout=10, what="two firings")
    skipped = firings.firings("sched-cli")[0]
    assert skipped.outcome is FiringOutcome.SKIPPED
    assert skipped.detail.startswith(f"blackout '{ALWAYS}'")
    assert skipped.controller == scheduler.identity

    history = schedule_cli("history", "sched-cli", db=db)
    assert history.returncode == 0
    assert f"skipped: blackout '{ALWAYS}'" in history.stdout
    assert f"skipped: blackout '{ALWAYS}'" in schedule_cli("list", db=db).stdout

    assert schedule_cli("pause", "sched-cli", db=db).returncode == 0
    time.sleep(1.5)  # a firing already handed to a worker may still land
    paused_count = len(firings.firings("sched-cli", limit=1000))
    time.sleep(2.5)
    assert len(firings.firings("sched-cli", limit=1000)) == paused_count

    assert schedule_cli("resume", "sched-cli", db=db).returncode == 0
    wait_for(
        lambda: len(firings.firings("sched-cli", limit=1000)) >= paused_count + 2,
        timeout=10,
        what="firings after resume",
    )
    outcomes = {f.outcome for f in firings.firings("sched-cli", limit=1000)}
    assert outcomes == {FiringOutcome.SKIPPED}  # the pause is not counted as missed

    assert schedule_cli("remove", "sched-cli", db=db).returncode == 0
    time.sleep(1.5)
    removed_count = len(firings.firings("sched-cli", limit=1000))
    time.sleep(2.5)
    assert len(firings.firings("sched-cli", limit=1000)) == removed_count
    history = schedule_cli("history", "sched-cli", db=db)  # history outlives the schedule
    assert history.returncode == 0 and "skipped" in history.stdout


def test_add_refuses_devices_fifos_and_a_cron_that_never_fires(tmp_path: Path):
    db = sqlite_url(tmp_path / "chaos.db")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "a FIFO"), (Path("/dev/zero"), "a character device")):
        began = time.monotonic()
        refused = schedule_cli("add", "--cron", "*/5 * * * *", str(path), db=db)
        assert time.monotonic() - began < 20
        assert refused.returncode == 2, refused.stderr
        assert f"{path}:1:1: cannot read file: {path} is {kind}" in refused.stderr
    never = schedule_cli("add", "--cron", "0 0 31 2 *", str(write(tmp_path)), db=db)
    assert never.returncode == 2
    assert "cron '0 0 31 2 *' never fires: no date matches every field" in never.stderr
    assert "Traceback" not in never.stderr


def test_add_validates_as_the_controller_fires_with_no_variables(tmp_path: Path):
    db = sqlite_url(tmp_path / "chaos.db")
    path = tmp_path / "vars.yaml"
    path.write_text(experiment_text("sched-vars", url="${CHAOS_VAR_SHOP}"))
    env_value = "http://127.0.0.1:9"  # set in the caller's environment: still not used
    refused = schedule_cli(
        "add", "--every", "1h", str(path), db=db, env={"CHAOS_VAR_SHOP": env_value}
    )
    assert refused.returncode == 2
    assert "CHAOS_VAR_SHOP is not set and has no default" in refused.stderr
    assert "give each ${CHAOS_VAR_...} here a default" in refused.stderr
    assert env_value not in refused.stderr
    path.write_text(experiment_text("sched-vars", url="${CHAOS_VAR_SHOP:-http://127.0.0.1:9}"))
    added = schedule_cli("add", "--every", "1h", str(path), db=db)
    assert added.returncode == 0, added.stderr
