"""The live board of one run: what a person watching it wants to see at a glance.

The run's events feed it (on the bus thread) and Rich's refresh thread draws it:
the phase; the time elapsed and the time still planned, from the experiment's
phases and method steps (recovery is an upper bound: it ends as soon as the
system has recovered, so it is shown as ``≤``); the faults active right now with
the time each has left; per SLI and probe a sparkline of its last points (up to
:data:`SPARK_POINTS`, as many as the width allows), its latest value with a ✓ or
✗, its threshold and its pass counts; and each stop condition, armed or tripped.
``chaos run`` and ``chaos gameday run`` show it as a footer (chaos.report.progress).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from chaos.controller.events import Event, EventKind
from chaos.spec.models import Experiment, FaultStep, ParallelStep, PauseStep, StopCondition
from chaos.steady.hypothesis import Phase
from chaos.steady.slis import format_threshold, format_value, source_of, threshold_for

SPARK_POINTS = 40  # points kept per SLI and probe (a ring buffer each)
MIN_SPARK_POINTS = 10  # drawn even on a narrow terminal
_BLOCKS = "▁▂▃▄▅▆▇█"
_FAULTS_LISTED = 5  # more active faults than this are counted, not listed
_PHASES = tuple(Phase)  # in the order a run goes through them
_HEADERS = ("SLI/probe", "now", "threshold", "passed", "failed")


def sparkline(values: list[float | None]) -> str:
    """Blocks scaled between the window's lowest and highest value; a gap for no data."""
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    top = len(_BLOCKS) - 1
    return "".join(" " if v is None else _BLOCKS[round((v - low) / span * top)] for v in values)


def mmss(seconds: float) -> str:
    minutes, rest = divmod(max(0, int(seconds)), 60)
    return f"{minutes:02d}:{rest:02d}"


def step_seconds(step: FaultStep | PauseStep | ParallelStep) -> float:
    """How long a method step lasts: a pause its pause, a fault its duration, parallel
    faults the longest of theirs (the run loop waits for all before the next step)."""
    if isinstance(step, PauseStep):
        return step.pause
    faults = step.parallel if isinstance(step, ParallelStep) else (step,)
    return max((fault.duration or 0.0 for fault in faults), default=0.0)


@dataclass(frozen=True)
class RunTimeline:
    """Planned seconds per phase. Preflight, revert and the verdict take a moment, not a
    planned time; recovery lasts *at most* ``recovery_bound``."""

    planned: Mapping[Phase, float]
    recovery_bound: float

    @classmethod
    def of(cls, experiment: Experiment) -> RunTimeline:
        phases = experiment.spec.phases
        inject = sum(step_seconds(step) for step in experiment.spec.method)
        return cls({Phase.BASELINE: phases.baseline, Phase.INJECT: inject}, phases.recovery)

    def remaining(self, phase: Phase, in_phase_s: float) -> tuple[float, float]:
        """Seconds still planned after ``in_phase_s`` in ``phase``: (fixed, recovery at most)."""
        later = _PHASES[_PHASES.index(phase) + 1 :]
        fixed = max(0.0, self.planned.get(phase, 0.0) - in_phase_s)
        fixed += sum(self.planned.get(after, 0.0) for after in later)
        if phase is Phase.RECOVERY:
            return fixed, max(0.0, self.recovery_bound - in_phase_s)
        return fixed, self.recovery_bound if Phase.RECOVERY in later else 0.0

    def describe(self, phase: Phase, in_phase_s: float) -> str:
        fixed, bound = self.remaining(phase, in_phase_s)
        if phase is Phase.VERDICT:
            return "finishing"
        if phase is Phase.RECOVERY:
            return f"left ≤ {mmss(math.ceil(bound))}"
        left = f"left {mmss(math.ceil(fixed))}"
        return left + (f" + recovery ≤ {mmss(math.ceil(bound))}" if bound > 0 else "")


