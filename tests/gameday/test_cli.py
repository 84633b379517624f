"""``chaos gameday`` end to end: the real CLI in subprocesses, real labs, a real store.

A game day passes on the resilient lab, stops at the first failure on the fragile one,
refuses invalid plans and unanswerable holds before anything runs, and ends (reverted,
exit 3, ``halted``) when an operator halts the experiment it is running."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from chaos.host import proxyctl
from chaos.store import gamedays as book
from chaos.store.gamedays import GameDayStatus, StepStatus
from chaos.store.repository import RunStore
from tests.e2e.conftest import Lab
from tests.gameday.conftest import (
    gameday,
    gameday_id,
    short_experiment,
    start_gameday,
    write_plan,
)
from tests.support import chaos_env, run_chaos, wait_for

REPO = Path(__file__).resolve().parents[2]


def toxics(lab: Lab) -> list[dict]:
    return [t for link in proxyctl.list_links(lab.state.control_url) for t in link.toxics]


def stored(lab: Lab, output: str) -> book.GameDayRecord:
    record = book.get_gameday(RunStore(lab.db), gameday_id(output))
    assert record is not None
    return record


# ------------------------------------------------------------------ refused before anything runs


def chaos_offline(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_chaos(*args, env=chaos_env(home=home))


def test_the_example_plan_validates(tmp_path: Path) -> None:
    plan = REPO / "experiments" / "gamedays" / "lab-resilience.yaml"
    result = chaos_offline(tmp_path, "gameday", "validate", str(plan))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{plan}: ok (lab-resilience, 3 experiments, 1 hold)\n"


@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_malformed_plan_is_exit_2_at_its_line_and_starts_nothing(tmp_path: Path, command) -> None:
    short_experiment(tmp_path, "lab-api-kill")
    plan = write_plan(tmp_path, "experiment: lab-api-kill.yaml", "{hold: wait, colour: red}")
    extra = ["--yes"] if command == "run" else []
    result = chaos_offline(tmp_path, "gameday", command, str(plan), *extra)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{plan}:8:20: spec.steps[1].colour: unknown field" in result.stderr
    assert "▶ run" not in result.stdout
    assert not (tmp_path / "chaos.db").exists()  # not even the store was opened


def test_a_plan_naming_an_invalid_experiment_is_exit_2_at_both_lines(tmp_path: Path) -> None:
    kill = short_experiment(tmp_path, "lab-api-kill")
    kill.write_text(kill.read_text().replace("signal: KILL", "signal: KILLL"))
    plan = write_plan(tmp_path, "experiment: lab-api-kill.yaml", "hold: wait")
    result = chaos_offline(tmp_path, "gameday", "run", str(plan), "--yes")
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"{plan}:7:19: spec.steps[0].experiment: experiment 'lab-api-kill.yaml' is invalid "
        "(1 problem(s) in that file)"
    )
    signal_line = next(
        i for i, line in enumerate(kill.read_text().splitlines(), 1) if "KILLL" in line
    )
    assert lines[1].startswith(f"{kill}:{signal_line}:24: spec.method[0].params.signal: ")
    assert "▶ run" not in result.stdout
    assert not (tmp_path / "chaos.db").exists()


def test_a_hold_without_a_terminal_or_yes_is_exit_2_before_anything_runs(tmp_path: Path) -> None:
    short_experiment(tmp_path, "lab-api-kill")
    plan = write_plan(tmp_path, "experiment: lab-api-kill.yaml", "hold: check dashboards")
    result = chaos_offline(tmp_path, "gameday", "run", str(plan))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "has 1 hold(s) and stdin is not a terminal" in result.stderr
    assert "pass --yes" in result.stderr and "Nothing was run" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "chaos.db").exists()


# ------------------------------------------------------------------ whole game days


@pytest.mark.slow
def test_a_game_day_passes_on_the_resilient_lab(gameday_resilient_lab: Lab, tmp_path: Path):
    lab = gameday_resilient_lab
    short_experiment(tmp_path, "lab-api-kill")
    short_experiment(tmp_path, "lab-store-partition")
    plan = write_plan(
        tmp_path,
        '{experiment: lab-api-kill.yaml, notes: "expect one retry per request"}',
        'hold: "Check dashboards before the partition"',
        "experiment: lab-store-partition.yaml",
    )
    result = gameday(lab, "run", str(plan), "--lab", lab.state.lab_id, "--yes")
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "step 2/3 · HOLD" in output and "--yes: going on" in output
    assert output.count("\nPASSED (exit 0)") == 2
    assert "GAME DAY PASSED (exit 0)" in output
    record = stored(lab, output)
    assert record.status is GameDayStatus.PASSED and record.exit_code == 0
    assert record.owners == ("sre-team",) and record.notes == "pager muted"
    assert record.lab == lab.state.lab_id
    kill, hold, partition = record.steps
    assert [s.status for s in record.steps] == [
        StepStatus.PASSED,
        StepStatus.RELEASED,
        StepStatus.PASSED,
    ]
    assert kill.notes == "expect one retry per request" and hold.hold_wait_s is not None
    runs = RunStore(lab.db)
    for step, experiment in ((kill, "lab-api-kill"), (partition, "lab-store-partition")):
        assert step.run_id and step.run_id in output  # in the summary table
        run = runs.get_run(step.run_id)
        assert run is not None and run.run.experiment == experiment and run.run.exit_code == 0
    assert toxics(lab) == []
    shown = gameday(lab, "show", record.id[:8])  # the stored summary, as printed at the end
    assert shown.returncode == 0, shown.stderr
    summary = output[output.index(f"Game day plan · {record.id}") : output.index("game day id:")]
    assert shown.stdout == summary
    listed = gameday(lab, "list")
    assert record.id in listed.stdout and "passed" in listed.stdout and "3/3" in listed.stdout


@pytest.mark.slow
def test_a_failing_experiment_ends_the_game_day_on_the_fragile_lab(
    gameday_fragile_lab: Lab, tmp_path: Path
):
    """The first step may fail (continueOnFailure); the second may not: the game day stops
    there, exits with the first failure's code, and records the rest as not run."""
    lab = gameday_fragile_lab
    short_experiment(tmp_path, "lab-api-kill")
    short_experiment(tmp_path, "lab-store-partition")
    plan = write_plan(
        tmp_path,
        "{experiment: lab-api-kill.yaml, continueOnFailure: true}",
        "experiment: lab-store-partition.yaml",
        "hold: never reached",
        "experiment: lab-api-kill.yaml",
    )
    result = gameday(lab, "run", str(plan), "--lab", lab.state.lab_id, "--yes")
    output = result.stdout
    assert result.returncode == 1, output + result.stderr
    assert output.count("\nFAILED (exit 1)") == 2
    assert "step 3/4 · HOLD" not in output and "step 4/4" not in output  # never started
    assert "GAME DAY FAILED (exit 1)" in output
    record = stored(lab, output)
    assert record.status is GameDayStatus.FAILED and record.exit_code == 1
    assert [s.status for s in record.steps] == [
        StepStatus.FAILED,
        StepStatus.FAILED,
        StepStatus.NOT_RUN,
        StepStatus.NOT_RUN,
    ]
    assert [s.exit_code for s in record.steps] == [1, 1, None, None]
    assert record.steps[3].run_id is None
    assert "inject: probe homepage passed" in record.reason
    assert toxics(lab) == []


