"""The run report document: one plain, JSON-ready dict per run, every output's source.

``chaos run --json`` writes it as it is; the JUnit, Markdown and HTML renderers and
the regression comparison read it, so every output tells the same story. Its shape
is versioned (:data:`SCHEMA_VERSION`) and published as a JSON Schema
(``chaos/report/schemas/run-report-v1.schema.json``, ``chaos schema --report``).

Times inside a run are seconds since the run started (``*_s`` fields), so a chart
or a diff never depends on the clock of the machine that ran it. A report is built
from whatever the store holds: a run that died half-way, or that stored no load or
no SLI points, still gets a report, and ``missing`` says what is not there.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chaos import __version__
from chaos.controller.events import EventKind
from chaos.spec.units import Threshold, parse_threshold
from chaos.steady.slis import format_threshold, format_value
from chaos.store.repository import RunDetail

SCHEMA_VERSION = 1
KIND = "ChaosRunReport"
SCHEMA_FILE = "run-report-v1.schema.json"

LOAD_SERIES = (
    "throughput_rps",
    "error_ratio",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
)
# how a judged phase reads in a sentence ("failed during fault")
PHASE_WORDS = {"baseline": "in baseline", "inject": "during fault", "recovery": "in recovery"}
# which of a verdict row's figures belongs to each judged phase
PHASE_FIGURES = {"baseline": "baseline", "inject": "fault_worst", "recovery": "recovery"}
# events shown on the timeline: the rest are series (samples, load, SLI points)
_SERIES_EVENTS = {
    EventKind.SAMPLE.value,
    EventKind.LOAD_WINDOW.value,
    EventKind.SLI_POINT.value,
    EventKind.PHASE_ENDED.value,
}


def build_document(
    detail: RunDetail,
    *,
    comparison: Mapping[str, Any] | None = None,
    generated_at: float | None = None,
) -> dict[str, Any]:
    """The report of one stored run (``comparison``: :func:`chaos.report.compare.compare`'s
    result, or None when no comparison was asked for)."""
    run, spec = detail.run, detail.run.spec
    start = run.started_at
    verdict = run.verdict or {}
    steady = (spec.get("spec") or {}).get("steadyState") or {}
    slis = _sli_series(detail, steady.get("slis") or [], start)
    probes = _probe_series(detail, steady.get("probes") or [], start)
    load = [_load_point(window, start) for window in detail.load]
    faults = _faults(detail, start)
    document: dict[str, Any] = {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "generator": f"chaos-platform {__version__}",
        "generated_at": _iso(generated_at if generated_at is not None else _now()),
        "run": {
            "id": run.id,
            "experiment": run.experiment,
            "description": (spec.get("metadata") or {}).get("description") or "",
            "source": run.source,
            "lab": run.lab,
            "host": run.host,
            "status": run.status.value,
            "exit_code": run.exit_code,
            "reasons": list(run.reasons),
            "started_at": _iso(start),
            "ended_at": _iso(run.ended_at) if run.ended_at is not None else None,
            "duration_s": _round(run.ended_at - start) if run.ended_at is not None else None,
            "time_to_recover_s": run.time_to_recover_s,
            "unreverted": list(verdict.get("unreverted") or []),
        },
        "verdict": _verdict_rows(verdict, probes, slis),
        "recovery": _recovery(verdict),
        "phases": _phases(detail, start),
        "faults": faults,
        "stop_conditions": _stop_conditions(detail, spec, start),
        "timeline": [
            {
                "at_s": _round(event.at - start),
                "kind": event.kind,
                "phase": event.phase,
                "message": event.message,
            }
            for event in detail.events
            if event.kind not in _SERIES_EVENTS
        ],
        "series": {"load": load, "slis": slis, "probes": probes},
        "missing": [],
        "comparison": dict(comparison) if comparison is not None else None,
        "gate": {
            "status": run.status.value,
            "exit_code": run.exit_code,
            "reasons": list(run.reasons),
        },
    }
    document["missing"] = missing_data(document, spec)
    return document


def apply_gate(document: dict[str, Any], *, fail_on_regression: bool) -> dict[str, Any]:
    """The CI gate's outcome: the run's own, made a failure (exit 1) when asked to fail on
    regressions and the comparison found some. The run's stored verdict is not changed."""
    run = document["run"]
    gate = {"status": run["status"], "exit_code": run["exit_code"], "reasons": list(run["reasons"])}
    regressions = (document.get("comparison") or {}).get("regressions") or []
    if fail_on_regression and regressions and run["exit_code"] == 0:
        gate = {
            "status": "failed",
            "exit_code": 1,
            "reasons": [f"regression: {r['summary']}" for r in regressions],
        }
    document["gate"] = gate
    return document


