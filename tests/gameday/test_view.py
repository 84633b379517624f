"""What a game day looks like: sparklines, the live board fed by a run's events, plain
lines off a terminal, the summary table; and the terminal operator answering holds."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rich.console import Console

from chaos.cli.gameday import TerminalGate
from chaos.controller.events import Event, EventKind
from chaos.faults import CATALOG
from chaos.report.gameday_view import GameDayView, show_gameday
from chaos.report.live_board import SPARK_POINTS, RunBoard, sparkline
from chaos.spec.gameday import HoldStep
from chaos.spec.loader import load_gameday_text, load_text
from chaos.steady.hypothesis import Phase
from chaos.store.gamedays import (
    GameDayRecord,
    GameDayStatus,
    GameDayStepRecord,
    StepStatus,
)

REPO = Path(__file__).resolve().parents[2]
OUTAGE = REPO / "experiments" / "lab-store-outage-load.yaml"


def event(kind: EventKind, message: str = "", **data) -> Event:
    return Event(kind, "run1", time.time(), Phase.INJECT, message, data)


def test_sparkline_scales_between_lowest_and_highest() -> None:
    assert sparkline([0, 7, 14]) == "▁▅█"
    assert sparkline([5, 5]) == "▁▁"  # flat is flat, not an error
    assert sparkline([1.0, None, 2.0]) == "▁ █"  # a gap where there was no data
    assert sparkline([None, None]) == "  "


def board() -> RunBoard:
    experiment = load_text(OUTAGE.read_text(), file="outage.yaml", catalog=CATALOG)
    return RunBoard("q4 · step 1/2 · outage", experiment.spec.stop_conditions, "run1")


def rendered(board: RunBoard) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(board.render())
    return console.file.getvalue()


def test_the_board_follows_the_run() -> None:
    live = board()
    live.feed(event(EventKind.PHASE_STARTED, "inject"))
    fault = {"label": "network-partition on store", "instance": "store-0 (pid 7)"}
    live.feed(event(EventKind.FAULT_APPLIED, "applied", **fault))
    for value, ok in ((0.0, True), (0.05, False), (0.5, False)):
        live.feed(
            event(EventKind.SLI_POINT, sli="errors", value=value, ok=ok, source="error_ratio")
        )
    live.feed(event(EventKind.SAMPLE, probe="home", latency_ms=12.0, ok=True))
    text = rendered(live)
    assert "phase inject" in text and "run run1" in text
    assert "network-partition on store [store-0 (pid 7)]" in text
    errors = next(line for line in text.splitlines() if line.startswith(" errors"))
    assert "▁▂█" in errors and "50.00%" in errors and errors.split()[-1] == "2"  # 2 failed
    assert "12ms" in text
    assert "error budget burning: errors > 0.2 for 1s — armed" in text

    live.feed(event(EventKind.STOP_CONDITION, "tripped", sli="errors", probe=None))
    live.feed(event(EventKind.FAULT_REVERTED, "reverted", **fault))
    text = rendered(live)
    assert "TRIPPED" in text and "faults active: none" in text


def test_the_board_keeps_a_ring_buffer_per_name() -> None:
    live = board()
    for index in range(SPARK_POINTS + 15):
        live.feed(event(EventKind.SAMPLE, probe="home", latency_ms=float(index), ok=True))
    assert len(live.series["home"].points) == SPARK_POINTS
    assert live.series["home"].points[0][0] == 15.0


PLAN = """\
apiVersion: chaos/v1
kind: GameDay
metadata: {name: q4, owners: [sre]}
spec:
  steps:
    - {experiment: ../lab-store-outage-load.yaml, notes: "under load"}
    - hold: look
