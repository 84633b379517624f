"""The steady-state hypothesis, judged per phase from probe samples. Pure functions.

- baseline and fault: each probe must pass in at least ``min_pass_ratio`` of its
  samples (probes listed in ``tolerateDuringFault`` are exempt during faults);
- recovery: recovered at the first tick from which ``recovery_samples``
  consecutive ticks pass for every probe; time-to-recover is measured from the
  end of the revert to that tick;
- stop conditions: a probe failing continuously for ``for`` trips the abort.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from chaos.spec.models import StopCondition
from chaos.steady.probes import ProbeSample


class Phase(StrEnum):
    PREFLIGHT = "preflight"
    BASELINE = "baseline"
    INJECT = "inject"
    REVERT = "revert"
    RECOVERY = "recovery"
    VERDICT = "verdict"


@dataclass(frozen=True)
class Observation:
    """A probe sample tagged with the sampling round (tick) and the phase it started in."""

    tick: int
    phase: Phase
    sample: ProbeSample


@dataclass(frozen=True)
class ProbeSummary:
    probe: str
    samples: int
    passed: int
    tolerated: bool
    worst_latency_ms: float | None
    first_error: str | None

    @property
    def ratio(self) -> float:
        return self.passed / self.samples if self.samples else 1.0


@dataclass(frozen=True)
class PhaseCheck:
    phase: Phase
    holds: bool
    probes: tuple[ProbeSummary, ...]
    reasons: tuple[str, ...]


def check_phase(
    observations: Iterable[Observation],
    *,
    phase: Phase,
    probes: Sequence[str],
    min_pass_ratio: float,
    tolerated: Iterable[str] = (),
) -> PhaseCheck:
    by_probe: dict[str, list[ProbeSample]] = defaultdict(list)
    for observation in observations:
        if observation.phase is phase:
            by_probe[observation.sample.probe].append(observation.sample)
    exempt = set(tolerated)
    summaries, reasons = [], []
    for name in probes:
        samples = by_probe.get(name, [])
        passed = sum(sample.ok for sample in samples)
        failures = [sample.error for sample in samples if not sample.ok and sample.error]
        summary = ProbeSummary(
            probe=name,
            samples=len(samples),
            passed=passed,
            tolerated=name in exempt,
            worst_latency_ms=max((s.latency_ms for s in samples), default=None),
            first_error=failures[0] if failures else None,
        )
        summaries.append(summary)
        if summary.tolerated or summary.ratio >= min_pass_ratio - 1e-9:
            continue
        reasons.append(
            f"{phase.value}: probe {name} passed {passed}/{len(samples)} samples "
            f"({summary.ratio:.0%} < {min_pass_ratio:.0%}); first failure: {summary.first_error}"
        )
    return PhaseCheck(
        phase=phase, holds=not reasons, probes=tuple(summaries), reasons=tuple(reasons)
    )


@dataclass(frozen=True)
class RecoveryCheck:
    recovered: bool
    time_to_recover_s: float | None
    ticks_observed: int
    reason: str | None


def check_recovery(
    observations: Iterable[Observation],
    *,
    probes: Sequence[str],
    needed: int,
    reverted_at: float,
) -> RecoveryCheck:
    """First tick from which ``needed`` consecutive ticks pass for every probe."""
    ticks: dict[int, list[ProbeSample]] = defaultdict(list)
    for observation in observations:
        if observation.phase is Phase.RECOVERY:
            ticks[observation.tick].append(observation.sample)
    ordered = [ticks[tick] for tick in sorted(ticks)]
    wanted = set(probes)
    streak_start: int | None = None
    for index, samples in enumerate(ordered):
        passing = {s.probe for s in samples if s.ok} >= wanted
        if not passing:
            streak_start = None
            continue
        if streak_start is None:
            streak_start = index
        if index - streak_start + 1 >= needed:
            first = min(sample.started_at for sample in ordered[streak_start])
            return RecoveryCheck(True, max(0.0, first - reverted_at), len(ordered), None)
    reason = (
        f"recovery: the hypothesis did not hold for {needed} consecutive samples "
        f"within the recovery window ({len(ordered)} samples observed)"
    )
    return RecoveryCheck(False, None, len(ordered), reason)


class StopConditionWatch:
    """Feeds on samples during the fault; reports the first stop condition that trips."""

    def __init__(self, conditions: Sequence[StopCondition]) -> None:
        self._conditions = list(conditions)
        self._failing_since: dict[int, float] = {}

    def observe(self, sample: ProbeSample) -> StopCondition | None:
        for index, condition in enumerate(self._conditions):
            if condition.probe != sample.probe:
                continue
            if sample.ok:
                self._failing_since.pop(index, None)
                continue
            since = self._failing_since.setdefault(index, sample.started_at)
            if sample.started_at - since >= condition.for_ - 1e-6:
                return condition
        return None


def describe(condition: StopCondition) -> str:
    label = condition.name or f"probe {condition.probe} failing"
    return f"{label} for {condition.for_:g}s" if condition.for_ else label