# ---------------------------------------------------------------- run parts


def _verdict_rows(
    verdict: Mapping[str, Any],
    probes: Sequence[Mapping[str, Any]],
    slis: Sequence[Mapping[str, Any]],
) -> list[Any]:
    """One row per SLI and probe, numbers for tools and ``display`` strings for people.

    A probe's baseline, fault and recovery figures are pass ratios (0..1)."""
    rows = []
    ratios = {p["name"]: p["pass_ratio"] for p in probes}
    series = {s["name"]: s for s in slis}
    for row in verdict.get("explanation") or []:
        source = row.get("source")
        if row.get("kind") == "probe":
            ratio = ratios.get(row["name"], {})
            values = {name: ratio.get(name) for name in ("baseline", "inject", "recovery")}
            values["fault_worst"] = values.pop("inject")
            display = {
                name: row.get(name) or "no data" for name in ("baseline", "fault_worst", "recovery")
            }
        else:
            values = {name: row.get(name) for name in ("baseline", "fault_worst", "recovery")}
            display = {name: format_value(value, source) for name, value in values.items()}
        rows.append(
            {
                "kind": row.get("kind", "sli"),
                "name": row["name"],
                "source": source,
                "threshold": row.get("threshold") or "-",
                "tolerance": row.get("tolerance") or "-",
                "thresholds": _phase_thresholds(row, series.get(row["name"])),
                **values,
                "display": display,
                "time_to_recover_s": row.get("time_to_recover_s"),
                "passed": bool(row.get("passed")),
                "failed_in": list(row.get("failed_in") or []),
            }
        )
    return rows


def _phase_thresholds(
    row: Mapping[str, Any], sli: Mapping[str, Any] | None
) -> dict[str, str | None]:
    """What the signal was held to in each judged phase; None while faults were active
    for a signal not judged then (tolerated)."""
    held = row.get("threshold") or "-"
    in_fault: str | None = held
    if "not judged in fault" in str(row.get("tolerance")):
        in_fault = None
    elif row.get("kind") != "probe" and sli is not None and sli.get("during_fault"):
        looser = sli["during_fault"]
        in_fault = format_threshold(Threshold(looser["op"], looser["value"]), sli.get("source"))
    return {"baseline": held, "inject": in_fault, "recovery": held}


def _recovery(verdict: Mapping[str, Any]) -> dict[str, Any] | None:
    recovery = verdict.get("recovery")
    if not recovery:
        return None
    return {
        "recovered": bool(recovery.get("recovered")),
        "time_to_recover_s": recovery.get("time_to_recover_s"),
        "reason": recovery.get("reason"),
        "signals": dict(recovery.get("signals") or {}),
    }


def _phases(detail: RunDetail, start: float) -> list[dict[str, Any]]:
    phases: list[dict[str, Any]] = []
    for event in detail.events:
        if event.kind == EventKind.PHASE_STARTED.value:
            phases.append(
                {
                    "name": event.message or event.phase or "",
                    "start_s": _round(event.at - start),
                    "end_s": None,
                    "holds": None,
                    "reasons": [],
                }
            )
        elif event.kind == EventKind.PHASE_ENDED.value and phases:
            phase = phases[-1]
            phase["end_s"] = _round(event.at - start)
            phase["holds"] = event.data.get("holds")
            phase["reasons"] = list(event.data.get("reasons") or [])
    return phases


