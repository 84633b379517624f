"""What the run has observed of the steady state: probe samples, load windows, SLI
points, per-phase checks and stop conditions.

Fed by the sampler's and the load reader's threads, read by the run loop: every
public method is thread-safe. The judging itself is pure (``chaos.steady``);
this keeps the record and turns raw data into SLI points:

- a load second belongs to the phase current at its middle (a REVERT counts as
  the fault phase); an SLI point over a window of N seconds merges the
  histograms of the last N seconds *of the same phase*, so a window never mixes
  baseline and fault;
- a Prometheus SLI point is the mean of the phase's samples within the window;
  a failed query is a point without data;
- stop conditions on SLIs look at every second that overlaps the fault phase,
  each over the condition's own window.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from chaos.controller import explain
from chaos.controller.records import finite, point_data
from chaos.load.stats import LoadWindow, load_metric, merge_windows
from chaos.spec.models import Experiment, StopCondition
from chaos.spec.steady import LoadMetric, SliSpec
from chaos.steady import hypothesis as hyp
from chaos.steady import slis as sli_rules
from chaos.steady.hypothesis import Observation, Phase
from chaos.steady.probes import ProbeSample
from chaos.steady.slis import SliPoint

_JUDGED = {Phase.BASELINE, Phase.INJECT, Phase.RECOVERY}


@dataclass(frozen=True)
class Tripped:
    """A stop condition that tripped, with the point that tripped it."""

    condition: StopCondition
    description: str
    point: SliPoint | None = None
    sample: ProbeSample | None = None


@dataclass(frozen=True)
class Recorded:
    """What one probe or Prometheus sample produced: live SLI points, a tripped condition."""

    points: list[SliPoint]
    tripped: Tripped | None


@dataclass(frozen=True)
class LoadRecord:
    """One second of load as recorded: merged with any earlier part of the same second,
    its phase, the live SLI points it completes and the stop condition it trips."""

    window: LoadWindow
    phase: Phase | None
    points: list[SliPoint]
    tripped: Tripped | None


class SteadyStateMonitor:
    def __init__(self, experiment: Experiment) -> None:
        spec = experiment.spec
        steady = spec.steady_state
        self._probes = [probe.name for probe in steady.probes]
        self._slis = {sli.name: sli for sli in steady.slis}
        self._min_pass_ratio = steady.min_pass_ratio
        self._interval = steady.interval
        self._tolerated = spec.phases.tolerate_during_fault
        self._recovery_samples = spec.phases.recovery_samples
        self._stop_watch = hyp.StopConditionWatch(spec.stop_conditions)
        self._sli_stops = sli_rules.SliStopWatch(spec.stop_conditions, steady.slis)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._observations: list[Observation] = []
        self._windows: dict[int, LoadWindow] = {}
        self._prometheus: dict[str, list[tuple[Phase, ProbeSample]]] = {
            name: [] for name, sli in self._slis.items() if sli.prometheus is not None
        }
        self._timeline: list[tuple[float, Phase]] = []
        self.checks: dict[Phase, hyp.PhaseCheck] = {}

    # ------------------------------------------------------------ phases

    def enter(self, phase: Phase, at: float | None = None) -> None:
        with self._lock:
            self._timeline.append((time.time() if at is None else at, phase))

    def _phase_at(self, moment: float) -> Phase | None:
        starts = [at for at, _ in self._timeline]
        index = bisect.bisect_right(starts, moment) - 1
        if index < 0:
            return None
        phase = self._timeline[index][1]
        if phase is Phase.REVERT:  # faults are still being taken back: part of the fault
            after_inject = index > 0 and self._timeline[index - 1][1] is Phase.INJECT
            return Phase.INJECT if after_inject else phase
        return phase

    def _second_phase(self, second: int) -> Phase | None:
        phase = self._phase_at(second + 0.5)
        return phase if phase in _JUDGED else None

    def _overlaps_fault(self, second: int) -> bool:
        return Phase.INJECT in (self._phase_at(second), self._phase_at(second + 0.999))

    # ------------------------------------------------------------ recording

    def record(self, observation: Observation) -> Recorded:
        """Keep a probe or Prometheus sample: the SLI point it makes (Prometheus), and
        during the fault the stop condition it trips (if any)."""
        sample = observation.sample
        with self._lock:
            if sample.probe in self._prometheus:
                return self._record_prometheus(observation)
            self._observations.append(observation)
            if observation.phase is not Phase.INJECT:
                return Recorded([], None)
            condition = self._stop_watch.observe(sample)
        if condition is None:
            return Recorded([], None)
        return Recorded([], Tripped(condition, hyp.describe(condition), sample=sample))

    def _record_prometheus(self, observation: Observation) -> Recorded:
        sample, phase = observation.sample, observation.phase
        sli = self._slis[sample.probe]
        self._prometheus[sli.name].append((phase, sample))
        points = []
        if phase in _JUDGED:
            points.append(self._prom_point(sli, sample.started_at, sli.window, phase))
        if phase is not Phase.INJECT:
            return Recorded(points, None)
        tripped = self._check_stops(
            sli.name,
            lambda window: self._prom_point(sli, sample.started_at, window, Phase.INJECT),
        )
        return Recorded(points, tripped)

    def point_event(self, point: SliPoint) -> dict[str, Any]:
        """A live SLI point as stored: its value, whether it met its phase's threshold."""
        sli = self._slis[point.sli]
        threshold = sli_rules.threshold_for(sli, point.phase, self._tolerated)
        ok = threshold is None or threshold.holds(point.value)
        return {**point_data(point, ok), "source": sli_rules.source_of(sli)}

    def record_load(self, window: LoadWindow) -> LoadRecord:
        """Keep one second of load (a late part of a second is merged into it)."""
        with self._arrived:
            known = self._windows.get(window.second)
            merged = merge_windows([known, window]) if known else window
            self._windows[window.second] = merged
            self._arrived.notify_all()
            phase = self._second_phase(window.second)
            points = [
                self._load_point(sli, window.second, sli.window, phase)
                for sli in self._slis.values()
                if sli.metric is not None and phase is not None
            ]
            tripped = None
            if self._overlaps_fault(window.second):
                tripped = self._load_stops(window.second)
        return LoadRecord(merged, phase, points, tripped)

    def _load_stops(self, second: int) -> Tripped | None:
        for sli in self._slis.values():
            if sli.metric is None:
                continue
            tripped = self._check_stops(
                sli.name, lambda span, s=sli: self._load_point(s, second, span, Phase.INJECT)
            )
            if tripped is not None:
                return tripped
        return None

    def _check_stops(self, sli_name: str, point_over: Any) -> Tripped | None:
        for index, condition in enumerate(self._sli_stops.conditions):
            if condition.sli != sli_name:
                continue
            point = point_over(condition.window)
            if self._sli_stops.observe(index, point) is not None:
                sli = self._slis[sli_name]
                return Tripped(condition, sli_rules.describe_condition(condition, sli), point)
        return None

    def wait_for_load(self, moment: float, timeout: float) -> bool:
        """Wait until the load second that holds ``moment``'s middle has arrived."""
        needed = math.floor(moment - 0.5)
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not self._windows or max(self._windows) < needed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._arrived.wait(remaining)
        return True

    # ------------------------------------------------------------ SLI points

    def _load_point(
        self, sli: SliSpec, second: int, window: float, phase: Phase | None
    ) -> SliPoint:
        assert sli.metric is not None
        span = [
            s
            for s in range(second - max(1, math.ceil(window - 1e-9)) + 1, second + 1)
            if (phase is Phase.INJECT and self._overlaps_fault(s)) or self._second_phase(s) is phase
        ]
        windows = [self._windows[s] for s in span if s in self._windows]
        value = load_metric(windows, sli.metric, seconds=len(span))
        detail = None
        if math.isnan(value):
            detail = "no request completed in the window"
        return SliPoint(sli.name, float(second), phase or Phase.PREFLIGHT, value, 1.0, detail)

    def _prom_point(self, sli: SliSpec, at: float, window: float, phase: Phase) -> SliPoint:
        samples = [
            sample
            for sample_phase, sample in self._prometheus[sli.name]
            if sample_phase is phase and at - window < sample.started_at <= at + 1e-9
        ]
        latest = max(samples, key=lambda s: s.started_at, default=None)
        if latest is None or not latest.ok or latest.value is None:
            detail = latest.error if latest is not None else "no sample"
            return SliPoint(sli.name, at, phase, math.nan, self._interval, detail)
        values = [s.value for s in samples if s.ok and s.value is not None]
        return SliPoint(sli.name, at, phase, sum(values) / len(values), self._interval)

    def _points(self, sli: SliSpec, phase: Phase) -> list[SliPoint]:
        if sli.metric is not None:
            seconds = sorted(s for s in self._windows if self._second_phase(s) is phase)
            return [self._load_point(sli, s, sli.window, phase) for s in seconds]
        return [
            self._prom_point(sli, sample.started_at, sli.window, phase)
            for sample_phase, sample in self._prometheus[sli.name]
            if sample_phase is phase
        ]

    # ------------------------------------------------------------ judging

    def check(self, phase: Phase) -> hyp.PhaseCheck:
        """Judge ``phase`` on what was seen in it; the result is kept for the verdict."""
        with self._lock:
            observations = list(self._observations)
            summaries = tuple(
                sli_rules.judge_sli(
                    self._points(sli, phase),
                    sli=sli,
                    phase=phase,
                    tolerated=self._tolerated,
                )
                for sli in self._slis.values()
            )
        check = hyp.check_phase(
            observations,
            phase=phase,
            probes=self._probes,
            min_pass_ratio=self._min_pass_ratio,
            tolerated=self._tolerated if phase is Phase.INJECT else (),
        )
        reasons = check.reasons + tuple(s.reason for s in summaries if s.reason)
        check = replace(check, holds=not reasons, reasons=reasons, slis=summaries)
        self.checks[phase] = check
        return check

    def recovery(self, *, reverted_at: float) -> hyp.RecoveryCheck:
        with self._lock:
            observations = list(self._observations)
            series = {
                sli.name: [
                    (p.at, sli.threshold.holds(p.value)) for p in self._points(sli, Phase.RECOVERY)
                ]
                for sli in self._slis.values()
            }
        return hyp.check_recovery(
            observations,
            probes=self._probes,
            needed=self._recovery_samples,
            reverted_at=reverted_at,
            slis=series,
        )

    def sampled(self, phase: Phase) -> bool:
        with self._lock:
            if any(observation.phase is phase for observation in self._observations):
                return True
            if any(self._second_phase(s) is phase for s in self._windows):
                return True
            return any(p is phase for samples in self._prometheus.values() for p, _ in samples)

    # ------------------------------------------------------------ explanation

    def explain(self, recovery: hyp.RecoveryCheck | None) -> list[dict[str, Any]]:
        """The verdict table's rows: one per SLI and probe (``chaos.controller.explain``)."""
        return explain.rows(self.snapshot(), recovery=recovery)

    def snapshot(self) -> explain.Snapshot:
        """What explaining the verdict needs, read under the lock."""
        with self._lock:
            values = {sli.name: self._values(sli) for sli in self._slis.values()}
            observations = tuple(self._observations)
        return explain.Snapshot(
            slis=tuple(self._slis.values()),
            probes=tuple(self._probes),
            min_pass_ratio=self._min_pass_ratio,
            tolerated=self._tolerated,
            checks=dict(self.checks),
            values=values,
            observations=observations,
        )

    def _values(self, sli: SliSpec) -> explain.SliValues:
        """Over the whole baseline; over the last ``recoverySamples`` points of recovery."""
        last = self._recovery_samples
        if sli.metric is not None:
            baseline = [s for s in self._windows if self._second_phase(s) is Phase.BASELINE]
            recovery = sorted(s for s in self._windows if self._second_phase(s) is Phase.RECOVERY)
            return explain.SliValues(
                baseline=self._merged(sli.metric, baseline),
                recovery=self._merged(sli.metric, recovery[-last:]),
            )
        samples = [
            s.value
            for p, s in self._prometheus[sli.name]
            if p is Phase.BASELINE and s.ok and s.value is not None
        ]
        points = self._points(sli, Phase.RECOVERY)[-last:]
        in_recovery = [p.value for p in points if not math.isnan(p.value)]
        return explain.SliValues(baseline=_mean(samples), recovery=_mean(in_recovery))

    def _merged(self, metric: LoadMetric, seconds: Sequence[int]) -> float | None:
        windows = [self._windows[s] for s in seconds]
        return finite(load_metric(windows, metric, seconds=len(seconds))) if seconds else None


def _mean(values: Sequence[float]) -> float | None:
    return finite(sum(values) / len(values)) if values else None