"""


@pytest.mark.parametrize("terminal", [False, True], ids=["lines", "live"])
def test_a_step_is_shown_as_lines_or_as_a_live_board(terminal: bool) -> None:
    plan = load_gameday_text(PLAN, file="p.yaml", base=OUTAGE.parent / "gamedays", catalog=CATALOG)
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=terminal, color_system=None)
    view = GameDayView(console)
    assert view._live_boards is terminal  # Rich's own detection decides
    view.gameday_started(plan, "gd1")
    step = plan.steps[0]
    view.step_started(step, 2)
    show = view.run_subscriber(step, "run1")
    show(event(EventKind.PHASE_STARTED, "inject"))
    show(event(EventKind.SAMPLE, "timed out", probe="home", latency_ms=1500.0, ok=False))
    time.sleep(0.3)  # a live refresh or two
    view.step_ended(step, StepStatus.FAILED, 1, "inject: probe home failed")
    view.step_started(plan.steps[1], 2)
    text = out.getvalue()
    assert "Game day q4 · id gd1 · owners sre · 2 steps" in text
    assert "step 1/2 · experiment lab-store-outage-load" in text and "note: under load" in text
    assert "● phase inject" in text  # notable events print either way
    assert "step 2/2 · HOLD" in text and "look" in text
    if terminal:
        assert "q4 · step 1/2 · lab-store-outage-load · run run1" in text  # the board
        assert "✗ home" not in text  # samples go to the board's sparkline, not lines
    else:
        assert "✗ home 1500ms — timed out" in text
        assert "run run1 ·" not in text


def step(position: int, **fields) -> GameDayStepRecord:
    base = dict(
        position=position,
        kind="experiment",
        label="lab-api-kill",
        source="kill.yaml",
        notes="",
        continue_on_failure=False,
        run_id=None,
        status=StepStatus.NOT_RUN,
        exit_code=None,
        reason="",
        started_at=None,
        ended_at=None,
        hold_wait_s=None,
    )
    return GameDayStepRecord(**{**base, **fields})


def test_the_summary_shows_every_step_and_the_outcome() -> None:
    record = GameDayRecord(
        id="gd1",
        name="q4",
        source="plan.yaml",
        description="",
        owners=("sre",),
        notes="",
        lab="lab1",
        status=GameDayStatus.FAILED,
        exit_code=1,
        reason="inject: probe homepage passed 3/8",
        started_at=100.0,
        ended_at=131.0,
        host="h",
        steps=(
            step(
                0,
                run_id="r1",
                status=StepStatus.PASSED,
                exit_code=0,
                started_at=100.0,
                ended_at=111.0,
                notes="one retry",
            ),
            step(
                1,
                kind="hold",
                label="hold",
                notes="check dashboards",
                status=StepStatus.RELEASED,
                hold_wait_s=4.2,
            ),
            step(
                2,
                label="lab-store-partition",
                run_id="r2",
                status=StepStatus.FAILED,
                exit_code=1,
                reason="inject: probe homepage passed 3/8",
                started_at=115.0,
                ended_at=128.0,
            ),
            step(3, label="lab-store-outage-load"),
        ),
    )
    console = Console(file=io.StringIO(), width=160, color_system=None)
    show_gameday(console, record)
    lines = [line.split() for line in console.file.getvalue().splitlines()]
    assert ["1", "lab-api-kill", "r1", "passed", "0", "11s", "one", "retry"] in lines
    assert ["2", "hold", "-", "released", "-", "waited", "4s", "check", "dashboards"] in lines
    assert [
        "3",
        "lab-store-partition",
        "r2",
        "failed",
        "1",
        "13s",
        "inject:",
        "probe",
        "homepage",
        "passed",
        "3/8",
    ] in lines
    assert ["4", "lab-store-outage-load", "-", "not-run", "-", "-"] in lines
    assert "GAME DAY FAILED (exit 1) · took 31s" in console.file.getvalue()


@pytest.mark.parametrize(
    ("typed", "goes_on"),
    [
        ([""], True),
        (["go"], True),
        (["stop"], False),
        (["what?", "STOP"], False),
        ([EOFError], False),
    ],
    ids=["enter", "go", "stop", "asks-again", "end-of-input"],
)
def test_the_terminal_operator(monkeypatch: pytest.MonkeyPatch, typed: list, goes_on: bool) -> None:
    answers = iter(typed)

    def answer(prompt: str = "") -> str:
        value = next(answers)
        if value is EOFError:
            raise EOFError
        return value

    monkeypatch.setattr("builtins.input", answer)
    console = Console(file=io.StringIO(), color_system=None)
    gate = TerminalGate(console, auto=False)
    assert gate.wait(None, HoldStep(hold="look")) is goes_on  # type: ignore[arg-type]
    assert not gate.waiting
    assert ("Enter to go on, or type stop" in console.file.getvalue()) is (len(typed) > 1)


def test_yes_passes_every_hold_once_shown() -> None:
    console = Console(file=io.StringIO(), color_system=None)
    assert TerminalGate(console, auto=True).wait(None, HoldStep(hold="x")) is True  # type: ignore[arg-type]
    assert "--yes: going on" in console.file.getvalue()
