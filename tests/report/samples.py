"""Report documents of typical runs, for the renderers' tests.

Each is built by the real ``build_document`` from stored-run records written here by
hand, shaped as the run store returns them (the end-to-end tests in
tests/e2e/test_run_reports.py build the same documents from real runs). Times are
seconds after ``T0``; the run: preflight 1 s, baseline 5 s, one fault for 8 s,
recovery, verdict.
"""

from __future__ import annotations

import copy
from typing import Any

from chaos.controller.events import RunStatus
from chaos.report.compare import compare, nothing_to_compare
from chaos.report.document import apply_gate, build_document
from chaos.store.records import (
    EventRecord,
    LoadWindowRecord,
    RunDetail,
    RunRecord,
    SampleRecord,
    SliPointRecord,
)

T0 = 1_790_000_000.0
GENERATED = T0 + 100

SPEC: dict[str, Any] = {
    "apiVersion": "chaos/v1",
    "kind": "Experiment",
    "metadata": {"name": "shop-latency", "description": "Checkout survives a slow store."},
    "spec": {
        "steadyState": {
            "probes": [{"name": "home", "http": {"url": "http://127.0.0.1:1/"}}],
            "slis": [
                {"name": "errors", "metric": "error_ratio", "threshold": "< 0.01"},
                {
                    "name": "p99",
                    "metric": "latency_p99_ms",
                    "threshold": "< 500",
                    "duringFault": "< 1500",
                },
                {"name": "throughput", "metric": "throughput_rps", "threshold": "> 20"},
            ],
        },
        "load": {"host": "http://127.0.0.1:1", "users": 4},
        "method": [{"fault": "latency", "target": "store", "duration": "8s"}],
        "stopConditions": [{"name": "error budget", "sli": "errors", "threshold": "> 0.2"}],
    },
}
# the reason a real run gives (chaos.steady.slis)
REASON = "inject: SLI p99 broke < 1500ms for 8s (worst 1800ms)"
PHASES = (("preflight", 0, 1), ("baseline", 1, 6), ("inject", 6, 14), ("revert", 14, 14.1))
RECOVERY = ("recovery", 14.1, 18)
FAULT = {
    "fault": "latency",
    "step": "spec.method[0]",
    "label": "latency on store",
    "target": "store",
    "instance": "store-0 (pid 4242)",
    "node": "vm",
}


def _event(at: float, kind: str, phase: str | None, message: str = "", **data: Any) -> EventRecord:
    return EventRecord(T0 + at, kind, phase, message, data)


def _phase_events(phases: Any, *, broken: str | None = None) -> list[EventRecord]:
    events = []
    for name, start, end in phases:
        events.append(_event(start, "phase.started", name, name))
        judged = name in ("baseline", "inject")
        holds = None if not judged else name != broken
        reasons = [REASON] if holds is False else []
        events.append(_event(end, "phase.ended", name, name, holds=holds, reasons=reasons))
    return events


def _phase_of(t: float) -> str:
    for name, start, end in (*PHASES, RECOVERY):
        if start <= t < end:
            return name
    return "verdict"


def _load(seconds: range, *, slow: bool) -> list[LoadWindowRecord]:
    windows = []
    for second in seconds:
        in_fault = 6 <= second < 14
        p99 = (1800.0 if slow else 900.0) if in_fault else 120.0
        windows.append(
            LoadWindowRecord(
                second=int(T0) + second,
                phase=_phase_of(second),
                requests=100,
                failures=2 if in_fault and slow else 0,
                users=4,
                metrics={
                    "throughput_rps": 100.0 if not in_fault else 60.0,
                    "error_ratio": 0.02 if in_fault and slow else 0.0,
                    "latency_p50_ms": p99 / 4,
                    "latency_p90_ms": p99 / 2,
                    "latency_p95_ms": p99 * 0.8,
                    "latency_p99_ms": p99,
                    "latency_max_ms": p99 * 1.2,
                },
                histogram={},
                errors={"ConnectionError": 2} if in_fault and slow else {},
            )
        )
    return windows