@pytest.mark.slow
def test_a_stop_condition_aborts_the_game_day_with_exit_3(gameday_fragile_lab: Lab, tmp_path):
    lab = gameday_fragile_lab
    short_experiment(tmp_path, "lab-store-outage-load", duration="20s")
    short_experiment(tmp_path, "lab-api-kill")
    plan = write_plan(
        tmp_path, "experiment: lab-store-outage-load.yaml", "experiment: lab-api-kill.yaml"
    )
    started = time.monotonic()
    result = gameday(lab, "run", str(plan), "--lab", lab.state.lab_id)  # no hold: no --yes
    output = result.stdout
    assert result.returncode == 3, output + result.stderr
    assert time.monotonic() - started < 30  # aborted long before the 20 s fault ended
    assert "stop condition tripped" in output and "GAME DAY ABORTED (exit 3)" in output
    record = stored(lab, output)
    assert record.status is GameDayStatus.ABORTED
    assert [s.status for s in record.steps] == [StepStatus.ABORTED, StepStatus.NOT_RUN]
    assert toxics(lab) == []


# ------------------------------------------------------------------ operator halts

LONG_PARTITION = "{experiment: long.yaml, continueOnFailure: true}"


def long_experiment(directory: Path) -> None:
    """A partition that would last a minute, unless halted."""
    short_experiment(directory, "lab-store-partition", duration="60s").rename(
        directory / "long.yaml"
    )


def wait_for_output(process: subprocess.Popen[str], marker: str, timeout: float = 30) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()  # type: ignore[union-attr]
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} in output:\n{''.join(seen)}")


def assert_halted(lab: Lab, process: subprocess.Popen[str], output: str, reason: str) -> None:
    assert process.returncode == 3, output
    assert "GAME DAY HALTED (exit 3)" in output
    record = stored(lab, output)
    assert record.status is GameDayStatus.HALTED and record.exit_code == 3
    assert record.reason.startswith(f"operator halt ({reason}")
    assert [s.status for s in record.steps] == [
        StepStatus.ABORTED,  # the halted run, reverted
        StepStatus.NOT_RUN,  # continueOnFailure does not outlive an operator halt
        StepStatus.NOT_RUN,
    ]
    run = RunStore(lab.db).get_run(record.steps[0].run_id or "")
    assert run is not None and run.run.status.value == "aborted" and run.run.exit_code == 3
    assert any(e.kind == "fault.reverted" for e in run.events)
    assert toxics(lab) == []


@pytest.mark.slow
def test_chaos_halt_from_another_terminal_ends_the_game_day(gameday_resilient_lab: Lab, tmp_path):
    lab = gameday_resilient_lab
    long_experiment(tmp_path)
    short_experiment(tmp_path, "lab-api-kill")
    plan = write_plan(tmp_path, LONG_PARTITION, "hold: after", "experiment: lab-api-kill.yaml")
    process = start_gameday(lab, str(plan), "--yes")
    try:
        seen = wait_for_output(process, "▶ run ")
        run_id = seen.rsplit("▶ run ", 1)[1].split()[0]
        seen += wait_for_output(process, "applied")
        assert toxics(lab), "the partition should be active before the halt"
        halted = lab.chaos("halt", run_id, "--reason", "game day over")
        assert halted.returncode == 0, halted.stderr
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert_halted(lab, process, seen + output, "game day over")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_halts_the_running_experiment_and_the_game_day(
    gameday_resilient_lab: Lab, tmp_path: Path, signum: signal.Signals
):
    lab = gameday_resilient_lab
    long_experiment(tmp_path)
    short_experiment(tmp_path, "lab-api-kill")
    plan = write_plan(tmp_path, LONG_PARTITION, "hold: after", "experiment: lab-api-kill.yaml")
    process = start_gameday(lab, str(plan), "--yes")
    try:
        seen = wait_for_output(process, "applied")
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert f"{signum.name}: halting the game day" in output
    assert_halted(lab, process, seen + output, signum.name)
    wait_for(lambda: toxics(lab) == [], timeout=1, what="no toxic left")
