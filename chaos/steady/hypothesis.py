"""The steady-state hypothesis, judged per phase from probe samples. Pure functions.

- baseline and fault: each probe must pass in at least ``min_pass_ratio`` of its
  samples (probes listed in ``tolerateDuringFault`` are exempt during faults);
- recovery: recovered at the first moment from which the next ``recovery_samples``
  samples of every probe *and SLI* pass; time-to-recover is measured from the
  end of the revert to that moment (also per probe and per SLI);
- stop conditions: a probe failing continuously for ``for`` trips the abort.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from chaos.spec.models import StopCondition
from chaos.steady.probes import ProbeSample

if TYPE_CHECKING:
    from chaos.steady.slis import SliSummary


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
    slis: tuple[SliSummary, ...] = ()


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


Series = Sequence[tuple[float, bool]]
"""One signal (a probe or an SLI) in recovery: (moment, passed) per sample."""


@dataclass(frozen=True)
class RecoveryCheck:
    recovered: bool
    time_to_recover_s: float | None
    ticks_observed: int
    reason: str | None
    signals: Mapping[str, float | None] = field(default_factory=dict)  # per probe/SLI


def check_recovery(
    observations: Iterable[Observation],
    *,
    probes: Sequence[str],
    needed: int,
    reverted_at: float,
    slis: Mapping[str, Series] | None = None,
) -> RecoveryCheck:
    """Recovered at the first moment from which every probe and SLI passes ``needed``
    consecutive samples; time-to-recover runs from the end of the revert to it."""
    series: dict[str, list[tuple[float, bool]]] = {name: [] for name in probes}
    for observation in observations:
        sample = observation.sample
        if observation.phase is Phase.RECOVERY and sample.probe in series:
            series[sample.probe].append((sample.started_at, sample.ok))
    series.update({name: list(points) for name, points in (slis or {}).items()})
    observed = max((len(samples) for samples in series.values()), default=0)

    def since_revert(moment: float | None) -> float | None:
        return None if moment is None else max(0.0, moment - reverted_at)

    signals = {name: since_revert(recovered_at({name: s}, needed)) for name, s in series.items()}
    moment = recovered_at(series, needed)
    if moment is not None:
        return RecoveryCheck(True, since_revert(moment), observed, None, signals)
    lagging = sorted(name for name, ttr in signals.items() if ttr is None)
    reason = (
        f"recovery: the hypothesis did not hold for {needed} consecutive samples "
        f"within the recovery window (not recovered: {', '.join(lagging) or 'all at once'})"
    )
    return RecoveryCheck(False, None, observed, reason, signals)


def recovered_at(series: Mapping[str, Series], needed: int) -> float | None:
    """The first moment from which each signal's next ``needed`` samples all pass."""
    ordered = [sorted(samples) for samples in series.values()]
    if not ordered:
        return None
    for moment in sorted({at for samples in ordered for at, _ in samples}):
        if all(_passes_from(samples, moment, needed) for samples in ordered):
            return moment
    return None


def _passes_from(samples: Series, moment: float, needed: int) -> bool:
    following = [ok for at, ok in samples if at >= moment - 1e-9][:needed]
    return len(following) == needed and all(following)


class StopConditionWatch:
    """Feeds on samples during the fault; reports the first stop condition that trips."""

    def __init__(self, conditions: Sequence[StopCondition]) -> None:
        self._conditions = list(conditions)
        self._failing_since: dict[int, float] = {}

    def observe(self, sample: ProbeSample) -> StopCondition | None:
        for index, condition in enumerate(self._conditions):
            if condition.probe is None or condition.probe != sample.probe:
                continue
            if sample.ok:
                self._failing_since.pop(index, None)
                continue
            since = self._failing_since.setdefault(index, sample.started_at)
            if sample.started_at - since >= condition.for_ - 1e-6:
                return condition
        return None


def describe(condition: StopCondition) -> str:
    """A probe stop condition in words (SLI ones: ``chaos.steady.slis.describe_condition``)."""
    label = condition.name or f"probe {condition.probe} failing"
    return f"{label} for {condition.for_:g}s" if condition.for_ else label
