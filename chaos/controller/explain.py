"""The verdict explained: one row per SLI and probe, for the verdict table.

Pure: the monitor hands over a ``Snapshot`` of its rules and record (read under
its lock); the rows come from that, its phase checks and the recovery check. A
row says what a signal was in baseline, at its worst during the fault and at the
end of recovery, what it was held to, where it failed and how long it took to
recover. A failed baseline stops the run, so failures are found in the fault
and in recovery.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaos.spec.steady import SliSpec
from chaos.steady import hypothesis as hyp
from chaos.steady import slis as sli_rules
from chaos.steady.hypothesis import Observation, Phase


@dataclass(frozen=True)
class SliValues:
    """One SLI where the run started and where it ended up; None: no data."""

    baseline: float | None  # over the whole baseline
    recovery: float | None  # over the last ``recoverySamples`` points of recovery


@dataclass(frozen=True)
class Snapshot:
    """What explaining the verdict needs of the monitor."""

    slis: Sequence[SliSpec]
    probes: Sequence[str]
    min_pass_ratio: float
    tolerated: Collection[str]  # probes and SLIs not judged while faults are active
    checks: Mapping[Phase, hyp.PhaseCheck]
    values: Mapping[str, SliValues]  # per SLI
    observations: Sequence[Observation]  # probe samples


def rows(snapshot: Snapshot, *, recovery: hyp.RecoveryCheck | None) -> list[dict[str, Any]]:
    """One row per SLI, then one per probe: baseline, worst during fault, recovery,
    threshold, tolerance, result and time to recover."""
    found = [sli_row(sli, snapshot=snapshot, recovery=recovery) for sli in snapshot.slis]
    found += [probe_row(name, snapshot=snapshot, recovery=recovery) for name in snapshot.probes]
    return found


def sli_row(
    sli: SliSpec, *, snapshot: Snapshot, recovery: hyp.RecoveryCheck | None
) -> dict[str, Any]:
    source = sli_rules.source_of(sli)
    tolerance = []
    if sli.name in snapshot.tolerated:
        tolerance.append("not judged in fault")
    elif sli.during_fault is not None:
        tolerance.append(f"{sli_rules.format_threshold(sli.during_fault, source)} in fault")
    if sli.for_:
        tolerance.append(f"breaches < {sli.for_:g}s")
    fault = _sli_summary(snapshot.checks.get(Phase.INJECT), sli.name)
    values = snapshot.values.get(sli.name, SliValues(baseline=None, recovery=None))
    return {
        "kind": "sli",
        "name": sli.name,
        "source": source,
        "threshold": sli_rules.format_threshold(sli.threshold, source),
        "tolerance": "; ".join(tolerance) or "-",
        "baseline": values.baseline,
        "fault_worst": fault.worst if fault else None,
        "recovery": values.recovery,
        **_outcome(sli.name, snapshot=snapshot, recovery=recovery),
    }


def probe_row(
    name: str, *, snapshot: Snapshot, recovery: hyp.RecoveryCheck | None
) -> dict[str, Any]:
    in_recovery = [
        o.sample.ok
        for o in snapshot.observations
        if o.phase is Phase.RECOVERY and o.sample.probe == name
    ]
    return {
        "kind": "probe",
        "name": name,
        "source": "probe",
        "threshold": f"≥ {snapshot.min_pass_ratio:.0%} pass",
        "tolerance": "not judged in fault" if name in snapshot.tolerated else "-",
        "baseline": _pass_ratio(snapshot.checks.get(Phase.BASELINE), name),
        "fault_worst": _pass_ratio(snapshot.checks.get(Phase.INJECT), name),
        "recovery": f"{sum(in_recovery)}/{len(in_recovery)} passed" if in_recovery else None,
        **_outcome(name, snapshot=snapshot, recovery=recovery),
    }


def _pass_ratio(check: hyp.PhaseCheck | None, probe: str) -> str | None:
    found = [p for p in check.probes if p.probe == probe] if check else []
    return f"{found[0].passed}/{found[0].samples} passed" if found else None


def _sli_summary(check: hyp.PhaseCheck | None, sli: str) -> sli_rules.SliSummary | None:
    found = [s for s in check.slis if s.sli == sli] if check else []
    return found[0] if found else None


def _outcome(
    name: str, *, snapshot: Snapshot, recovery: hyp.RecoveryCheck | None
) -> dict[str, Any]:
    """Where a probe or SLI failed, and how long it took to recover."""
    failed = []
    for phase, check in snapshot.checks.items():
        slis = [s for s in check.slis if s.sli == name and not s.holds]
        probes = [
            p
            for p in check.probes
            if p.probe == name and not p.tolerated and p.ratio < snapshot.min_pass_ratio - 1e-9
        ]
        if slis or probes:
            failed.append(phase.value)
    ttr = recovery.signals.get(name) if recovery else None
    if recovery is not None and not recovery.recovered and ttr is None:
        failed.append(Phase.RECOVERY.value)
    return {"failed_in": failed, "passed": not failed, "time_to_recover_s": ttr}
