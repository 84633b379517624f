"""Terminal output with Rich: a live run log, the verdict, run lists and run details."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from chaos.controller.events import Event, EventKind, RunStatus
from chaos.load.stats import LoadWindow, load_metric
from chaos.spec.steady import LoadMetric
from chaos.steady.slis import format_value
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


def _line(event: Event, *, verbose: bool) -> Text | None:  # noqa: PLR0911
    kind, data = event.kind, event.data
    if kind is EventKind.LOAD_WINDOW:
        return Text(f"  ~ load {event.message}", style="dim") if verbose else None
    if kind is EventKind.SLI_POINT:
        if data.get("ok") and not verbose:
            return None
        mark = Text("  ✓ ", style="green") if data.get("ok") else Text("  ✗ ", style="red")
        value = format_sli(data.get("value"), data.get("source"))
        return mark + Text(
            f"SLI {data['sli']} = {value}" + (f" ({data['detail']})" if data.get("detail") else "")
        )
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
        EventKind.LOAD_STARTED: ("  ~ ", ""),
        EventKind.LOAD_STOPPED: ("  ~ ", "dim"),
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
    """The verdict: one row per SLI and probe (baseline, worst during the fault, recovery,
    threshold, tolerance, result, time to recover); then the outcome and its reasons."""
    summary = verdict_outcome(data)
    rows = data.get("explanation") or []
    if rows:
        return Group(explanation_table(rows), summary)
    checks = data.get("checks") or {}
    return Group(_probe_checks_table(checks, data.get("recovery")), summary) if checks else summary


def verdict_outcome(data: Mapping[str, Any]) -> Text:
    """The outcome line (``FAILED (exit 1) · time to recover 2.0s``) and its reasons."""
    status = RunStatus(data["status"])
    summary = Text(f"{status.value.upper()} (exit {data['exit_code']})", style=STATUS_STYLE[status])
    ttr = data.get("time_to_recover_s")
    if ttr is not None:
        summary += Text(f" · time to recover {ttr:.1f}s")
    for reason in data.get("reasons") or ():
        summary += Text(f"\n  - {reason}")
    return summary


def explanation_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """Per SLI and probe: baseline, worst while faults were active, recovery, threshold
    (and tolerance), time to recover, result. Fits an 80-column CI log."""
    table = Table(
        title="Verdict",
        caption="worst: while faults were active · TTR: time to recover after the revert",
        caption_justify="left",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        header_style="bold",
    )
    for column, justify in (
        ("SLI/probe", "left"),
        ("baseline", "right"),
        ("worst", "right"),
        ("recovery", "right"),
        ("threshold", "left"),
        ("TTR", "right"),
        ("result", "left"),
    ):
        # numbers never wrap; the threshold column does (its tolerance goes below it)
        wraps = column == "threshold"
        table.add_column(
            column, justify=justify, no_wrap=not wraps, min_width=12 if wraps else None
        )  # type: ignore[arg-type]
    for row in rows:
        source = row.get("source")
        name = row["name"]

        def shown(value: Any, sli: bool = row["kind"] == "sli", source: Any = source) -> str:
            return format_sli(value, source) if sli else (value or "-")

        ttr = row.get("time_to_recover_s")
        failed = row.get("failed_in") or []
        result = (
            Text("pass", style="green")
            if row.get("passed")
            else Text("FAIL " + ",".join(failed), style="bold red")
        )
        table.add_row(
            name,
            shown(row.get("baseline")),
            shown(row.get("fault_worst")),
            shown(row.get("recovery")),
            _threshold_cell(row),
            f"{ttr:.1f}s" if ttr is not None else "-",
            result,
        )
    return table


def _threshold_cell(row: Mapping[str, Any]) -> str:
    tolerance = row.get("tolerance") or "-"
    threshold = row.get("threshold") or ""
    return threshold if tolerance == "-" else f"{threshold}\n{tolerance}"


def format_sli(value: Any, source: Any = None) -> str:
    return format_value(None if value is None else float(value), source)


def _probe_checks_table(checks: Mapping[str, Any], recovery: Any) -> Table:
    """Verdicts stored before SLIs existed: pass counts per phase and probe."""
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
    if recovery:
        ttr = recovery["time_to_recover_s"]
        table.add_row(
            "recovery",
            "all probes",
            f"after {ttr:.1f}s" if recovery["recovered"] else "not recovered",
            "",
            recovery["reason"] or "",
        )
    return table


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
    if detail.load:
        console.print(load_table(detail))
    if detail.samples:
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


def load_table(detail: RunDetail) -> Table:
    """The load per phase, merged exactly from the stored per-second histograms."""
    table = Table(title="Load (every request, per phase)", title_justify="left")
    for column in ("phase", "seconds", "requests", "errors", "req/s", "p50", "p99", "max"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    by_phase: dict[str, list[LoadWindow]] = {}
    for record in detail.load:
        window = LoadWindow.from_json({**record.__dict__, "histogram": record.histogram})
        by_phase.setdefault(record.phase, []).append(window)
    for phase, windows in by_phase.items():
        seconds = len(windows)

        def figure(
            metric: LoadMetric, windows: list[LoadWindow] = windows, seconds: int = seconds
        ) -> str:
            value = load_metric(windows, metric, seconds=seconds)
            return format_value(value, metric.value)

        table.add_row(
            phase,
            str(seconds),
            str(sum(w.requests for w in windows)),
            figure(LoadMetric.ERROR_RATIO),
            figure(LoadMetric.THROUGHPUT),
            figure(LoadMetric.LATENCY_P50),
            figure(LoadMetric.LATENCY_P99),
            figure(LoadMetric.LATENCY_MAX),
        )
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
