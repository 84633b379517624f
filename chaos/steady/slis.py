"""Service-level indicators judged per phase, and SLI stop conditions. Pure functions.

An SLI is a series of *points*, one per second of load (a window merged from
every request) or one per sample of a Prometheus query. Each point covers
``step`` seconds starting at ``at``. A point whose value is NaN has no data (no
request completed, the query failed): it breaches any threshold, and the
reason says why.

Judging one phase: consecutive breaching points form a *breach*, lasting from
the first point's start to the last point's end. The hypothesis is violated
when a breach lasts at least the SLI's ``for`` (``for: 0`` → any breaching
point). While faults are active the SLI's ``duringFault`` threshold replaces
its threshold, and an SLI listed in ``tolerateDuringFault`` is not judged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from chaos.spec.models import StopCondition
from chaos.spec.steady import SliSpec
from chaos.spec.units import Threshold
from chaos.steady.hypothesis import Phase


@dataclass(frozen=True)
class SliPoint:
    sli: str
    at: float  # start of the last second (load) or of the sample (prometheus), unix time
    phase: Phase
    value: float  # NaN: no data
    step: float = 1.0
    detail: str | None = None  # why there is no value

    @property
    def end(self) -> float:
        return self.at + self.step


@dataclass(frozen=True)
class Breach:
    start: float
    end: float
    worst: float
    detail: str | None

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SliSummary:
    """One SLI in one phase: what was seen and whether it held."""

    sli: str
    phase: Phase
    points: int
    threshold: str | None  # None: exempt in this phase
    worst: float | None  # None: no point had data
    longest_breach_s: float
    holds: bool
    reason: str | None


def threshold_for(sli: SliSpec, phase: Phase, tolerated: Iterable[str] = ()) -> Threshold | None:
    """The threshold an SLI must meet in a phase; None when it is exempt."""
    if phase is Phase.INJECT:
        if sli.name in set(tolerated):
            return None
        return sli.during_fault or sli.threshold
    return sli.threshold


def breaches(points: Sequence[SliPoint], threshold: Threshold) -> list[Breach]:
    """Runs of consecutive points that breach ``threshold`` (NaN breaches: no data)."""
    found: list[Breach] = []
    run: list[SliPoint] = []
    for point in [*points, None]:
        if point is not None and not threshold.holds(point.value):
            run.append(point)
            continue
        if run:
            details = [p.detail for p in run if p.detail]
            found.append(
                Breach(
                    start=run[0].at,
                    end=run[-1].end,
                    worst=worst_value([p.value for p in run], threshold),
                    detail=details[0] if details else None,
                )
            )
            run = []
    return found


def worst_value(values: Iterable[float], threshold: Threshold) -> float:
    """The value furthest on the wrong side of ``threshold`` (NaN if none has data)."""
    finite = [value for value in values if not math.isnan(value)]
    if not finite:
        return math.nan
    if threshold.op in ("<", "<="):
        return max(finite)
    if threshold.op in (">", ">="):
        return min(finite)
    return max(finite, key=lambda value: abs(value - threshold.value))


def judge_sli(
    points: Sequence[SliPoint],
    *,
    sli: SliSpec,
    phase: Phase,
    tolerated: Iterable[str] = (),
) -> SliSummary:
    mine = sorted((p for p in points if p.sli == sli.name and p.phase is phase), key=_at)
    threshold = threshold_for(sli, phase, tolerated)
    reference = threshold or sli.threshold
    worst = worst_value([p.value for p in mine], reference) if mine else math.nan
    summary = SliSummary(
        sli=sli.name,
        phase=phase,
        points=len(mine),
        threshold=str(threshold) if threshold else None,
        worst=None if math.isnan(worst) else worst,
        longest_breach_s=0.0,
        holds=True,
        reason=None,
    )
    if threshold is None:
        return summary
    if not mine:
        return replace(summary, holds=False, reason=f"{phase.value}: SLI {sli.name} has no data")
    found = breaches(mine, threshold)
    longest = max(found, key=lambda b: b.duration, default=None)
    if longest is None:
        return summary
    summary = replace(summary, longest_breach_s=longest.duration)
    if longest.duration < sli.for_ - 1e-6:
        return summary
    return replace(summary, holds=False, reason=_breach_reason(sli, phase, threshold, longest))


def _breach_reason(sli: SliSpec, phase: Phase, threshold: Threshold, breach: Breach) -> str:
    source = source_of(sli)
    seen = f"worst {format_value(breach.worst, source)}"
    if math.isnan(breach.worst):
        seen = f"no data: {breach.detail}" if breach.detail else "no data"
    allowed = f"; breaches under {sli.for_:g}s allowed" if sli.for_ else ""
    return (
        f"{phase.value}: SLI {sli.name} broke {format_threshold(threshold, source)} "
        f"for {breach.duration:g}s ({seen}{allowed})"
    )


def format_value(value: float | None, source: str | None = None) -> str:
    """An SLI value in its unit: ms for latencies, % for error ratios, /s for throughput.

    ``source`` is the SLI's load metric (``latency_p99_ms``...) or anything else.
    """
    if value is None or math.isnan(value):
        return "no data"
    if source == "error_ratio":
        return f"{value:.2%}"
    if source is not None and source.startswith("latency_"):
        return f"{value:.1f}ms" if value < 100 else f"{value:.0f}ms"
    if source == "throughput_rps":
        return f"{value:.1f}/s"
    return f"{value:.4g}"


def format_threshold(threshold: Threshold | None, source: str | None = None) -> str:
    """``< 0.01`` on an error ratio reads ``< 1%``; ``< 500`` on a latency ``< 500ms``."""
    if threshold is None:
        return "-"
    if source == "error_ratio":
        return f"{threshold.op} {threshold.value * 100:g}%"
    if source is not None and source.startswith("latency_"):
        return f"{threshold.op} {threshold.value:g}ms"
    if source == "throughput_rps":
        return f"{threshold.op} {threshold.value:g}/s"
    return str(threshold)


def source_of(sli: SliSpec) -> str:
    return sli.metric.value if sli.metric is not None else "prometheus"


class SliStopWatch:
    """Feeds on SLI points while faults are active; reports the first condition that trips.

    A condition trips when its threshold holds (default: the SLI's fault-phase
    threshold is broken) on consecutive points spanning at least ``for``.
    Points without data neither trip a condition nor clear it.
    """

    def __init__(self, conditions: Sequence[StopCondition], slis: Sequence[SliSpec]) -> None:
        by_name = {sli.name: sli for sli in slis}
        self._trips: list[tuple[StopCondition, Callable[[float], bool]]] = []
        for condition in conditions:
            if condition.sli is None or condition.sli not in by_name:
                continue
            self._trips.append((condition, _trip_test(condition, by_name[condition.sli])))
        self._since: dict[int, float] = {}

    @property
    def conditions(self) -> list[StopCondition]:
        return [condition for condition, _ in self._trips]

    def observe(self, condition_index: int, point: SliPoint) -> StopCondition | None:
        """``point`` is computed over the condition's own window (see ``conditions``)."""
        condition, trips = self._trips[condition_index]
        if math.isnan(point.value):
            return None
        if not trips(point.value):
            self._since.pop(condition_index, None)
            return None
        since = self._since.setdefault(condition_index, point.at)
        return condition if point.end - since >= condition.for_ - 1e-6 else None


def _trip_test(condition: StopCondition, sli: SliSpec) -> Callable[[float], bool]:
    if condition.threshold is not None:
        return condition.threshold.holds
    keep = sli.during_fault or sli.threshold
    return lambda value: not keep.holds(value)


def describe_condition(condition: StopCondition, sli: SliSpec | None) -> str:
    if condition.name:
        return condition.name
    source = source_of(sli) if sli else None
    if condition.threshold is not None:
        what = f"SLI {condition.sli} {format_threshold(condition.threshold, source)}"
    else:
        keep = (sli.during_fault or sli.threshold) if sli else None
        what = f"SLI {condition.sli} broke {format_threshold(keep, source)}"
    return f"{what} for {condition.for_:g}s" if condition.for_ else what


def _at(point: SliPoint) -> float:
    return point.at
