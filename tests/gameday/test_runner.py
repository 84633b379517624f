"""The game-day runner with a real store and real runs that need no lab: holds answered by
a scripted operator, experiments that cannot run (their targets match nothing, exit 4).
Whole game days against the lab are in test_cli.py."""

from __future__ import annotations

import io
import os
from pathlib import Path

from rich.console import Console

from chaos.controller.events import Event, EventKind
from chaos.errors import ExitCode
from chaos.faults import CATALOG
from chaos.gameday.runner import GameDayRunner
from chaos.report.gameday_view import GameDayView
from chaos.runner.launch import RunSettings
from chaos.spec.gameday import HoldStep, PlannedStep
from chaos.spec.loader import load_gameday_text
from chaos.store import gamedays as book
from chaos.store.gamedays import GameDayStatus, StepStatus
from chaos.store.repository import RunStore, sqlite_url
from chaos.targets import Scope

REPO = Path(__file__).resolve().parents[2]
NOBODY_ANSWERS = {"CHAOS_VAR_LAB_URL": "http://127.0.0.1:9"}  # probes hit the discard port


class ScriptedOperator:
    """Answers holds from a list; ``halt`` stands for Ctrl-C arriving during the hold."""

    def __init__(self, answers: list[bool | str], runner: list[GameDayRunner]) -> None:
        self.answers, self.runner, self.seen = list(answers), runner, []

    def wait(self, step: PlannedStep, hold: HoldStep) -> bool:
        self.seen.append(hold.hold)
        answer = self.answers.pop(0)
        if answer == "halt":
            self.runner[0].halt("SIGINT")
            return False
        return bool(answer)


def plan_text(*steps: str) -> str:
    lines = "\n".join(f"    - {step}" for step in steps)
    return (
        f"apiVersion: chaos/v1\nkind: GameDay\nmetadata: {{name: unit}}\nspec:\n  steps:\n{lines}\n"
    )


def run_gameday(
    tmp_path: Path, text: str, answers: list[bool | str], subscribers: list | None = None
) -> tuple:
    (tmp_path / "kill.yaml").write_text((REPO / "experiments" / "lab-api-kill.yaml").read_text())
    plan = load_gameday_text(
        text, file="plan.yaml", base=tmp_path, catalog=CATALOG, variables=NOBODY_ANSWERS
    )
    store = RunStore(sqlite_url(tmp_path / "runs.db"))
    out = io.StringIO()
    holder: list[GameDayRunner] = []
    operator = ScriptedOperator(answers, holder)
    # no lab has this id: the experiment's targets match nothing (exit 4, nothing touched)
    settings = RunSettings(scope=Scope(lab_id=f"no-such-lab-{os.getpid()}"), home=tmp_path)
    runner = GameDayRunner(
        plan,
        store=store,
        settings=settings,
        gate=operator,
        observer=GameDayView(Console(file=out, width=120)),
        subscribers=subscribers or [],
    )
    holder.append(runner)
    result = runner.run()
    record = book.get_gameday(store, result.gameday_id)
    return result, record, out.getvalue(), operator


def test_stop_at_a_hold_ends_the_game_day_and_later_steps_do_not_run(tmp_path: Path) -> None:
    text = plan_text('hold: "first look"', 'hold: "second look"', "experiment: kill.yaml")
    result, record, out, operator = run_gameday(tmp_path, text, [True, False])
    assert operator.seen == ["first look", "second look"]
    assert (result.status, result.exit_code) == (GameDayStatus.HALTED, ExitCode.ABORTED)
    assert record.status is GameDayStatus.HALTED and record.exit_code == 3
    assert record.reason == "operator halt (stop at the hold)"
    assert [s.status for s in record.steps] == [
        StepStatus.RELEASED,
        StepStatus.STOPPED,
        StepStatus.NOT_RUN,
    ]
    assert record.steps[1].hold_wait_s is not None and record.steps[2].run_id is None
    assert "HOLD" in out and "second look" in out and "hold: stopped" in out
    assert "lab-api-kill" not in out.split("hold: stopped")[1]  # never started


def test_ctrl_c_at_a_hold_is_a_halt(tmp_path: Path) -> None:
    result, record, _, _ = run_gameday(
        tmp_path, plan_text("hold: wait", "experiment: kill.yaml"), ["halt"]
    )
    assert result.exit_code == ExitCode.ABORTED
    assert record.status is GameDayStatus.HALTED and record.reason == "operator halt (SIGINT)"
    assert [s.status for s in record.steps] == [StepStatus.STOPPED, StepStatus.NOT_RUN]


def test_an_experiment_that_cannot_run_ends_the_game_day_with_its_code(tmp_path: Path) -> None:
    text = plan_text("experiment: kill.yaml", "hold: never shown", "experiment: kill.yaml")
    result, record, out, operator = run_gameday(tmp_path, text, [])
    assert (result.status, result.exit_code) == (GameDayStatus.ERROR, ExitCode.ERROR)
    first, hold, last = record.steps
    assert first.status is StepStatus.ERROR and first.exit_code == 4 and first.run_id
    assert (hold.status, last.status) == (StepStatus.NOT_RUN, StepStatus.NOT_RUN)
    assert operator.seen == []
    store = RunStore(sqlite_url(tmp_path / "runs.db"))
    run = store.get_run(first.run_id)
    assert run is not None and run.run.exit_code == 4  # the step's run, stored as any run
    assert record.reason == first.reason and record.reason
    assert "GAME DAY" not in out  # the summary is the CLI's to print


def test_continue_on_failure_goes_on_and_keeps_the_first_failing_code(tmp_path: Path) -> None:
    text = plan_text(
        "{experiment: kill.yaml, continueOnFailure: true, name: first}",
        "hold: go on?",
        "{experiment: kill.yaml, name: second}",
    )
    events: list[Event] = []  # another subscriber of every run (webhooks are one)
    result, record, _, operator = run_gameday(tmp_path, text, [True], [events.append])
    assert operator.seen == ["go on?"]
    assert result.exit_code == ExitCode.ERROR and record.status is GameDayStatus.ERROR
    assert [s.status for s in record.steps] == [
        StepStatus.ERROR,
        StepStatus.RELEASED,
        StepStatus.ERROR,
    ]
    assert [s.label for s in record.steps] == ["first", "hold", "second"]
    assert record.steps[0].run_id != record.steps[2].run_id
    started = [e.run_id for e in events if e.kind is EventKind.RUN_STARTED]
    assert started == [record.steps[0].run_id, record.steps[2].run_id]
