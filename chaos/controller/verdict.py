"""Deciding a run's outcome from what happened. Pure: no I/O, no clock.

Precedence: a run the store could not record, a fault an agent dropped before its
duration ended, a fault that could not be confirmed reverted, or a run that could
not proceed, is an error (exit 4); an abort is exit 3; a violated hypothesis is
a failure (exit 1); otherwise the run passed (exit 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chaos.controller.events import RunStatus
from chaos.errors import ChaosError, ExitCode
from chaos.steady.hypothesis import Phase, PhaseCheck, RecoveryCheck


class AbortKind(StrEnum):
    STOP_CONDITION = "stop-condition"
    OPERATOR = "operator"


class NotSteady(ChaosError):
    """The baseline did not hold: exit 4, nothing was injected."""


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: RunStatus
    exit_code: ExitCode
    reasons: tuple[str, ...]
    time_to_recover_s: float | None = None
    unreverted: tuple[str, ...] = ()
    recorded: bool = True  # False: the store failed the run; it is not (fully) stored


def decide(
    *,
    run_id: str,
    error: ChaosError | None,
    abort_reason: str | None,
    checks: Mapping[Phase, PhaseCheck],
    recovery: RecoveryCheck | None,
    unreverted: Sequence[str],
    store_failure: str | None = None,
    dropped: Sequence[str] = (),
) -> RunResult:
    ttr = recovery.time_to_recover_s if recovery else None
    left = tuple(unreverted)
    broken = [store_failure] if store_failure else []
    broken += dropped
    if left:
        broken.append(f"could not confirm revert of: {'; '.join(left)}")
    if broken:
        if error is not None:
            broken.append(str(error))
        return RunResult(run_id, RunStatus.ERROR, ExitCode.ERROR, tuple(broken), ttr, left)
    if error is not None:
        return RunResult(run_id, RunStatus.ERROR, error.exit_code, (str(error),), ttr)
    if abort_reason is not None:
        return RunResult(run_id, RunStatus.ABORTED, ExitCode.ABORTED, (abort_reason,), ttr)
    reasons: list[str] = []
    fault = checks.get(Phase.INJECT)
    if fault is not None:
        reasons.extend(fault.reasons)
    if recovery is not None and not recovery.recovered and recovery.reason:
        reasons.append(recovery.reason)
    if reasons:
        return RunResult(run_id, RunStatus.FAILED, ExitCode.FAILED, tuple(reasons), ttr)
    return RunResult(run_id, RunStatus.PASSED, ExitCode.PASSED, (), ttr)


def checks_data(checks: Mapping[Phase, PhaseCheck]) -> dict[str, Any]:
    """Per-phase, per-probe figures for storage and reports."""
    return {
        phase.value: {
            "holds": check.holds,
            "reasons": list(check.reasons),
            "slis": [
                {
                    "sli": s.sli,
                    "points": s.points,
                    "threshold": s.threshold,
                    "worst": s.worst,
                    "longest_breach_s": s.longest_breach_s,
                    "holds": s.holds,
                }
                for s in check.slis
            ],
            "probes": [
                {
                    "probe": p.probe,
                    "samples": p.samples,
                    "passed": p.passed,
                    "tolerated": p.tolerated,
                    "worst_latency_ms": p.worst_latency_ms,
                    "first_error": p.first_error,
                }
                for p in check.probes
            ],
        }
        for phase, check in checks.items()
    }


def recovery_data(recovery: RecoveryCheck | None) -> dict[str, Any] | None:
    if recovery is None:
        return None
    return {
        "recovered": recovery.recovered,
        "time_to_recover_s": recovery.time_to_recover_s,
        "samples": recovery.ticks_observed,
        "reason": recovery.reason,
        "signals": dict(recovery.signals),
    }


def verdict_data(
    result: RunResult,
    *,
    checks: Mapping[Phase, PhaseCheck],
    recovery: RecoveryCheck | None,
    explanation: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The verdict as stored and reported: outcome, reasons, the figures behind them, and
    one explanation row per SLI and probe (baseline, worst during fault, recovery)."""
    return {
        "status": result.status.value,
        "exit_code": int(result.exit_code),
        "reasons": list(result.reasons),
        "time_to_recover_s": result.time_to_recover_s,
        "unreverted": list(result.unreverted),
        "checks": checks_data(checks),
        "recovery": recovery_data(recovery),
        "explanation": [dict(row) for row in explanation],
    }
