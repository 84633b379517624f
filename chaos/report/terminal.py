"""Terminal output with Rich: a live run log, the verdict, run lists and run details."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from chaos.controller.events import Event, EventKind, RunStatus
from chaos.store.repository import RunDetail, RunRecord

STATUS_STYLE = {
    RunStatus.PASSED: "bold green",
    RunStatus.FAILED: "bold red",
    RunStatus.ABORTED: "bold yellow",
    RunStatus.ERROR: "bold magenta",
    RunStatus.INTERRUPTED: "yellow",
    RunStatus.RUNNING: "cyan",
}


def _clock(at: float) -> str:
    return dt.datetime.fromtimestamp(at).strftime("%H:%M:%S")


def live_view(console: Console, *, verbose: bool = False) -> Callable[[Event], None]:
    """An event subscriber printing what a person watching the run wants to see."""

    def show(event: Event) -> None:
        line = _line(event, verbose=verbose)
        if line is not None:
            console.print(Text(_clock(event.at) + " ", style="dim") + line)
        if event.kind is EventKind.VERDICT:
            console.print(verdict_panel(event.data))

    show.__name__ = "terminal"
    return show


def _line(event: Event, *, verbose: bool) -> Text | None:
    kind, data = event.kind, event.data
    if kind is EventKind.SAMPLE:
        if data.get("ok") and not verbose:
            return None
        mark = Text("  ✓ ", style="green") if data.get("ok") else Text("  ✗ ", style="red")
        detail = f"{data['probe']} {data['latency_ms']:.0f}ms"
        return mark + Text(detail + ("" if data.get("ok") else f" — {event.message}"))
    styles: dict[EventKind, tuple[str, str]] = {
        EventKind.RUN_STARTED: ("▶ ", "bold"),
        EventKind.PHASE_STARTED: ("● phase ", "bold cyan"),
        EventKind.TARGETS_SELECTED: ("  targets ", ""),
        EventKind.FAULT_APPLIED: ("  ⚡ applied ", "yellow"),
        EventKind.FAULT_APPLY_FAILED: ("  ✗ apply failed ", "bold red"),
        EventKind.FAULT_REVERTED: ("  ↺ ", "green"),
        EventKind.FAULT_REVERT_FAILED: ("  ✗ REVERT FAILED ", "bold red"),
        EventKind.LEASE_LOST: ("  ! lease lost ", "bold yellow"),
        EventKind.STOP_CONDITION: ("  ■ ", "bold red"),
        EventKind.RECOVERY: ("  ", "cyan"),
        EventKind.ERROR: ("  ✗ ", "bold red"),
    }
    if kind is EventKind.PHASE_ENDED and data.get("holds") is not None:
        ok = data["holds"]
        text = f"  hypothesis {'holds' if ok else 'violated'} in {event.message}"
        return Text(text, style="green" if ok else "red")
    if kind not in styles:
        return None
    prefix, style = styles[kind]
    return Text(prefix + event.message, style=style)


def verdict_panel(data: Mapping[str, Any]) -> RenderableType:
    """The verdict: per phase and probe, what passed; then the outcome and its reasons."""
    status = RunStatus(data["status"])
    summary = Text(f"{status.value.upper()} (exit {data['exit_code']})", style=STATUS_STYLE[status])
    ttr = data.get("time_to_recover_s")
    if ttr is not None:
        summary += Text(f" · time to recover {ttr:.1f}s")
    for reason in data.get("reasons") or ():
        summary += Text(f"\n  - {reason}")
    checks = data.get("checks") or {}
    if not checks:
        return summary
    table = Table(show_header=True, header_style="bold", title="Verdict", title_justify="left")
    for column, justify in (
        ("phase", "left"),
        ("probe", "left"),
        ("passed", "right"),
        ("worst latency", "right"),
        ("first failure", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for phase, check in checks.items():
        for probe in check["probes"]:
            ratio = f"{probe['passed']}/{probe['samples']}"
            if probe["tolerated"]:
                ratio += " (tolerated)"
            worst = probe["worst_latency_ms"]
            table.add_row(
                phase,
                probe["probe"],
                ratio,
                f"{worst:.0f}ms" if worst is not None else "-",
                probe["first_error"] or "",
            )
    recovery = data.get("recovery")
    if recovery:
        ttr = recovery["time_to_recover_s"]
        table.add_row(
            "recovery",
            "all probes",
            f"after {ttr:.1f}s" if recovery["recovered"] else "not recovered",
            "",
            recovery["reason"] or "",
        )
    return Group(table, summary)


def runs_table(runs: Sequence[RunRecord], *, width: int = 120) -> Table:
    """Recent runs; the reason column only where the terminal is wide enough for it."""
    with_reason = width >= 110
    table = Table(title="Runs", title_justify="left", box=None, pad_edge=False, header_style="bold")
    for column in ("id", "experiment", "status", "exit", "started", "took", "recovery"):
        table.add_column(column, no_wrap=True)
    if with_reason:
        table.add_column("reason")
    for run in runs:
        duration = f"{run.ended_at - run.started_at:.0f}s" if run.ended_at else "-"
        ttr = f"{run.time_to_recover_s:.1f}s" if run.time_to_recover_s is not None else "-"
        table.add_row(
            run.id,
            run.experiment,
            Text(run.status.value, style=STATUS_STYLE[run.status]),
            "-" if run.exit_code is None else str(run.exit_code),
            _when(run.started_at),
            duration,
            ttr,
            *([_shorten(run.reasons[0] if run.reasons else "", 60)] if with_reason else []),
        )
    return table


def _when(at: float) -> str:
    """Time of day for today's runs, the date for older ones: short enough for 80 columns."""
    moment = dt.datetime.fromtimestamp(at)
    today = moment.date() == dt.date.today()
    return moment.strftime("%H:%M:%S" if today else "%Y-%m-%d")


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def show_run(console: Console, detail: RunDetail) -> None:
    run = detail.run
    console.print(
        Text(f"Run {run.id} · {run.experiment} · ", style="bold")
        + Text(run.status.value, style=STATUS_STYLE[run.status])
    )
    console.print(f"source: {run.source or '-'}   lab: {run.lab or '-'}   host: {run.host}")
    console.print(timeline_table(detail))
    console.print(samples_table(detail))
    if run.verdict is not None:
        console.print(verdict_panel(run.verdict))
    else:
        for reason in run.reasons:
            console.print(f"  - {reason}")