def _sli_points(seconds: range, *, slow: bool) -> list[SliPointRecord]:
    points = []
    for second in seconds:
        in_fault = 6 <= second < 14
        p99 = (1800.0 if slow else 900.0) if in_fault else 120.0
        limit = 1500 if in_fault else 500
        phase = _phase_of(second)
        points += [
            SliPointRecord("errors", T0 + second, phase, 0.0, True, None),
            SliPointRecord("p99", T0 + second, phase, p99, p99 < limit, None),
            SliPointRecord("throughput", T0 + second, phase, 100.0, True, None),
        ]
    return points


def _samples(seconds: range) -> list[SampleRecord]:
    return [SampleRecord(s, _phase_of(s), "home", T0 + s, True, 12.0, 200, None) for s in seconds]


def _explanation(*, failed: bool) -> list[dict[str, Any]]:
    def sli(name: str, source: str, threshold: str, values: tuple[Any, Any, Any]) -> dict:
        return {
            "kind": "sli",
            "name": name,
            "source": source,
            "threshold": threshold,
            "tolerance": "< 1500ms in fault" if name == "p99" else "-",
            "baseline": values[0],
            "fault_worst": values[1],
            "recovery": values[2],
            "failed_in": ["inject"] if failed and name == "p99" else [],
            "passed": not (failed and name == "p99"),
            "time_to_recover_s": 1.0,
        }

    return [
        sli("errors", "error_ratio", "< 1%", (0.0, 0.0, 0.0)),
        sli("p99", "latency_p99_ms", "< 500ms", (120.0, 1800.0 if failed else 900.0, 120.0)),
        sli("throughput", "throughput_rps", "> 20/s", (100.0, 60.0, 100.0)),
        {
            "kind": "probe",
            "name": "home",
            "source": "probe",
            "threshold": "≥ 100% pass",
            "tolerance": "-",
            "baseline": "5/5 passed",
            "fault_worst": "8/8 passed",
            "recovery": "3/3 passed",
            "failed_in": [],
            "passed": True,
            "time_to_recover_s": 0.0,
        },
    ]


def _record(status: RunStatus, exit_code: int | None, reasons: list[str], **extra: Any) -> Any:
    return RunRecord(
        id=extra.pop("run_id", f"{status.value[:4]}0000abcd"),
        experiment="shop-latency",
        source="experiments/shop-latency.yaml",
        lab="ci",
        status=status,
        exit_code=exit_code,
        reasons=tuple(reasons),
        time_to_recover_s=extra.pop("ttr", 1.0),
        started_at=T0,
        ended_at=extra.pop("ended_at", T0 + 18.5),
        host="ci-runner",
        verdict=extra.pop("verdict", None),
        spec=copy.deepcopy(SPEC),
    )


def _verdict(status: str, exit_code: int, reasons: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "status": status,
        "exit_code": exit_code,
        "reasons": reasons,
        "time_to_recover_s": extra.get("ttr", 1.0),
        "unreverted": extra.get("unreverted", []),
        "checks": {},
        "recovery": extra.get(
            "recovery",
            {"recovered": True, "time_to_recover_s": 1.0, "samples": 3, "reason": None},
        ),
        "explanation": extra.get("explanation", _explanation(failed=status == "failed")),
    }


def _finished(record: RunRecord, *, slow: bool, end: float = 18.0) -> RunDetail:
    seconds = range(int(end))
    events = [
        _event(0, "run.started", "preflight", "run of shop-latency"),
        _event(0.5, "load.started", "preflight", "load: 4 users"),
        *_phase_events(PHASES, broken="inject" if slow else None),
        _event(6.05, "fault.applied", "inject", "latency on store: +800ms", **FAULT),
        _event(14.0, "fault.reverted", "inject", "latency on store: reverted", **FAULT),
        *_phase_events((RECOVERY,)),
        _event(17.9, "recovery.measured", "recovery", "recovered 1.0s after revert"),
        _event(18.2, "run.verdict", "verdict", record.status.value),
    ]
    return RunDetail(
        run=record,
        events=tuple(sorted(events, key=lambda e: e.at)),
        samples=tuple(_samples(seconds)),
        load=tuple(_load(seconds, slow=slow)),
        sli_points=tuple(_sli_points(seconds, slow=slow)),
    )


def passing_detail() -> RunDetail:
    verdict = _verdict("passed", 0, [])
    return _finished(_record(RunStatus.PASSED, 0, [], verdict=verdict), slow=False)


def passing_document() -> dict[str, Any]:
    return build_document(passing_detail(), generated_at=GENERATED)


