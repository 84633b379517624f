"""What the run loop's own events carry: messages and JSON-ready data. Pure."""

from __future__ import annotations

from typing import Any

from chaos.controller.verdict import RunResult
from chaos.plan.planner import Plan
from chaos.spec.models import Experiment
from chaos.steady import hypothesis as hyp


def run_started_data(experiment: Experiment, *, source: str, lab: str) -> dict[str, Any]:
    return {
        "experiment": experiment.metadata.name,
        "source": source,
        "lab": lab,
        "spec": experiment.redacted(),  # ${CHAOS_VAR_*} as written: values are secrets
    }


def selection_data(plan: Plan) -> dict[str, Any]:
    selected = {name: [t.display for t in targets] for name, targets in plan.selected.items()}
    return {"selected": selected, "candidates": dict(plan.candidates)}


def phase_ended_data(
    check: hyp.PhaseCheck | None, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    payload = dict(data or {})
    if check is not None:
        payload.update(holds=check.holds, reasons=list(check.reasons))
    return payload


def describe_recovery(check: hyp.RecoveryCheck) -> str:
    if check.recovered:
        return f"recovered {check.time_to_recover_s:.1f}s after revert"
    return check.reason or "did not recover"


def recovery_event_data(check: hyp.RecoveryCheck) -> dict[str, Any]:
    return {
        "recovered": check.recovered,
        "time_to_recover_s": check.time_to_recover_s,
        "samples": check.ticks_observed,
    }


def run_ended_data(result: RunResult) -> dict[str, Any]:
    return {"status": result.status.value, "exit_code": int(result.exit_code)}