@dataclass
class _Series:
    points: deque[tuple[float | None, bool]] = field(
        default_factory=lambda: deque(maxlen=SPARK_POINTS)
    )
    last: str = "-"
    ok: bool = True
    threshold: str = "-"
    count: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Row:
    name: str
    points: tuple[tuple[float | None, bool], ...]
    cells: tuple[Text, str, str, Text]  # now, threshold, passed, failed


class RunBoard:
    """One run's live state, fed by its events, drawn by :meth:`render`."""

    def __init__(
        self,
        title: str,
        stop_conditions: tuple[StopCondition, ...] = (),
        run_id: str = "",
        *,
        experiment: Experiment | None = None,
        clock: Callable[[], float] = time.time,  # the clock events are stamped with
    ) -> None:
        self.title, self.stop_conditions, self.run_id = title, stop_conditions, run_id
        self._clock = clock
        self.started = self.phase_started = clock()
        self.phase: Phase | None = None
        self.faults: dict[str, float | None] = {}  # "label [instance]" → when it is reverted
        self.series: dict[str, _Series] = {}
        self.tripped: set[str] = set()
        self._lock = threading.Lock()
        spec = experiment.spec if experiment else None
        self._timeline = RunTimeline.of(experiment) if experiment else None
        steps = experiment.fault_steps() if experiment else []
        self._durations = {path: step.duration or 0.0 for path, step in steps}
        self._slis = {sli.name: sli for sli in spec.steady_state.slis} if spec else {}
        self._probes = {probe.name: probe for probe in spec.steady_state.probes} if spec else {}
        self._tolerated = spec.phases.tolerate_during_fault if spec else ()
        self._handlers: dict[EventKind, Callable[[Event], None]] = {
            EventKind.RUN_STARTED: self._run_started,
            EventKind.PHASE_STARTED: self._phase_started,
            EventKind.FAULT_APPLIED: self._fault_applied,
            EventKind.FAULT_REVERTED: self._fault_gone,
            EventKind.FAULT_REVERT_FAILED: self._fault_gone,
            EventKind.SAMPLE: self._sample,
            EventKind.SLI_POINT: self._sli_point,
            EventKind.STOP_CONDITION: self._tripped,
        }

    @classmethod
    def for_experiment(
        cls,
        experiment: Experiment,
        *,
        title: str | None = None,
        run_id: str = "",
        clock: Callable[[], float] = time.time,
    ) -> RunBoard:
        title = title or experiment.metadata.name
        stops = experiment.spec.stop_conditions
        return cls(title, stops, run_id, experiment=experiment, clock=clock)

    # ------------------------------------------------------------ fed by events

    def feed(self, event: Event) -> None:
        handler = self._handlers.get(event.kind)
        if handler is None:
            return
        with self._lock:
            self.run_id = event.run_id or self.run_id
            handler(event)

    def _run_started(self, event: Event) -> None:
        self.started = event.at

    def _phase_started(self, event: Event) -> None:
        self.phase = event.phase or Phase(event.message)
        self.phase_started = event.at

    def _fault_applied(self, event: Event) -> None:
        duration = self._durations.get(str(event.data.get("step")))
        self.faults[_fault_name(event)] = None if duration is None else event.at + duration

    def _fault_gone(self, event: Event) -> None:
        self.faults.pop(_fault_name(event), None)

    def _sample(self, event: Event) -> None:
        data = event.data
        name = str(data["probe"])
        series = self._point(name, data.get("latency_ms"), bool(data.get("ok")))
        series.last = f"{data.get('latency_ms', 0):.0f}ms"
        probe = self._probes.get(name)
        latency = probe.http.latency if probe and probe.http else None
        series.threshold = (
            "exempt"
            if self._exempt(name, event.phase or self.phase)
            else format_threshold(latency, "latency_ms")
        )

    def _sli_point(self, event: Event) -> None:
        data = event.data
        name = str(data["sli"])
        series = self._point(name, data.get("value"), bool(data.get("ok")))
        series.last = format_value(_number(data.get("value")), data.get("source"))
        sli = self._slis.get(name)
        if sli is not None:
            phase = event.phase or self.phase or Phase.BASELINE
            threshold = threshold_for(sli, phase, self._tolerated)
            series.threshold = (
                format_threshold(threshold, source_of(sli)) if threshold else "exempt"
            )

    def _tripped(self, event: Event) -> None:
        self.tripped.add(str(event.data.get("probe") or event.data.get("sli")))

    def _point(self, name: str, value: float | None, ok: bool) -> _Series:
        series = self.series.setdefault(name, _Series())
        series.points.append((_number(value), ok))
        series.ok = ok
        series.count += 1
        series.failed += not ok
        return series

    def _exempt(self, name: str, phase: Phase | None) -> bool:
        return phase is Phase.INJECT and name in self._tolerated

    # ------------------------------------------------------------ drawn

    def render(self) -> RenderableType:
        with self._lock:
            now = self._clock()
            head = Text(f"{self.title} · run {self.run_id or '…'}", style="bold")
            phase = self.phase.value if self.phase else "starting"
            progress = Text(f"phase {phase}", style="bold cyan") + Text(self._timing(now))
            rows = [_row(name, series) for name, series in self.series.items()]
            return Group(head, progress, self._faults(now), _SeriesTable(rows), self._stops())

    def _timing(self, now: float) -> str:
        elapsed = f" · elapsed {mmss(now - self.started)}"
        if self._timeline is None:
            return elapsed
        in_phase = now - self.phase_started
        return elapsed + " · " + self._timeline.describe(self.phase or Phase.PREFLIGHT, in_phase)

    def _faults(self, now: float) -> Text:
        text = Text("faults active:", style="bold")
        if not self.faults:
            return text + Text(" none")
        for name, ends in list(self.faults.items())[:_FAULTS_LISTED]:
            text += Text(f"\n  ⚡ {name}", style="yellow")
            if ends is not None:
                left = ends - now
                text += Text(f" · {mmss(math.ceil(left))} left" if left > 0 else " · reverting")
        hidden = len(self.faults) - _FAULTS_LISTED
        return text + (Text(f"\n  … and {hidden} more", style="yellow") if hidden > 0 else "")

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


