"""What every time chart of the HTML report shares: one time axis, the fault windows,
phase boundaries and stop-condition trips.

All charts use seconds since the run started, to the end of the run, so the phase
bar, the fault rows and every chart line up: a spike in p99 sits right under the
fault that caused it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaos.report.html_fields import as_text, number, offset, rows, section
from chaos.report.svg import LIMIT, Band, Mark

OUTCOMES = {  # a fault's outcome: (words, CSS class)
    "reverted": ("reverted", "outcome-reverted"),
    "irreversible": ("irreversible: nothing to revert", "outcome-irreversible"),
    "revert_failed": ("REVERT FAILED", "outcome-revert_failed"),
    "lease_lost": ("lease lost: not held for its duration", "outcome-lease_lost"),
    "active_at_end": ("still active when the run ended", "outcome-active_at_end"),
    "apply_failed": ("apply failed", "outcome-apply_failed"),
}
_OPEN_END_MARGIN = 0.05  # share of the run added after the last event of an unfinished run


def outcome(value: Any) -> tuple[str, str]:
    return OUTCOMES.get(as_text(value), (as_text(value, "unknown") or "unknown", "outcome-unknown"))


@dataclass(frozen=True)
class Canvas:
    """What every time chart of one report shares: the time axis, fault windows, marks."""

    t_end: float
    load_shift: float  # a load second's point sits this far after its t_s (its middle)
    bands: tuple[Band, ...]
    fault_spans: tuple[tuple[float, float | None], ...]
    marks: tuple[Mark, ...]


def canvas(document: Mapping[str, Any]) -> Canvas:
    # a load window covers [t_s, t_s + 1 s): its point is drawn in the middle
    shift = 0.5
    bands = tuple(
        Band(start, number(fault.get("ended_s")), "fault-window", _fault_title(fault))
        for fault in rows(document.get("faults"))
        if (start := number(fault.get("applied_s"))) is not None
    )
    return Canvas(
        t_end=_t_end(document, shift),
        load_shift=shift,
        bands=bands,
        fault_spans=tuple((band.start, band.end) for band in bands),
        marks=tuple(_phase_marks(document)) + tuple(_stop_marks(document)),
    )


def _fault_title(fault: Mapping[str, Any]) -> str:
    words, _ = outcome(fault.get("outcome"))
    ended = number(fault.get("ended_s"))
    return (
        f"{as_text(fault.get('label'), 'fault')}: {offset(fault.get('applied_s'))} → "
        f"{offset(ended) if ended is not None else 'end'} ({words})"
    )


def _t_end(document: Mapping[str, Any], shift: float) -> float:
    run, series = section(document, "run"), section(document, "series")
    times = [number(run.get("duration_s"))]
    for phase in rows(document.get("phases")):
        times += [number(phase.get("start_s")), number(phase.get("end_s"))]
    for fault in rows(document.get("faults")):
        times += [number(fault.get("applied_s")), number(fault.get("ended_s"))]
    times += [number(s.get("tripped_s")) for s in rows(document.get("stop_conditions"))]
    times += [number(event.get("at_s")) for event in rows(document.get("timeline"))]
    loads = [number(point.get("t_s")) for point in rows(series.get("load"))]
    times += [t + shift + 0.5 for t in loads if t is not None]
    for sli in rows(series.get("slis")):
        times += [number(point.get("t_s")) for point in rows(sli.get("points"))]
    for probe in rows(series.get("probes")):
        times += [number(sample.get("t_s")) for sample in rows(probe.get("samples"))]
    last = max((t for t in times if t is not None), default=0.0)
    if number(run.get("duration_s")) is None:  # unfinished: leave room for what is open
        last += max(1.0, last * _OPEN_END_MARGIN)
    return min(max(last, 1.0), LIMIT)


def _phase_marks(document: Mapping[str, Any]) -> list[Mark]:
    marks = []
    for phase in rows(document.get("phases")):
        start = number(phase.get("start_s"))
        if start is not None and start > 0.05:
            name = as_text(phase.get("name"), "phase")
            marks.append(Mark(start, "phase-line", f"{name} starts at {offset(start)}"))
    return marks


def _stop_marks(document: Mapping[str, Any]) -> list[Mark]:
    marks = []
    for stop in rows(document.get("stop_conditions")):
        at = number(stop.get("tripped_s"))
        if at is not None:
            title = f"stop condition {as_text(stop.get('name'))} tripped at {offset(at)}"
            marks.append(Mark(at, "stop-trip", title))
    return marks
