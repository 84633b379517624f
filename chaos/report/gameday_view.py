"""How a game day looks in the terminal: a live board while an experiment runs, and the
summary table at the end.

On a terminal (Rich's own detection) each experiment gets the live board ``chaos run``
shows (:mod:`chaos.report.live_board`), titled with the game day's progress: the run's
phase and time left, the faults active right now, a sparkline per SLI and probe and
each stop condition, armed or tripped; notable events still scroll above it. Anywhere
else (CI logs, pipes) the same run prints the plain lines ``chaos run`` prints. The
summary is rendered from the stored game day, so ``chaos gameday show`` prints exactly
the same table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from chaos.controller.events import Event
from chaos.report.live_board import RunBoard  # shared with ``chaos run``
from chaos.report.progress import OutputMode, RunProgress
from chaos.spec.gameday import GameDayPlan, HoldStep, PlannedStep
from chaos.store.gamedays import GameDayRecord, GameDayStatus, GameDayStepRecord, StepStatus

GAMEDAY_STYLE = {
    GameDayStatus.RUNNING: "cyan",
    GameDayStatus.PASSED: "bold green",
    GameDayStatus.FAILED: "bold red",
    GameDayStatus.ABORTED: "bold yellow",
    GameDayStatus.HALTED: "bold yellow",
    GameDayStatus.ERROR: "bold magenta",
    GameDayStatus.INTERRUPTED: "yellow",
}
STEP_STYLE = {
    StepStatus.NOT_RUN: "dim",
    StepStatus.RUNNING: "cyan",
    StepStatus.WAITING: "cyan",
    StepStatus.PASSED: "green",
    StepStatus.FAILED: "bold red",
    StepStatus.ABORTED: "bold yellow",
    StepStatus.ERROR: "bold magenta",
    StepStatus.RELEASED: "green",
    StepStatus.STOPPED: "bold yellow",
}


class GameDayView:
    """The game day's observer (``chaos.gameday.runner.GameDayObserver``) for a terminal."""

    def __init__(self, console: Console, *, verbose: bool = False, live: bool | None = None):
        self._console, self._verbose = console, verbose
        self._live_boards = console.is_terminal if live is None else live
        self._progress: RunProgress | None = None
        self._plan: GameDayPlan | None = None

    def gameday_started(self, plan: GameDayPlan, gameday_id: str) -> None:
        self._plan = plan
        meta, spec = plan.gameday.metadata, plan.gameday.spec
        text = Text(f"Game day {meta.name}", style="bold") + Text(f" · id {gameday_id}")
        if meta.owners:
            text += Text(f" · owners {', '.join(meta.owners)}")
        text += Text(f" · {len(plan.steps)} steps")
        for extra in (meta.description, spec.notes):
            if extra:
                text += Text(f"\n{extra}", style="italic")
        self._console.print(Panel(text, box=box.HEAVY, expand=False))

    def step_started(self, step: PlannedStep, total: int) -> None:
        where = f"step {step.index + 1}/{total}"
        if isinstance(step.step, HoldStep):
            text = Text(step.step.hold, style="bold")
            title = f"{where} · HOLD" + (f" · {step.step.name}" if step.step.name else "")
            panel = Panel(text, title=title, title_align="left", border_style="cyan", expand=False)
            self._console.print(panel)
            return
        rule = Text(f"━━ {where} · experiment {step.label} ({step.path})", style="bold")
        self._console.print(rule)
        if step.step.notes:
            self._console.print(Text(f"   note: {step.step.notes}", style="italic"))

    def run_subscriber(self, step: PlannedStep, run_id: str) -> Callable[[Event], None]:
        assert step.experiment is not None
        total = len(self._plan.steps) if self._plan else 0
        board = RunBoard.for_experiment(
            step.experiment,
            title=f"{self._plan.name if self._plan else ''} · step {step.index + 1}/{total}"
            f" · {step.label}",
            run_id=run_id,
        )
        mode = OutputMode.LIVE if self._live_boards else OutputMode.PLAIN
        self._progress = RunProgress(self._console, mode=mode, board=board, verbose=self._verbose)
        self._progress.start()
        return self._progress.subscriber()

    def step_ended(
        self, step: PlannedStep, status: StepStatus, exit_code: int | None, reason: str
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if isinstance(step.step, HoldStep):
            self._console.print(Text(f"   hold: {status.value}", style=STEP_STYLE[status]))
            return
        code = "" if exit_code is None else f" (exit {exit_code})"
        text = Text(f"━━ step {step.index + 1} {step.label}: ", style="bold")
        text += Text(status.value.upper() + code, style=STEP_STYLE[status])
        if reason and status is not StepStatus.PASSED:
            text += Text(f" · {reason}")
        self._console.print(text)

    def summary(self, record: GameDayRecord) -> None:
        show_gameday(self._console, record)


def show_gameday(console: Console, record: GameDayRecord) -> None:
    """The stored game day: one row per step, then its outcome."""
    console.print(gameday_table(record))
    outcome = Text(
        f"GAME DAY {record.status.value.upper()} (exit {record.exit_code})",
        style=GAMEDAY_STYLE[record.status],
    )
    if record.ended_at is not None:
        outcome += Text(f" · took {record.ended_at - record.started_at:.0f}s")
    if record.reason:
        outcome += Text(f"\n  - {record.reason}")
    console.print(outcome)


def gameday_table(record: GameDayRecord) -> Table:
    owners = f" · owners {', '.join(record.owners)}" if record.owners else ""
    table = Table(
        title=f"Game day {record.name} · {record.id}{owners} · {_when(record.started_at)}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        header_style="bold",
    )
    for column in ("#", "step", "run", "status", "exit", "took", "notes"):
        table.add_column(column, no_wrap=column not in ("step", "notes"))
    for step in record.steps:
        table.add_row(
            str(step.position + 1),
            _step_name(step),
            step.run_id or "-",
            Text(step.status.value, style=STEP_STYLE[step.status]),
            "-" if step.exit_code is None else str(step.exit_code),
            _took(step),
            _notes(step),
        )
    return table


def gamedays_table(records: list[GameDayRecord]) -> Table:
    table = Table(title="Game days", title_justify="left", box=None, header_style="bold")
    for column in ("id", "name", "status", "exit", "started", "took", "steps run"):
        table.add_column(column, no_wrap=True)
    for record in records:
        ran = sum(s.status is not StepStatus.NOT_RUN for s in record.steps)
        took = f"{record.ended_at - record.started_at:.0f}s" if record.ended_at else "-"
        table.add_row(
            record.id,
            record.name,
            Text(record.status.value, style=GAMEDAY_STYLE[record.status]),
            "-" if record.exit_code is None else str(record.exit_code),
            _when(record.started_at),
            took,
            f"{ran}/{len(record.steps)}",
        )
    return table


def _took(step: GameDayStepRecord) -> str:
    if step.kind == "hold":
        return "-" if step.hold_wait_s is None else f"waited {step.hold_wait_s:.0f}s"
    if step.started_at is None or step.ended_at is None:
        return "-"
    return f"{step.ended_at - step.started_at:.0f}s"


def _step_name(step: GameDayStepRecord) -> str:
    if step.kind == "experiment":
        return step.label
    return "hold" if step.label == "hold" else f"hold: {step.label}"


def _notes(step: GameDayStepRecord) -> str:
    parts = [step.notes] if step.notes else []
    if step.reason and step.status is not StepStatus.PASSED:
        parts.append(step.reason)
    return " · ".join(parts)


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M")