class _SeriesTable:
    """SLIs and probes, one row each; the sparklines get the width the other columns leave
    (at most :data:`SPARK_POINTS` points), so the board fits 80 columns as well as 100."""

    def __init__(self, rows: list[_Row]) -> None:
        self._rows = rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = [len(header) for header in _HEADERS]
        for row in self._rows:
            cells = (row.name, *(str(cell) for cell in row.cells))
            widths = [max(width, len(cell)) for width, cell in zip(widths, cells, strict=True)]
        # per column a space either side (but at the table's edges) and a separator
        gaps = 3 * (len(_HEADERS) + 1) - 1
        room = options.max_width - sum(widths) - gaps
        points = max(MIN_SPARK_POINTS, min(SPARK_POINTS, room))
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
        for column in (_HEADERS[0], f"last {points}", *_HEADERS[1:]):
            table.add_column(column, no_wrap=True)
        for row in self._rows:
            shown = row.points[-points:]
            line = Text()
            spark = sparkline([value for value, _ in shown])
            for char, (_, ok) in zip(spark, shown, strict=True):
                line += Text(char, style="green" if ok else "bold red")
            table.add_row(row.name, line, *row.cells)
        yield table


def _row(name: str, series: _Series) -> _Row:
    mark = Text("✓ ", style="green") if series.ok else Text("✗ ", style="bold red")
    failed = Text(str(series.failed), style="red" if series.failed else "green")
    passed = f"{series.count - series.failed}/{series.count}"
    return _Row(name, tuple(series.points), (mark + series.last, series.threshold, passed, failed))


def _fault_name(event: Event) -> str:
    return f"{event.data.get('label')} [{event.data.get('instance')}]"


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