def timeline_table(detail: RunDetail) -> Table:
    start = detail.run.started_at
    table = Table(title="Timeline", title_justify="left")
    table.add_column("t+", justify="right")
    table.add_column("phase")
    table.add_column("event")
    table.add_column("detail")
    for event in detail.events:
        if event.kind in (EventKind.SAMPLE.value, EventKind.PHASE_ENDED.value):
            continue
        table.add_row(f"{event.at - start:.1f}s", event.phase or "", event.kind, event.message)
    return table


def samples_table(detail: RunDetail) -> Table:
    """Pass counts and latency per phase and probe: the hypothesis at a glance."""
    table = Table(title="Probe samples", title_justify="left")
    for column in ("phase", "probe", "samples", "failed", "p50 latency", "max latency"):
        table.add_column(column)
    groups: dict[tuple[str, str], list[Any]] = {}
    for sample in detail.samples:
        groups.setdefault((sample.phase, sample.probe), []).append(sample)
    for (phase, probe), samples in groups.items():
        latencies = sorted(s.latency_ms for s in samples)
        failed = sum(not s.ok for s in samples)
        table.add_row(
            phase,
            probe,
            str(len(samples)),
            Text(str(failed), style="red" if failed else "green"),
            f"{latencies[len(latencies) // 2]:.0f}ms",
            f"{latencies[-1]:.0f}ms",
        )
    return table
