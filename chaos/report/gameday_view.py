"""How a game day looks in the terminal: a live board while an experiment runs, and the
summary table at the end.

On a terminal (Rich's own detection: a TTY, not ``TERM=dumb``) each experiment gets
a live board: the game day's progress, the run's phase, the faults active right
now, a sparkline per SLI and probe (the last :data:`SPARK_POINTS` points, from the
run's ``probe.sample`` and ``sli.point`` events) and each stop condition, armed or
tripped; notable events still scroll above it. Anywhere else (CI logs, pipes) the
same run prints the plain lines ``chaos run`` prints. The summary is rendered from
the stored game day, so ``chaos gameday show`` prints exactly the same table.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from chaos.controller.events import Event, EventKind
from chaos.report.terminal import format_sli, live_view
from chaos.spec.gameday import GameDayPlan, HoldStep, PlannedStep
from chaos.spec.models import StopCondition
from chaos.store.gamedays import GameDayRecord, GameDayStatus, GameDayStepRecord, StepStatus

SPARK_POINTS = 40  # points kept per SLI and probe (a ring buffer each)
_BLOCKS = "▁▂▃▄▅▆▇█"
_QUIET = frozenset({EventKind.SAMPLE, EventKind.SLI_POINT, EventKind.LOAD_WINDOW})

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


def sparkline(values: list[float | None]) -> str:
    """Blocks scaled between the window's lowest and highest value; a gap for no data."""
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    top = len(_BLOCKS) - 1
    return "".join(" " if v is None else _BLOCKS[round((v - low) / span * top)] for v in values)


@dataclass
class _Series:
    points: deque[tuple[float | None, bool]] = field(
        default_factory=lambda: deque(maxlen=SPARK_POINTS)
    )
    last: str = "-"
    failed: int = 0


@dataclass
class _Board:
    """One run's live state, fed by its events (bus thread), drawn by Rich's refresh thread."""

    title: str
    stop_conditions: tuple[StopCondition, ...]
    run_id: str
    started: float = field(default_factory=time.monotonic)
    phase: str = "starting"
    faults: dict[str, str] = field(default_factory=dict)  # label [instance] → detail
    series: dict[str, _Series] = field(default_factory=dict)
    tripped: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def feed(self, event: Event) -> None:
        kind, data = event.kind, event.data
        with self.lock:
            if kind is EventKind.PHASE_STARTED:
                self.phase = event.message
            elif kind is EventKind.FAULT_APPLIED:
                self.faults[f"{data.get('label')} [{data.get('instance')}]"] = event.message
            elif kind in (EventKind.FAULT_REVERTED, EventKind.FAULT_REVERT_FAILED):
                self.faults.pop(f"{data.get('label')} [{data.get('instance')}]", None)
            elif kind is EventKind.SAMPLE:
                self._point(str(data["probe"]), data.get("latency_ms"), bool(data.get("ok")))
                self.series[str(data["probe"])].last = f"{data.get('latency_ms', 0):.0f}ms"
            elif kind is EventKind.SLI_POINT:
                name = str(data["sli"])
                self._point(name, data.get("value"), bool(data.get("ok")))
                self.series[name].last = format_sli(data.get("value"), data.get("source"))
            elif kind is EventKind.STOP_CONDITION:
                self.tripped.add(str(data.get("probe") or data.get("sli")))

    def _point(self, name: str, value: float | None, ok: bool) -> None:
        series = self.series.setdefault(name, _Series())
        series.points.append((None if value is None else float(value), ok))
        series.failed += not ok

    def render(self) -> RenderableType:
        with self.lock:
            took = time.monotonic() - self.started
            head = Text(f"{self.title} · run {self.run_id} · ", style="bold")
            head += Text(f"phase {self.phase}", style="bold cyan") + Text(f" · {took:.0f}s")
            faults = Text("faults active: ", style="bold") + (
                Text(", ".join(self.faults), style="yellow") if self.faults else Text("none")
            )
            return Group(head, faults, self._series_table(), self._stops())

    def _series_table(self) -> Table:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
        for column in ("SLI/probe", f"last {SPARK_POINTS}", "now", "failed"):
            table.add_column(column, no_wrap=True)
        for name, series in self.series.items():
            line = Text()
            spark = sparkline([value for value, _ in series.points])
            for char, (_, ok) in zip(spark, series.points, strict=True):
                line += Text(char, style="green" if ok else "bold red")
            failed = Text(str(series.failed), style="red" if series.failed else "green")
            table.add_row(name, line, series.last, failed)
        return table

    def _stops(self) -> RenderableType:
        if not self.stop_conditions:
            return Text("stop conditions: none", style="dim")
        lines = Text("stop conditions:", style="bold")
        for condition in self.stop_conditions:
            subject = condition.subject
            rule = f"{condition.threshold or 'breached'}" if condition.sli else "failing"
            text = f"\n  {condition.name or subject}: {subject} {rule} for {condition.for_:g}s — "
            lines += Text(text)
            lines += (
                Text("TRIPPED", style="bold red")
                if subject in self.tripped
                else Text("armed", style="green")
            )
        return lines


class GameDayView:
    """The game day's observer (``chaos.gameday.runner.GameDayObserver``) for a terminal."""

    def __init__(self, console: Console, *, verbose: bool = False, live: bool | None = None):
        self._console, self._verbose = console, verbose
        self._live_boards = console.is_terminal if live is None else live
        self._live: Live | None = None
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
        lines = live_view(self._console, verbose=self._verbose)
        if not self._live_boards:
            return lines
        assert step.experiment is not None
        total = len(self._plan.steps) if self._plan else 0
        board = _Board(
            title=f"{self._plan.name if self._plan else ''} · step {step.index + 1}/{total}"
            f" · {step.label}",
            stop_conditions=step.experiment.spec.stop_conditions,
            run_id=run_id,
        )
        self._live = Live(
            console=self._console, get_renderable=board.render, refresh_per_second=4, transient=True
        )
        self._live.start()

        def show(event: Event) -> None:
            board.feed(event)
            if event.kind not in _QUIET:
                lines(event)  # notable events scroll above the board

        show.__name__ = "gameday-view"
        return show

    def step_ended(
        self, step: PlannedStep, status: StepStatus, exit_code: int | None, reason: str
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
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