_FAULT_ENDS = {
    EventKind.FAULT_REVERTED.value: "reverted",
    EventKind.FAULT_REVERT_FAILED.value: "revert_failed",
    EventKind.LEASE_LOST.value: "lease_lost",
}


def _faults(detail: RunDetail, start: float) -> list[dict[str, Any]]:
    """Each fault applied (or that failed to apply): when, where, and how it ended."""
    faults: list[dict[str, Any]] = []
    open_: dict[tuple[Any, Any], dict[str, Any]] = {}
    for event in detail.events:
        data = event.data
        key = (data.get("label"), data.get("instance"))
        if event.kind in (EventKind.FAULT_APPLIED.value, EventKind.FAULT_APPLY_FAILED.value):
            applied = event.kind == EventKind.FAULT_APPLIED.value
            fault = {
                "label": data.get("label") or "",
                "fault": data.get("fault") or "",
                "step": data.get("step") or "",
                "target": data.get("target") or "",
                "instance": data.get("instance") or "",
                "node": data.get("node"),
                "detail": data.get("detail"),
                "backend": data.get("backend"),
                "applied_s": _round(event.at - start),
                "ended_s": None if applied else _round(event.at - start),
                "outcome": "active_at_end" if applied else "apply_failed",
                "message": event.message,
            }
            faults.append(fault)
            if applied:
                open_[key] = fault
        elif event.kind in _FAULT_ENDS and key in open_:
            fault = open_.pop(key)
            fault["ended_s"] = _round(event.at - start)
            fault["outcome"] = (
                "irreversible" if data.get("irreversible") else _FAULT_ENDS[event.kind]
            )
            fault["message"] = event.message
    return faults


def _stop_conditions(
    detail: RunDetail, spec: Mapping[str, Any], start: float
) -> list[dict[str, Any]]:
    tripped = [e for e in detail.events if e.kind == EventKind.STOP_CONDITION.value]
    body = spec.get("spec") or {}
    sources = {
        sli.get("name"): sli.get("metric") or "prometheus"
        for sli in (body.get("steadyState") or {}).get("slis") or []
    }
    found = []
    for condition in body.get("stopConditions") or []:
        watched = condition.get("sli") or condition.get("probe")
        trip = next(
            (e for e in tripped if (e.data.get("sli") or e.data.get("probe")) == watched), None
        )
        found.append(
            {
                "name": condition.get("name") or watched or "",
                "watches": watched,
                "threshold": _threshold_text(condition.get("threshold"), sources.get(watched)),
                "tripped": trip is not None,
                "tripped_s": _round(trip.at - start) if trip else None,
                "message": trip.message if trip else None,
            }
        )
    return found


# ---------------------------------------------------------------- series


def _load_point(window: Any, start: float) -> dict[str, Any]:
    return {
        # the window holds the requests completed in one wall-clock second: t_s is where
        # that second begins, relative to the run's start (the first may be negative)
        "t_s": _round(window.second - start),
        "phase": window.phase,
        "requests": window.requests,
        "failures": window.failures,
        "users": window.users,
        **{name: _finite(window.metrics.get(name)) for name in LOAD_SERIES},
    }


def _sli_series(
    detail: RunDetail, specs: Sequence[Mapping[str, Any]], start: float
) -> list[dict[str, Any]]:
    points: dict[str, list[dict[str, Any]]] = {}
    for point in detail.sli_points:
        points.setdefault(point.sli, []).append(
            {
                "t_s": _round(point.at - start),
                "phase": point.phase,
                "value": _finite(point.value),
                "ok": point.ok,
                "detail": point.detail,
            }
        )
    series = []
    for sli in specs:
        name = sli.get("name") or ""
        series.append(
            {
                "name": name,
                "source": sli.get("metric") or "prometheus",
                "threshold": _threshold(sli.get("threshold")),
                "during_fault": _threshold(sli.get("duringFault")),
                "points": points.pop(name, []),
            }
        )
    # points of SLIs the stored spec does not name (an older spec format): still shown
    series += [
        {"name": name, "source": None, "threshold": None, "during_fault": None, "points": rest}
        for name, rest in points.items()
    ]
    return series