def failing_document() -> dict[str, Any]:
    reasons = [REASON]
    verdict = _verdict("failed", 1, reasons)
    record = _record(RunStatus.FAILED, 1, reasons, verdict=verdict, run_id="fail0000abcd")
    return build_document(_finished(record, slow=True), generated_at=GENERATED)


def aborted_document() -> dict[str, Any]:
    """A stop condition tripped during the fault: reverted at once, recovery skipped."""
    reason = "stop condition tripped: error budget (errors > 20%) (35.00%)"
    verdict = _verdict("aborted", 3, [reason], recovery=None, ttr=None)
    record = _record(RunStatus.ABORTED, 3, [reason], verdict=verdict, ttr=None, ended_at=T0 + 9)
    events = [
        _event(0, "run.started", "preflight", "run of shop-latency"),
        *_phase_events(PHASES[:2]),
        _event(6.0, "phase.started", "inject", "inject"),
        _event(6.05, "fault.applied", "inject", "latency on store: +800ms", **FAULT),
        _event(8.5, "stop.tripped", "inject", reason, sli="errors", probe=None, value=0.35),
        _event(8.5, "run.abort_requested", None, reason, reason=reason),
        _event(8.6, "fault.reverted", "inject", "latency on store: reverted", **FAULT),
        _event(8.7, "run.verdict", "verdict", "aborted"),
    ]
    seconds = range(9)
    return build_document(
        RunDetail(
            run=record,
            events=tuple(events),
            samples=tuple(_samples(seconds)),
            load=tuple(_load(seconds, slow=True)),
            sli_points=tuple(_sli_points(seconds, slow=True)),
        ),
        generated_at=GENERATED,
    )


def error_document() -> dict[str, Any]:
    """The revert could not be confirmed: exit 4, the fault is listed as unreverted."""
    unreverted = "latency on store [store-0 (pid 4242)]: agent at 10.0.0.7:9000 did not answer"
    reasons = [f"could not confirm revert of: {unreverted}"]
    verdict = _verdict("error", 4, reasons, unreverted=[unreverted])
    record = _record(RunStatus.ERROR, 4, reasons, verdict=verdict, run_id="erro0000abcd")
    detail = _finished(record, slow=False)
    events = [
        e
        if e.kind != "fault.reverted"
        else _event(14.0, "fault.revert_failed", "inject", unreverted, **FAULT)
        for e in detail.events
    ]
    return build_document(
        RunDetail(detail.run, tuple(events), detail.samples, detail.load, detail.sli_points),
        generated_at=GENERATED,
    )


def interrupted_document() -> dict[str, Any]:
    """The process running it died during the fault: no verdict, no load or SLI points
    stored, a fault that never ended."""
    record = _record(
        RunStatus.INTERRUPTED,
        None,
        ["the process running this run died"],
        ttr=None,
        ended_at=None,
        run_id="intr0000abcd",
    )
    events = [
        _event(0, "run.started", "preflight", "run of shop-latency"),
        *_phase_events(PHASES[:2]),
        _event(6.0, "phase.started", "inject", "inject"),
        _event(6.05, "fault.applied", "inject", "latency on store: +800ms", **FAULT),
    ]
    return build_document(
        RunDetail(run=record, events=tuple(events), samples=()), generated_at=GENERATED
    )


def regressed_document(*, fail_on_regression: bool = False) -> dict[str, Any]:
    """A passing run whose p99 during the fault doubled against an earlier passing run."""
    previous = build_document(passing_detail(), generated_at=GENERATED)
    for row in previous["verdict"]:
        if row["name"] == "p99":
            row["fault_worst"] = 450.0
    previous["run"]["id"] = "prev0000abcd"
    current = passing_document()
    current["comparison"] = compare(current, previous, margin_pct=10.0)
    return apply_gate(current, fail_on_regression=fail_on_regression)


def first_ci_run_document() -> dict[str, Any]:
    """Asked to compare with the latest passing run, but the store had none."""
    document = passing_document()
    document["comparison"] = nothing_to_compare(
        "no earlier passed run of shop-latency in the store: nothing to compare with",
        margin_pct=10.0,
    )
    return document


ALL = {
    "passing": passing_document,
    "failing": failing_document,
    "aborted": aborted_document,
    "error": error_document,
    "interrupted": interrupted_document,
    "regressed": regressed_document,
    "first-ci-run": first_ci_run_document,
}