def _probe_series(
    detail: RunDetail, specs: Sequence[Mapping[str, Any]], start: float
) -> list[dict[str, Any]]:
    samples: dict[str, list[Any]] = {}
    for sample in detail.samples:
        samples.setdefault(sample.probe, []).append(sample)
    names = [p.get("name") or "" for p in specs]
    names += [name for name in samples if name not in names]
    series = []
    for name in names:
        mine = samples.get(name, [])
        ratio: dict[str, float | None] = {}
        for phase in ("baseline", "inject", "recovery"):
            in_phase = [s.ok for s in mine if s.phase == phase]
            ratio[phase] = _round(sum(in_phase) / len(in_phase), 4) if in_phase else None
        series.append(
            {
                "name": name,
                "pass_ratio": ratio,
                "samples": [
                    {
                        "t_s": _round(s.started_at - start),
                        "phase": s.phase,
                        "ok": s.ok,
                        "latency_ms": _round(s.latency_ms, 1),
                        "status": s.status,
                        "error": s.error,
                    }
                    for s in mine
                ],
            }
        )
    return series


def _threshold(text: Any) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        threshold = parse_threshold(text)
    except ValueError:
        return None
    return {"op": threshold.op, "value": threshold.value}


def _threshold_text(text: Any, source: str | None) -> str | None:
    """``> 0.2`` on an error ratio reads ``> 20%``."""
    if not text:
        return None
    try:
        return format_threshold(parse_threshold(text), source)
    except ValueError:
        return str(text)


# ---------------------------------------------------------------- what is missing


def missing_data(document: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    """What a reader of this report should know is not there, in plain words."""
    missing = []
    run = document["run"]
    body = spec.get("spec") or {}
    steady = body.get("steadyState") or {}
    if run["status"] == "running":
        missing.append("no verdict yet: the run is still running")
    elif run["status"] == "interrupted":
        missing.append("no verdict: the process running this run died before it finished")
    elif not document["verdict"] and (steady.get("slis") or steady.get("probes")):
        missing.append("no per-SLI and per-probe verdict table was stored for this run")
    if not document["timeline"]:
        missing.append("no events were stored for this run")
    reached_load = any(e["kind"] == EventKind.LOAD_STARTED.value for e in document["timeline"])
    load = document["series"]["load"]
    if body.get("load") and not load:
        missing.append(
            "no load samples were stored"
            + ("" if reached_load else " (the run ended before the load started)")
        )
    elif load:
        seconds = sorted(point["t_s"] for point in load)
        gaps = [(a, b) for a, b in itertools.pairwise(seconds) if round(b - a) > 1]
        if gaps:
            lost = sum(round(b - a) - 1 for a, b in gaps)
            where = ", ".join(f"t+{a + 1:.0f}s..t+{b - 1:.0f}s" for a, b in gaps[:3])
            missing.append(f"{lost} second(s) of load samples are missing ({where})")
    for sli in document["series"]["slis"]:
        if not sli["points"]:
            missing.append(f"no points were stored for SLI {sli['name']}")
        elif all(point["value"] is None for point in sli["points"]):
            missing.append(f"SLI {sli['name']} had no data at any point")
    for probe in document["series"]["probes"]:
        if not probe["samples"]:
            missing.append(f"no samples were stored for probe {probe['name']}")
    return missing


# ---------------------------------------------------------------- helpers


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _round(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds")


def _now() -> float:
    return dt.datetime.now(dt.UTC).timestamp()


def schema_text() -> str:
    """The published JSON Schema of this document (version :data:`SCHEMA_VERSION`)."""
    return (Path(__file__).parent / "schemas" / SCHEMA_FILE).read_text(encoding="utf-8")
